package dev.bnorm.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.nn.BatchNorm1d;
import dev.bnorm.nn.Flatten;
import dev.bnorm.nn.Linear;
import dev.bnorm.nn.Module;
import dev.bnorm.nn.ReLU;
import dev.bnorm.nn.Sequential;
import dev.bnorm.nn.Sigmoid;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
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
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * InferenceModel: folding is exact up to a rounding bound derived from the math, PyTorch's eval
 * output from its own state dict, bit-identical results under 64 virtual + 8 platform threads,
 * rejections with nothing written, and no allocation after warm-up.
 *
 * <p>The bound ({@link Bound}): both the folded and the unfolded model are within e of the exact
 * (real-number) evaluation, where e is propagated layer by layer (to first order in u = 2⁻²⁴) with
 * the magnitude m of each value: the sum of the absolute values of the terms of the float sum that
 * computes it, folded or not:
 * <pre>
 *   Linear (K inputs):  m' = Σ|W|·m + |b|,            e' = Σ|W|·e + 2(K+2)·u·m'   (a float sum of K terms)
 *   BatchNorm1d:        m' = |s|·(m + |mean|) + |β|,  e' = |s|·e + 8u·m'          (a few roundings, incl. folding)
 *   ReLU:               m' = |v'|, e' = e;   Sigmoid: m' = |v'|, e' = e/4 + 2u     (1/4-Lipschitz)
 * </pre>
 * A BatchNorm folded into the next or previous Linear adds its terms (s·W·x, s·b, t, W·t) to that
 * Linear's sum, whose magnitude is then at most the m' above; folding rounds each W' and b' once,
 * a relative u of terms already counted. So |folded − unfolded| ≤ 2e.
 */
class InferenceModelTest {

    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    static final double U = Math.ulp(1.0f) / 2;

    /** The BN MLP of the issue: Linear(bias=false) → BN → act per hidden layer, then Linear. */
    static Sequential mlp(long seed, boolean sigmoid, int... widths) {
        List<Module> m = new ArrayList<>();
        for (int i = 0; i + 2 < widths.length; i++) {
            m.add(new Linear(widths[i], widths[i + 1], false, seed + i));
            m.add(BatchNorm1d.builder(widths[i + 1]).build());
            m.add(sigmoid ? new Sigmoid() : new ReLU());
        }
        m.add(new Linear(widths[widths.length - 2], widths[widths.length - 1], true, seed + 99));
        Sequential s = new Sequential(m.toArray(Module[]::new));
        randomizeStatistics(s, seed);
        return s;
    }

    /** Every folding case: BN first, BN after an activation before a Linear, BN last after an activation, Flatten. */
    static Sequential allCases(long seed) {
        Sequential s = new Sequential(new Flatten(), BatchNorm1d.builder(10).build(), new Linear(10, 20, false, seed),
                BatchNorm1d.builder(20).build(), new ReLU(), new Linear(20, 15, true, seed + 1), new Sigmoid(),
                BatchNorm1d.builder(15).build(), new Linear(15, 6, true, seed + 2), new ReLU(),
                BatchNorm1d.builder(6).build());
        randomizeStatistics(s, seed);
        return s;
    }

    /** Random gamma and beta, then running statistics from 30 training-mode passes (as after training). */
    static void randomizeStatistics(Sequential s, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int in = -1;
        for (int i = 0; i < s.size(); i++) {
            if (s.get(i) instanceof BatchNorm1d bn) {
                in = in < 0 ? bn.numFeatures() : in;
                for (long c = 0; c < bn.numFeatures(); c++) {
                    bn.weight().value().segment().setAtIndex(F, c, (float) r.nextDouble(0.5, 1.5));
                    bn.bias().value().segment().setAtIndex(F, c, (float) r.nextDouble(-0.5, 0.5));
                }
            } else if (s.get(i) instanceof Linear l) {
                in = in < 0 ? l.in() : in;
            }
        }
        s.train();
        try (Tensor x = Tensor.zeros(Tensor.Format.NC, 64, in)) {
            for (int pass = 0; pass < 30; pass++) {
                for (long k = 0; k < 64L * in; k++) {
                    x.segment().setAtIndex(F, k, (float) (2 * r.nextGaussian() + 1));
                }
                s.forward(x);
            }
        }
        s.eval();
    }

    static float[] random(SplittableRandom r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** The unfolded model in eval mode through the Module API. */
    static float[] evalForward(Sequential model, float[] x, int batch) {
        model.eval();
        int in = x.length / batch;
        try (Tensor t = Tensor.zeros(Tensor.Format.NC, batch, in)) {
            MemorySegment.copy(x, 0, t.segment(), F, 0, x.length);
            return model.forward(t).segment().toArray(F);
        }
    }

    /** Exact evaluation in double with its rounding bound e (see the class comment). */
    record Bound(double[] value, double[] e) {
        static Bound of(Sequential model, float[] x, int batch) {
            int width = x.length / batch;
            double[] v = new double[x.length];
            double[] m = new double[x.length];
            double[] e = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                v[i] = x[i];
                m[i] = Math.abs(x[i]);
            }
            for (int k = 0; k < model.size(); k++) {
                Module mod = model.get(k);
                if (mod instanceof Linear l) {
                    int in = l.in(), out = l.out();
                    MemorySegment w = l.weight().value().segment();
                    MemorySegment b = l.bias() == null ? null : l.bias().value().segment();
                    double[] v2 = new double[batch * out], m2 = new double[batch * out], e2 = new double[batch * out];
                    for (int n = 0; n < batch; n++) {
                        for (int o = 0; o < out; o++) {
                            double s = b == null ? 0 : b.getAtIndex(F, o), mm = Math.abs(s), ee = 0;
                            for (int i = 0; i < in; i++) {
                                double wi = w.getAtIndex(F, (long) o * in + i);
                                s += wi * v[n * in + i];
                                mm += Math.abs(wi) * m[n * in + i];
                                ee += Math.abs(wi) * e[n * in + i];
                            }
                            v2[n * out + o] = s;
                            m2[n * out + o] = mm;
                            e2[n * out + o] = ee + 2 * (in + 2) * U * mm;
                        }
                    }
                    v = v2;
                    m = m2;
                    e = e2;
                    width = out;
                } else if (mod instanceof BatchNorm1d bn) {
                    for (int i = 0; i < v.length; i++) {
                        int c = i % width;
                        double mean = bn.runningMean().segment().getAtIndex(F, c);
                        double s = bn.weight().value().segment().getAtIndex(F, c)
                                / Math.sqrt(bn.runningVar().segment().getAtIndex(F, c) + bn.eps());
                        double beta = bn.bias().value().segment().getAtIndex(F, c);
                        v[i] = s * (v[i] - mean) + beta;
                        m[i] = Math.abs(s) * (m[i] + Math.abs(mean)) + Math.abs(beta);
                        e[i] = Math.abs(s) * e[i] + 8 * U * m[i];
                    }
                } else if (mod instanceof ReLU) {
                    for (int i = 0; i < v.length; i++) {
                        v[i] = Math.max(v[i], 0);
                        m[i] = v[i];
                    }
                } else if (mod instanceof Sigmoid) {
                    for (int i = 0; i < v.length; i++) {
                        v[i] = 1 / (1 + Math.exp(-v[i]));
                        m[i] = v[i];
                        e[i] = e[i] / 4 + 2 * U;
                    }
                }
            }
            return new Bound(v, e);
        }
    }

    static void assertWithin(float[] got, float[] other, Bound b, double factor, String what) {
        assertEquals(b.value().length, got.length, what);
        for (int i = 0; i < got.length; i++) {
            double d = Math.abs((double) got[i] - other[i]);
            assertTrue(d <= factor * b.e()[i], what + " [" + i + "]: " + got[i] + " vs " + other[i] + ", difference " + d
                    + " > " + factor + " x bound " + b.e()[i]);
        }
    }

    @Test
    void linearBatchNormReluIsOneNativeCallPerLayer() {
        try (Sequential model = mlp(1, false, 64, 100, 100, 100, 10);
             InferenceModel m = InferenceModel.of(model, 8)) {
            List<String> steps = m.steps();
            assertEquals(4, steps.size(), steps.toString());
            assertTrue(steps.get(0).startsWith("Linear(64 -> 100, bias=true, RELU) from 0:"), steps.toString());
            assertTrue(steps.get(3).startsWith("Linear(100 -> 10, bias=true, NONE)"), steps.toString());
            assertEquals(64, m.inputWidth());
            assertEquals(10, m.outputWidth());
        }
    }

    @Test
    void foldedEqualsTheUnfoldedEvalModelWithinTheDerivedBound() {
        Map<String, Supplier<Sequential>> models = new HashMap<>();
        models.put("relu mlp", () -> mlp(2, false, 64, 100, 100, 100, 10));
        models.put("sigmoid mlp", () -> mlp(3, true, 64, 100, 100, 100, 10));
        models.put("every folding case", () -> allCases(4));
        SplittableRandom r = new SplittableRandom(9);
        for (var e : models.entrySet()) {
            try (Sequential model = e.getValue().get(); InferenceModel m = InferenceModel.of(model, 32)) {
                int batch = 13;
                float[] x = random(r, batch * m.inputWidth());
                float[] folded = new float[batch * m.outputWidth()];
                m.predict(x, folded);
                float[] unfolded = evalForward(model, x, batch);
                Bound b = Bound.of(model, x, batch);
                assertWithin(folded, unfolded, b, 2, e.getKey() + " folded vs unfolded");
                // the bound is tight enough to see a fold whose last BatchNorm's beta is off by 0.1
                BatchNorm1d last = null;
                for (int i = 0; i < model.size(); i++) {
                    if (model.get(i) instanceof BatchNorm1d bn) last = bn;
                }
                MemorySegment beta = last.bias().value().segment();
                for (long c = 0; c < last.numFeatures(); c++) {
                    beta.setAtIndex(F, c, beta.getAtIndex(F, c) + 0.1f);
                }
                float[] changed = evalForward(model, x, batch);
                boolean seen = false;
                for (int i = 0; i < folded.length; i++) {
                    seen |= Math.abs((double) folded[i] - changed[i]) > 2 * b.e()[i];
                }
                assertTrue(seen, e.getKey() + ": betas off by 0.1 stay within the bound");
            }
        }
        try (Sequential model = allCases(5); InferenceModel m = InferenceModel.of(model, 4)) {
            assertEquals(List.of("Linear(10 -> 20, bias=true, RELU)", "Linear(20 -> 15, bias=true, SIGMOID)",
                            "Linear(15 -> 6, bias=true, RELU)", "ScaleShift(6)"),
                    m.steps().stream().map(s -> s.substring(0, s.indexOf(s.startsWith("Scale") ? " in" : " from"))).toList());
        }
    }

    @Test
    void aPyTorchStateDictGivesPyTorchsEvalOutput() throws Exception {
        Path dir = Path.of(InferenceModelTest.class.getResource("/nn/serve.safetensors").toURI()).getParent();
        Map<String, float[]> fixture = new HashMap<>();
        for (String line : Files.readAllLines(dir.resolve("serve.txt"))) {
            if (line.startsWith("#") || line.isBlank()) continue;
            String[] p = line.trim().split(" ");
            float[] v = new float[p.length - 1];
            for (int i = 1; i < p.length; i++) v[i - 1] = (float) Double.parseDouble(p[i]);
            fixture.put(p[0], v);
        }
        Sequential architecture = new Sequential(BatchNorm1d.builder(8).build(), new Linear(8, 16, false, 0),
                BatchNorm1d.builder(16).build(), new ReLU(), new Linear(16, 12, true, 0), new Sigmoid(),
                BatchNorm1d.builder(12).build(), new Linear(12, 5, true, 0), new ReLU(), BatchNorm1d.builder(5).build());
        try (architecture; InferenceModel m = InferenceModel.load(architecture, dir.resolve("serve.safetensors"), 16)) {
            float[] x = fixture.get("eval.x");
            float[] expected = fixture.get("eval.out");
            int batch = x.length / 8;
            float[] got = new float[batch * 5];
            m.predict(x, got);
            assertWithin(got, expected, Bound.of(architecture, x, batch), 2, "bnorm vs PyTorch");
        }
    }

    /** Requests of random batch sizes; what one thread computes for each. */
    record Request(float[] x, float[] expected) {}

    @Test
    void virtualAndPlatformThreadsGetExactlyTheSingleThreadedResults() throws Exception {
        try (Sequential model = mlp(6, false, 64, 100, 100, 100, 10);
             InferenceModel m = InferenceModel.of(model, 64)) {
            SplittableRandom r = new SplittableRandom(10);
            List<Request> requests = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                int batch = 1 + r.nextInt(64);
                float[] x = random(r, batch * 64);
                float[] y = new float[batch * 10];
                m.predict(x, y);
                requests.add(new Request(x, y));
            }
            List<Future<Integer>> results = new ArrayList<>();
            try (ExecutorService virtual = Executors.newVirtualThreadPerTaskExecutor();
                 ExecutorService platform = Executors.newFixedThreadPool(8)) {
                for (int t = 0; t < 72; t++) {
                    ExecutorService pool = t < 64 ? virtual : platform;
                    long seed = t;
                    results.add(pool.submit(() -> {
                        SplittableRandom local = new SplittableRandom(seed);
                        int mismatches = 0;
                        try (Arena arena = Arena.ofConfined()) {
                            MemorySegment in = arena.allocate(4L * 64 * 64);
                            MemorySegment out = arena.allocate(4L * 64 * 10);
                            for (int k = 0; k < 200; k++) {
                                Request q = requests.get(local.nextInt(requests.size()));
                                float[] y = new float[q.expected().length];
                                if (k % 2 == 0) {
                                    m.predict(q.x(), y);
                                } else {
                                    MemorySegment.copy(q.x(), 0, in, F, 0, q.x().length);
                                    m.predict(in, out, q.x().length / 64);
                                    MemorySegment.copy(out, F, 0, y, 0, y.length);
                                }
                                if (!java.util.Arrays.equals(q.expected(), y)) mismatches++;
                            }
                        }
                        return mismatches;
                    }));
                }
                for (Future<Integer> f : results) {
                    assertEquals(0, f.get(), "calls whose result differs from the single-threaded one");
                }
            }
        }
    }

    @Test
    void aRowsResultDoesNotDependOnItsBatch() {
        try (Sequential model = mlp(7, true, 64, 100, 100, 100, 10); InferenceModel m = InferenceModel.of(model, 17)) {
            float[] x = random(new SplittableRandom(11), 17 * 64);
            float[] all = new float[17 * 10];
            m.predict(x, all);
            for (int row = 0; row < 17; row++) {
                float[] one = new float[10];
                m.predict(java.util.Arrays.copyOfRange(x, row * 64, row * 64 + 64), one);
                assertArrayEquals(java.util.Arrays.copyOfRange(all, row * 10, row * 10 + 10), one, "row " + row);
            }
        }
    }

    @Test
    void badInputsAreRejectedBeforeAnyNativeCallWithNothingWritten() {
        try (Sequential model = mlp(8, false, 64, 100, 10); InferenceModel m = InferenceModel.of(model, 8);
             Arena arena = Arena.ofConfined()) {
            float[] out = new float[100];
            java.util.Arrays.fill(out, -7f);
            MemorySegment seg = arena.allocate(4 * 1024);
            seg.fill((byte) 0x55);
            MemorySegment segOut = arena.allocate(4 * 1024);
            segOut.fill((byte) 0x33);
            byte[] before = segOut.toArray(ValueLayout.JAVA_BYTE);
            expect("in: expected a positive multiple of 64 floats (rows of the input width), got 100",
                    () -> m.predict(new float[100], out));
            expect("batch: expected 1 to 8 rows (maxBatch), got 9", () -> m.predict(new float[9 * 64], out));
            expect("out: expected at least 20 floats (2 rows of 10), got 19",
                    () -> m.predict(new float[128], new float[19]));
            expect("batch: expected 1 to 8 rows (maxBatch), got 0", () -> m.predict(seg, segOut, 0));
            expect("batch: expected 1 to 8 rows (maxBatch), got 9", () -> m.predict(seg, segOut, 9));
            expect("in: expected at least 1024 bytes (4 rows of 64 floats), got 1020",
                    () -> m.predict(seg.asSlice(4096 - 1020), segOut, 4));
            expect("out: expected a writable segment", () -> m.predict(seg, segOut.asReadOnly(), 4));
            expect("out: expected a 4-byte aligned address", () -> m.predict(seg, segOut.asSlice(2), 4));
            expect("out: expected no overlap with in", () -> m.predict(seg, seg.asSlice(4 * 64 * 4 - 4), 4));
            try (Tensor wrong = Tensor.zeros(Tensor.Format.NC, 2, 63); Tensor o = Tensor.zeros(Tensor.Format.NC, 2, 10)) {
                expect("in: expected an NC tensor of 64 features", () -> m.predict(wrong, o));
            }
            MemorySegment closed;
            try (Arena other = Arena.ofConfined()) {
                closed = other.allocate(4 * 1024);
            }
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.predict(closed, segOut, 2));
            assertEquals("in: segment is closed", e.getMessage());
            for (float v : out) assertEquals(-7f, v);
            assertArrayEquals(before, segOut.toArray(ValueLayout.JAVA_BYTE), "out segment written by a rejected call");
            m.close();
            assertThrows(IllegalStateException.class, () -> m.predict(new float[64], out));
        }
        try (Sequential bad = new Sequential(new Linear(4, 5, true, 1), new Linear(6, 2, true, 2))) {
            expect("model: module 1:Linear(6, 2, bias=true) expects 6 features, got the 5 of the module before it",
                    () -> InferenceModel.of(bad, 4));
        }
    }

    static void expect(String start, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertTrue(e.getMessage().startsWith(start), "message: " + e.getMessage() + "\nexpected to start with: " + start);
    }

    @Test
    void callsAfterWarmUpAllocateNothing() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (Sequential model = mlp(12, false, 64, 100, 100, 100, 10); InferenceModel m = InferenceModel.of(model, 64);
             Arena arena = Arena.ofConfined()) {
            float[] x = random(new SplittableRandom(12), 64 * 64);
            float[] y = new float[64 * 10];
            MemorySegment in = arena.allocate(4L * 64 * 64);
            MemorySegment out = arena.allocate(4L * 64 * 10);
            MemorySegment.copy(x, 0, in, F, 0, x.length);
            for (int i = 0; i < 20_000; i++) { // warm-up: the JIT compiles the call path
                m.predict(x, y);
                m.predict(in, out, 1 + i % 64);
            }
            int sessions = m.sessionsCreated();
            long tensorBytes = Tensor.allocatedBytes();
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 10_000; i++) {
                m.predict(x, y);
                m.predict(in, out, 1 + i % 64);
            }
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertTrue(allocated < 20_000, "20,000 calls allocated " + allocated + " bytes on the heap");
            assertEquals(sessions, m.sessionsCreated(), "sessions created after warm-up");
            assertEquals(1, sessions, "one caller needs one session");
            assertEquals(tensorBytes, Tensor.allocatedBytes());
        }
    }
}
