package dev.bnorm.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.kernel.Compare;
import dev.bnorm.kernel.GoldenCases;
import dev.bnorm.kernel.Layout;
import dev.bnorm.nn.AdaptiveAvgPool2d;
import dev.bnorm.nn.BasicBlock;
import dev.bnorm.nn.BatchNorm2d;
import dev.bnorm.nn.Conv2d;
import dev.bnorm.nn.Flatten;
import dev.bnorm.nn.Linear;
import dev.bnorm.nn.MaxPool2d;
import dev.bnorm.nn.Module;
import dev.bnorm.nn.ReLU;
import dev.bnorm.nn.ResNet;
import dev.bnorm.nn.Sequential;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * ConvInferenceModel against PyTorch (the fixture of {@code src/test/python/make_resnet_fixture.py}:
 * a small torchvision-style ResNet trained 3 SGD steps, its state dict and its eval output), against
 * the training modules' eval forward for a Sequential with every supported module, bit-identical
 * results under concurrent callers, and rejections that name the argument with nothing written.
 */
class ConvInferenceModelTest {

    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    static final Path DIR = dir();
    static final GoldenCases.Case FIXTURE = fixture();
    static final int IN = (int) FIXTURE.number("in");
    static final int HW = (int) FIXTURE.number("hw");
    static final int CLASSES = (int) FIXTURE.number("classes");

    static Path dir() {
        try {
            return Path.of(ConvInferenceModelTest.class.getResource("/nn/resnet_trained.safetensors").toURI()).getParent();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static GoldenCases.Case fixture() {
        Map<String, String> values = new HashMap<>();
        try {
            for (String l : Files.readAllLines(DIR.resolve("resnet.txt"))) {
                if (!l.isBlank() && !l.startsWith("#")) {
                    int space = l.indexOf(' ');
                    values.put(l.substring(0, space), l.substring(space + 1).strip());
                }
            }
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return new GoldenCases.Case("resnet.txt", values);
    }

    /** The fixture's architecture (torchvision's keys), as ResNetFixtureTest builds it. */
    static ResNet architecture() {
        return new ResNet(Conv2d.builder(IN, 8, 3).padding(1).build(), BatchNorm2d.builder(8).build(),
                new MaxPool2d(3, 2, 1),
                List.of(new Sequential(BasicBlock.builder(8, 8).build()),
                        new Sequential(BasicBlock.builder(8, 16).stride(2).build())),
                new Linear(16, CLASSES, true, 1));
    }

    /** NCHW images x of c×h×w in {@code layout}. */
    static float[] images(float[] x, int c, int h, int w, Layout layout) {
        if (layout == Layout.NCHW) {
            return x.clone();
        }
        int n = x.length / (c * h * w);
        float[] t = new float[x.length];
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                for (int p = 0; p < h * w; p++) {
                    t[(i * h * w + p) * c + ch] = x[(i * c + ch) * h * w + p];
                }
            }
        }
        return t;
    }

    static ConvInferenceModel trained(Layout layout, int maxBatch) throws Exception {
        try (ResNet architecture = architecture()) {
            return ConvInferenceModel.load(architecture, DIR.resolve("resnet_trained.safetensors"), layout, IN, HW, HW,
                    maxBatch);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Layout.class, names = {"NCHW", "NHWC"})
    void aPyTorchTrainedResNetGivesPyTorchsEvalOutput(Layout layout) throws Exception {
        float[] x = images(FIXTURE.floats("eval.x"), IN, HW, HW, layout);
        int batch = x.length / (IN * HW * HW);
        try (ConvInferenceModel m = trained(layout, batch)) {
            assertEquals(batch * CLASSES, FIXTURE.doubles("eval.out").length);
            float[] got = new float[batch * CLASSES];
            m.predict(x, got);
            // the tolerance of ResNetFixtureTest's folded network (every convolution folded with its BN)
            Compare.assertClose(FIXTURE.doubles("eval.out"), got, 2e-5, "served eval output, " + layout);
            // the folding happened: 6 convolutions (stem, 2 + 2 in the blocks, the downsample), each with the bias of its BN
            assertEquals(6, m.steps().stream().mapToLong(s -> s.split("BN folded", -1).length - 1).sum(),
                    String.join("\n", m.steps()));

            Tensor.Format format = layout == Layout.NCHW ? Tensor.Format.NCHW : Tensor.Format.NHWC;
            long[] shape = layout == Layout.NCHW ? new long[] {batch, IN, HW, HW} : new long[] {batch, HW, HW, IN};
            try (Tensor in = Tensor.of(format, x, shape); Tensor out = Tensor.zeros(Tensor.Format.NC, batch, CLASSES)) {
                m.predict(in, out);
                assertArrayEquals(got, out.toArray(), "Tensor call vs float[] call");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Layout.class, names = {"NCHW", "NHWC"})
    void callsAfterWarmUpAllocateNothing(Layout layout) throws Exception {
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        int batch = 4;
        try (ConvInferenceModel m = trained(layout, batch); Arena arena = Arena.ofConfined()) {
            float[] x = random(new SplittableRandom(5), batch * m.inputSize());
            float[] y = new float[batch * CLASSES];
            MemorySegment in = arena.allocate(4L * x.length);
            MemorySegment out = arena.allocate(4L * y.length);
            MemorySegment.copy(x, 0, in, F, 0, x.length);
            for (int i = 0; i < 10_000; i++) { // warm-up: the JIT compiles the call path
                m.predict(x, y);
                m.predict(in, out, 1 + i % batch);
            }
            int sessions = m.sessionsCreated();
            long tensorBytes = Tensor.allocatedBytes();
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 2_000; i++) {
                m.predict(x, y);
                m.predict(in, out, 1 + i % batch);
            }
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertTrue(allocated < 4_000, "4,000 calls allocated " + allocated + " bytes on the heap, " + layout);
            assertEquals(1, sessions, "one caller needs one session");
            assertEquals(sessions, m.sessionsCreated(), "sessions created after warm-up");
            assertEquals(tensorBytes, Tensor.allocatedBytes());
        }
    }

    @Test
    void aSequentialOfEverySupportedModuleGivesItsEvalForward() {
        for (Layout layout : new Layout[] {Layout.NCHW, Layout.NHWC}) {
            try (Sequential s = new Sequential(Conv2d.builder(2, 6, 3).padding(1).build(), BatchNorm2d.builder(6).build(),
                    new ReLU(), new MaxPool2d(2), BasicBlock.builder(6, 6).seed(3L).build(),
                    BasicBlock.builder(6, 10).stride(2).seed(5L).build(), Conv2d.builder(10, 4, 1).bias(true).build(),
                    new ReLU(), new AdaptiveAvgPool2d(1), new Flatten(), new Linear(4, 7, true, 2), new ReLU(),
                    new Linear(7, 3, true, 4))) {
                randomizeStatistics(s, new SplittableRandom(7));
                s.eval();
                float[] x = random(new SplittableRandom(1), 5 * 2 * 9 * 11);
                float[] xl = images(x, 2, 9, 11, layout);
                double[] expected;
                Tensor.Format format = layout == Layout.NCHW ? Tensor.Format.NCHW : Tensor.Format.NHWC;
                long[] shape = layout == Layout.NCHW ? new long[] {5, 2, 9, 11} : new long[] {5, 9, 11, 2};
                try (Tensor in = Tensor.of(format, xl, shape)) {
                    float[] y = s.forward(in).toArray();
                    expected = new double[y.length];
                    for (int i = 0; i < y.length; i++) {
                        expected[i] = y[i];
                    }
                }
                try (ConvInferenceModel m = ConvInferenceModel.of(s, layout, 2, 9, 11, 5)) {
                    float[] got = new float[5 * 3];
                    m.predict(xl, got);
                    // folding changes only roundings (as in ResNetFixtureTest's folded network)
                    Compare.assertClose(expected, got, 2e-5, "served vs module eval, " + layout);
                    assertEquals(6, m.steps().stream().mapToLong(t -> t.split("BN folded", -1).length - 1).sum());
                }
            }
        }
    }

    @Test
    void flatteningAnNchwImageFeedsALinearAsPyTorchDoesAndNhwcIsRefused() {
        try (Sequential s = new Sequential(Conv2d.builder(2, 3, 3).build(), BatchNorm2d.builder(3).relu(true).build(),
                new Flatten(), new Linear(3 * 5 * 7, 4, true, 8))) {
            randomizeStatistics(s, new SplittableRandom(9));
            s.eval();
            float[] x = random(new SplittableRandom(2), 3 * 2 * 7 * 9);
            double[] expected;
            try (Tensor in = Tensor.of(Tensor.Format.NCHW, x, 3, 2, 7, 9)) {
                float[] y = s.forward(in).toArray();
                expected = new double[y.length];
                for (int i = 0; i < y.length; i++) {
                    expected[i] = y[i];
                }
            }
            try (ConvInferenceModel m = ConvInferenceModel.of(s, Layout.NCHW, 2, 7, 9, 3)) {
                float[] got = new float[3 * 4];
                m.predict(x, got);
                Compare.assertClose(expected, got, 2e-5, "served vs module eval");
            }
            assertTrue(assertThrows(IllegalArgumentException.class, () -> ConvInferenceModel.of(s, Layout.NHWC, 2, 7, 9, 3))
                    .getMessage().contains("flattens NHWC images of 5x7 pixels"));
        }
    }

    @Test
    void aStateDictThatDoesNotFitTheArchitectureIsRefused() {
        try (ResNet wrong = new ResNet(Conv2d.builder(IN, 4, 3).padding(1).build(), BatchNorm2d.builder(4).build(), null,
                List.of(new Sequential(BasicBlock.builder(4, 4).build())), new Linear(4, CLASSES, true, 1))) {
            assertThrows(dev.bnorm.nn.SafetensorsException.class, () -> ConvInferenceModel.load(wrong,
                    DIR.resolve("resnet_trained.safetensors"), Layout.NCHW, IN, HW, HW, 1));
        }
    }

    /** Random gamma, beta and running statistics for every BatchNorm2d (weights stay as initialized). */
    static void randomizeStatistics(Module m, SplittableRandom r) {
        for (Map.Entry<String, Tensor> e : m.stateDict().entrySet()) {
            String k = e.getKey();
            MemorySegment seg = e.getValue().segment();
            long n = e.getValue().size();
            boolean bn = k.endsWith("running_mean") || k.endsWith("running_var")
                    || (m.stateDict().containsKey(k.replaceAll("(weight|bias)$", "running_mean"))
                        && (k.endsWith("weight") || k.endsWith("bias")));
            if (!bn) {
                continue;
            }
            for (long i = 0; i < n; i++) {
                double v = k.endsWith("running_var") ? r.nextDouble(0.2, 3) : k.endsWith("weight")
                        ? r.nextDouble(0.5, 1.5) : r.nextDouble(-0.5, 0.5);
                seg.setAtIndex(F, i, (float) v);
            }
        }
    }

    static float[] random(SplittableRandom r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextDouble(-2, 2);
        }
        return x;
    }

    @Test
    void concurrentCallersGetExactlyTheSingleThreadedResults() throws Exception {
        int size = IN * HW * HW;
        try (ConvInferenceModel m = trained(Layout.NHWC, 8)) {
            SplittableRandom r = new SplittableRandom(11);
            List<float[]> inputs = new ArrayList<>();
            List<float[]> expected = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                float[] x = random(r, (1 + r.nextInt(8)) * size);
                float[] y = new float[x.length / size * CLASSES];
                m.predict(x, y);
                inputs.add(x);
                expected.add(y);
            }
            List<Future<Integer>> results = new ArrayList<>();
            try (ExecutorService virtual = Executors.newVirtualThreadPerTaskExecutor();
                 ExecutorService platform = Executors.newFixedThreadPool(6)) {
                for (int t = 0; t < 12; t++) {
                    ExecutorService pool = t % 2 == 0 ? virtual : platform;
                    int offset = t;
                    results.add(pool.submit(() -> {
                        int mismatches = 0;
                        try (Arena arena = Arena.ofConfined()) {
                            for (int k = 0; k < inputs.size(); k++) {
                                int i = (k + offset) % inputs.size();
                                float[] x = inputs.get(i);
                                int batch = x.length / size;
                                float[] y = new float[batch * CLASSES];
                                if (k % 2 == 0) {
                                    m.predict(x, y);
                                } else {
                                    MemorySegment in = arena.allocateFrom(F, x);
                                    MemorySegment out = arena.allocate(4L * y.length, 64);
                                    m.predict(in, out, batch);
                                    y = out.toArray(F);
                                }
                                if (!java.util.Arrays.equals(y, expected.get(i))) {
                                    mismatches++;
                                }
                            }
                        }
                        return mismatches;
                    }));
                }
                for (Future<Integer> f : results) {
                    assertEquals(0, f.get(), "requests whose result differs from the single-threaded one");
                }
            }
        }
    }

    @Test
    void anImagesResultDoesNotDependOnItsBatch() throws Exception {
        int size = IN * HW * HW;
        try (ConvInferenceModel m = trained(Layout.NCHW, 6)) {
            float[] x = random(new SplittableRandom(3), 6 * size);
            float[] all = new float[6 * CLASSES];
            m.predict(x, all);
            for (int i = 0; i < 6; i++) {
                float[] one = new float[CLASSES];
                m.predict(java.util.Arrays.copyOfRange(x, i * size, (i + 1) * size), one);
                assertArrayEquals(java.util.Arrays.copyOfRange(all, i * CLASSES, (i + 1) * CLASSES), one, "image " + i);
            }
        }
    }

    @Test
    void badInputsAreRejectedNamingTheArgumentWithNothingWritten() throws Exception {
        int size = IN * HW * HW;
        try (ConvInferenceModel m = trained(Layout.NCHW, 4)) {
            float[] out = new float[8 * CLASSES];
            java.util.Arrays.fill(out, -7f);
            expect("in: expected a positive multiple of " + size + " floats (images of (C, H, W) = (" + IN + ", " + HW
                    + ", " + HW + ")), got " + (size + 1), () -> m.predict(new float[size + 1], out));
            expect("batch: expected 1 to 4 images (maxBatch), got 5", () -> m.predict(new float[5 * size], out));
            expect("out: expected at least " + 2 * CLASSES, () -> m.predict(new float[2 * size], new float[CLASSES]));
            try (Tensor nhwc = Tensor.zeros(Tensor.Format.NHWC, 2, HW, HW, IN);
                 Tensor small = Tensor.zeros(Tensor.Format.NCHW, 2, IN, HW - 1, HW);
                 Tensor y = Tensor.zeros(Tensor.Format.NC, 2, CLASSES)) {
                expect("in: expected an NCHW tensor of images of (C, H, W)", () -> m.predict(nhwc, y));
                expect("in: expected an NCHW tensor of images of (C, H, W)", () -> m.predict(small, y));
                assertTrue(java.util.Arrays.equals(new float[2 * CLASSES], y.toArray()), "out written");
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment in = arena.allocate(4L * 5 * size, 64);
                MemorySegment o = arena.allocate(4L * 5 * CLASSES, 64);
                expect("batch: expected 1 to 4 images (maxBatch), got 5", () -> m.predict(in, o, 5));
                expect("in: expected at least", () -> m.predict(in.asSlice(0, 4L * size), o, 2));
            }
            for (float v : out) {
                assertEquals(-7f, v, "out written by a rejected call");
            }
        }
    }

    static void expect(String start, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertTrue(e.getMessage().startsWith(start), () -> "expected a message starting with \"" + start + "\", got \""
                + e.getMessage() + "\"");
    }

    @Test
    void unsupportedModelsAreRefusedAtConstruction() {
        try (Sequential bnFirst = new Sequential(BatchNorm2d.builder(2).build(), Conv2d.builder(2, 3, 3).build(),
                new AdaptiveAvgPool2d(1));
             Sequential linearOnImage = new Sequential(Conv2d.builder(2, 3, 3).build(), new Linear(3, 2, true, 0));
             Sequential wrongChannels = new Sequential(Conv2d.builder(3, 3, 3).build(), new AdaptiveAvgPool2d(1))) {
            assertTrue(assertThrows(IllegalArgumentException.class,
                    () -> ConvInferenceModel.of(bnFirst, Layout.NCHW, 2, 5, 5, 1)).getMessage().contains("does not follow a Conv2d"));
            assertTrue(assertThrows(IllegalArgumentException.class,
                    () -> ConvInferenceModel.of(linearOnImage, Layout.NCHW, 2, 5, 5, 1)).getMessage().contains("expected 1x1"));
            assertTrue(assertThrows(IllegalArgumentException.class,
                    () -> ConvInferenceModel.of(wrongChannels, Layout.NCHW, 2, 5, 5, 1)).getMessage().contains("expects 3 channels"));
            expect("layout: expected NCHW or NHWC, got NC", () -> ConvInferenceModel.of(wrongChannels, Layout.NC, 3, 5, 5, 1));
            expect("maxBatch: expected at least 1, got 0", () -> ConvInferenceModel.of(wrongChannels, Layout.NCHW, 3, 5, 5, 0));
            expect("channels*height*width: expected at most", () -> ConvInferenceModel.of(wrongChannels, Layout.NCHW, 3,
                    1 << 15, 1 << 15, 1));
            expect("model: expected a ResNet or Sequential, got null", () -> ConvInferenceModel.of(null, Layout.NCHW, 3, 5, 5, 1));
        }
    }

    @Test
    void theSourceModelMayBeClosedAfterConstruction() throws Exception {
        float[] x = FIXTURE.floats("eval.x");
        int batch = x.length / (IN * HW * HW);
        float[] before = new float[batch * CLASSES];
        ConvInferenceModel m;
        try (ResNet architecture = architecture()) {
            dev.bnorm.nn.StateDicts.load(architecture, DIR.resolve("resnet_trained.safetensors"));
            m = ConvInferenceModel.of(architecture, Layout.NCHW, IN, HW, HW, batch);
            m.predict(x, before);
        }
        try (m) {
            float[] after = new float[batch * CLASSES];
            m.predict(x, after);
            assertArrayEquals(before, after);
            Compare.assertClose(FIXTURE.doubles("eval.out"), after, 2e-5, "after closing the source");
        }
        assertThrows(IllegalStateException.class, () -> m.predict(x, new float[batch * CLASSES]));
    }
}
