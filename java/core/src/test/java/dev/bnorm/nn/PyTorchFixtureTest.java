package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Compare;
import dev.bnorm.kernel.GoldenCases;
import dev.bnorm.kernel.Kernels;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Against PyTorch (fixture written by {@code src/test/python/make_state_dict.py}): the MLP
 * Linear(6, 8, bias=False) -> BatchNorm1d(8) -> ReLU -> Linear(8, 3), its state dicts as
 * safetensors before and after 4 SGD steps, the training batches, PyTorch's losses and its eval
 * output after training.
 */
class PyTorchFixtureTest {

    static final GoldenCases.Case FIXTURE = Fixtures.text("mlp.txt");
    static final int IN = (int) FIXTURE.number("in");
    static final int HIDDEN = (int) FIXTURE.number("hidden");
    static final int OUT = (int) FIXTURE.number("out");

    static Path resource(String name) {
        try {
            return Path.of(PyTorchFixtureTest.class.getResource("/nn/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void evalOutputOfPyTorchsTrainedModel(String kernels) throws IOException {
        try (Sequential model = Fixtures.mlp(Kernels.named(kernels), 99, IN, HIDDEN, OUT)) {
            StateDicts.load(model, resource("mlp_trained.safetensors"));
            assertEquals(FIXTURE.number("steps"), model.counters().get("1.num_batches_tracked").get());
            model.eval();
            float[] x = FIXTURE.floats("eval.x");
            try (Tensor inp = Tensor.of(Format.NC, x, x.length / IN, IN)) {
                Compare.assertClose(FIXTURE.doubles("eval.out"), model.forward(inp).toArray(), 1e-5, "eval output");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void trainingLikePyTorchGivesItsLossesAndState(String kernels) throws IOException {
        try (Sequential model = Fixtures.mlp(Kernels.named(kernels), 99, IN, HIDDEN, OUT);
             Sequential expected = Fixtures.mlp(Kernels.named(kernels), 98, IN, HIDDEN, OUT);
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy()) {
            StateDicts.load(model, resource("mlp_init.safetensors"));
            StateDicts.load(expected, resource("mlp_trained.safetensors"));
            try (SGD sgd = new SGD(model.parameters(), Double.parseDouble(FIXTURE.text("lr")),
                    Double.parseDouble(FIXTURE.text("momentum")), Double.parseDouble(FIXTURE.text("weight_decay")))) {
                for (int k = 1; k <= FIXTURE.number("steps"); k++) {
                    float[] x = FIXTURE.floats("step" + k + ".x");
                    try (Tensor inp = Tensor.of(Format.NC, x, x.length / IN, IN)) {
                        float value = TrainingTest.step(model, loss, sgd, inp, Fixtures.ints(FIXTURE, "step" + k + ".labels"));
                        assertEquals(FIXTURE.doubles("step" + k + ".loss")[0], value, 1e-5, "loss of step " + k);
                    }
                }
            }
            for (Map.Entry<String, Tensor> e : expected.stateDict().entrySet()) {
                Compare.assertClose(Buffers.toDouble(e.getValue().toArray()), model.stateDict().get(e.getKey()).toArray(),
                        1e-5, "state " + e.getKey() + " after training");
            }
            assertEquals(FIXTURE.number("steps"), model.counters().get("1.num_batches_tracked").get());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"mlp_init.safetensors", "mlp_trained.safetensors"})
    void savingWhatWasLoadedGivesPyTorchsFileByteForByte(String name, @TempDir Path dir) throws IOException {
        try (Sequential model = Fixtures.mlp(Kernels.best(), 97, IN, HIDDEN, OUT)) {
            StateDicts.load(model, resource(name));
            Path saved = dir.resolve(name);
            StateDicts.save(model, saved);
            assertArrayEquals(Files.readAllBytes(resource(name)), Files.readAllBytes(saved));
        }
    }
}
