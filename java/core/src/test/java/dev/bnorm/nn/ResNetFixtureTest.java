package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Compare;
import dev.bnorm.kernel.ConvKernels;
import dev.bnorm.kernel.GoldenCases;
import dev.bnorm.kernel.Im2colConv;
import dev.bnorm.kernel.JavaConv;
import dev.bnorm.kernel.JavaLinear;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.kernel.NativeLinear;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Against PyTorch (fixture written by {@code src/test/python/make_resnet_fixture.py}): a small
 * ResNet with torchvision's structure and keys (conv1, bn1, maxpool, a BasicBlock, a BasicBlock
 * with downsample, global average pool, fc), its state dicts before and after 3 SGD steps, the
 * training batches, PyTorch's losses and its eval output after training; the inputs are NCHW and
 * are transposed here for the NHWC runs.
 */
class ResNetFixtureTest {

    static final GoldenCases.Case FIXTURE = Fixtures.text("resnet.txt");
    static final int IN = (int) FIXTURE.number("in");
    static final int HW = (int) FIXTURE.number("hw");
    static final int CLASSES = (int) FIXTURE.number("classes");

    static ConvKernels conv(String name) {
        return switch (name) {
            case "native" -> new Im2colConv(NativeLinear.get());
            case "im2col+java" -> new Im2colConv(JavaLinear.INSTANCE);
            case "java" -> JavaConv.INSTANCE;
            default -> throw new IllegalArgumentException(name);
        };
    }

    /** The fixture's network with the given convolution and BN kernels. */
    static ResNet model(ConvKernels conv, String bn) {
        return new ResNet(Conv2d.builder(IN, 8, 3).padding(1).kernels(conv).build(),
                BatchNorm2d.builder(8).kernels(Kernels.named(bn)).build(), new MaxPool2d(3, 2, 1),
                List.of(new Sequential(BasicBlock.builder(8, 8).kernels(conv).batchNormKernels(Kernels.named(bn)).build()),
                        new Sequential(BasicBlock.builder(8, 16).stride(2).kernels(conv).batchNormKernels(Kernels.named(bn))
                                .build())),
                new Linear(16, CLASSES, true, 1));
    }

    /** The fixture's NCHW images x, as a tensor of {@code format}. */
    static Tensor images(float[] x, Format format) {
        int n = x.length / (IN * HW * HW);
        if (format == Format.NCHW) {
            return Tensor.of(Format.NCHW, x, n, IN, HW, HW);
        }
        float[] t = new float[x.length];
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < IN; c++) {
                for (int p = 0; p < HW * HW; p++) {
                    t[(i * HW * HW + p) * IN + c] = x[(i * IN + c) * HW * HW + p];
                }
            }
        }
        return Tensor.of(Format.NHWC, t, n, HW, HW, IN);
    }

    @ParameterizedTest
    @CsvSource({"native, native, NCHW", "native, native, NHWC", "java, java, NCHW", "java, java, NHWC",
                "im2col+java, native, NHWC"})
    void evalOutputOfPyTorchsTrainedNetwork(String conv, String bn, Format format) throws IOException {
        try (ResNet model = model(conv(conv), bn)) {
            StateDicts.load(model, PyTorchFixtureTest.resource("resnet_trained.safetensors"));
            assertEquals(FIXTURE.number("steps"), model.counters().get("layer2.0.downsample.1.num_batches_tracked").get());
            model.eval();
            try (Tensor inp = images(FIXTURE.floats("eval.x"), format)) {
                Compare.assertClose(FIXTURE.doubles("eval.out"), model.forward(inp).toArray(), 1e-5, "eval output");
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"native, native, NCHW", "native, native, NHWC", "java, java, NCHW"})
    void trainingFromPyTorchsInitialStateGivesItsLossesAndState(String conv, String bn, Format format)
            throws IOException {
        try (ResNet model = model(conv(conv), bn);
             ResNet expected = model(conv(conv), bn);
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy()) {
            StateDicts.load(model, PyTorchFixtureTest.resource("resnet_init.safetensors"));
            StateDicts.load(expected, PyTorchFixtureTest.resource("resnet_trained.safetensors"));
            try (SGD sgd = new SGD(model.parameters(), Double.parseDouble(FIXTURE.text("lr")),
                    Double.parseDouble(FIXTURE.text("momentum")), Double.parseDouble(FIXTURE.text("weight_decay")))) {
                for (int k = 1; k <= FIXTURE.number("steps"); k++) {
                    try (Tensor inp = images(FIXTURE.floats("step" + k + ".x"), format)) {
                        float value = TrainingTest.step(model, loss, sgd, inp, Fixtures.ints(FIXTURE, "step" + k + ".labels"));
                        assertEquals(FIXTURE.doubles("step" + k + ".loss")[0], value, 1e-5, "loss of step " + k);
                    }
                }
            }
            for (Map.Entry<String, Tensor> e : expected.stateDict().entrySet()) {
                Compare.assertClose(Buffers.toDouble(e.getValue().toArray()), model.stateDict().get(e.getKey()).toArray(),
                        1e-4, "state " + e.getKey() + " after training");
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"native, NCHW", "native, NHWC", "java, NHWC"})
    void foldingEveryConvolutionWithItsBatchNormGivesPyTorchsEvalOutput(String conv, Format format)
            throws IOException {
        ConvKernels kernels = conv(conv);
        try (ResNet trained = model(kernels, "native");
             ResNet folded = new ResNet(Conv2d.builder(IN, 8, 3).padding(1).bias(true).kernels(kernels).build(), null,
                     new MaxPool2d(3, 2, 1),
                     List.of(new Sequential(BasicBlock.builder(8, 8).batchNorm(false).kernels(kernels).build()),
                             new Sequential(BasicBlock.builder(8, 16).stride(2).batchNorm(false).kernels(kernels).build())),
                     new Linear(16, CLASSES, true, 1))) {
            StateDicts.load(trained, PyTorchFixtureTest.resource("resnet_trained.safetensors"));
            Map<String, Tensor> state = new LinkedHashMap<>();
            List<Conv2d> made = new java.util.ArrayList<>();
            java.util.function.BiConsumer<String, Module[]> fold = (key, pair) -> {
                Conv2d f = Folding.fold((Conv2d) pair[0], (BatchNorm2d) pair[1]);
                made.add(f);
                state.put(key + ".weight", f.weight().value());
                state.put(key + ".bias", f.bias().value());
            };
            fold.accept("conv1", new Module[] {trained.conv1(), trained.bn1()});
            for (int l = 0; l < 2; l++) {
                BasicBlock b = (BasicBlock) trained.layers().get(l).get(0);
                String prefix = "layer" + (l + 1) + ".0.";
                fold.accept(prefix + "conv1", new Module[] {b.conv1(), b.bn1()});
                fold.accept(prefix + "conv2", new Module[] {b.conv2(), b.bn2()});
                if (b.downsample() != null) {
                    fold.accept(prefix + "downsample.0", new Module[] {b.downsample().get(0), b.downsample().get(1)});
                }
            }
            state.put("fc.weight", trained.stateDict().get("fc.weight"));
            state.put("fc.bias", trained.stateDict().get("fc.bias"));
            folded.loadStateDict(state);
            made.forEach(Conv2d::close);
            folded.eval();
            try (Tensor inp = images(FIXTURE.floats("eval.x"), format)) {
                Compare.assertClose(FIXTURE.doubles("eval.out"), folded.forward(inp).toArray(), 2e-5, "folded eval output");
            }
        }
    }
}
