package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.ffi.NativeLibrary;
import dev.bnorm.ffi.bn_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The C kernels against the pure-Java oracle on the same inputs: awkward shapes, all three
 * layouts, every flag combination, training and inference, forward and backward, several steps of
 * running statistics with and without momentum. Tolerances scale with M = N*S ({@link Compare}).
 */
class NativeVsJavaTest {

    static BatchNormKernels nat;
    static final BatchNormKernels JAVA = JavaKernels.INSTANCE;
    static final double EPS = 1e-5;

    @BeforeAll
    static void load() {
        nat = NativeKernels.get();
    }

    /** (N, C, S) from {1, 2, 3, 7, 13, 64, 127, 1000}, at most ~130k values each. */
    static Stream<Arguments> shapes() {
        long[][] ncs = {
            {2, 1, 1}, {2, 3, 1}, {3, 7, 1}, {7, 13, 1}, {13, 64, 1}, {64, 127, 1}, {1000, 13, 1}, {127, 1000, 1},
            {1, 2, 2}, {1, 3, 7}, {2, 7, 13}, {3, 13, 64}, {7, 2, 127}, {1, 1000, 3}, {13, 1, 1000}, {2, 64, 1000},
        };
        List<Arguments> out = new ArrayList<>();
        for (long[] d : ncs) {
            for (Layout layout : Layout.values()) {
                if (layout == Layout.NC && d[2] != 1) continue;
                out.add(Arguments.of(layout, d[0], d[1], d[2]));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} N={1} C={2} S={3}")
    @MethodSource("shapes")
    void forwardTrainingEveryFlagCombination(Layout layout, long n, long c, long s) {
        long m = n * s;
        try (Arena arena = Arena.ofConfined()) {
            Problem p = new Problem(arena, layout, n, c, s, 42);
            for (int flags = 0; flags <= (USE_SCALE | USE_SHIFT | UPDATE_RUNNING); flags++) {
                String what = layout + " " + n + "x" + c + "x" + s + " flags=" + flags;
                Result j = p.forwardTraining(JAVA, flags, 0.1);
                Result k = p.forwardTraining(nat, flags, 0.1);
                Compare.assertClose(j.out, k.out, Compare.tol(m), Compare.tol(m), what + " out");
                Compare.assertClose(j.mean, k.mean, Compare.tol(m), Compare.tol(m), what + " save_mean");
                Compare.assertClose(j.rstd, k.rstd, Compare.tol(m), Compare.tol(m), what + " save_rstd");
                Compare.assertClose(j.runningMean, k.runningMean, Compare.tol(m), Compare.tol(m), what + " running_mean");
                Compare.assertClose(j.runningVar, k.runningVar, Compare.tol(m), Compare.tol(m), what + " running_var");
            }
        }
    }

    @ParameterizedTest(name = "{0} N={1} C={2} S={3}")
    @MethodSource("shapes")
    void forwardInferenceEveryFlagCombination(Layout layout, long n, long c, long s) {
        try (Arena arena = Arena.ofConfined()) {
            Problem p = new Problem(arena, layout, n, c, s, 7);
            for (int flags = 0; flags <= (USE_SCALE | USE_SHIFT); flags++) {
                float[] j = p.forwardInference(JAVA, flags);
                float[] k = p.forwardInference(nat, flags);
                Compare.assertClose(j, k, 1e-5, 1e-5, layout + " " + n + "x" + c + "x" + s + " inference flags=" + flags);
            }
        }
    }

    @ParameterizedTest(name = "{0} N={1} C={2} S={3}")
    @MethodSource("shapes")
    void backwardEveryFlagAndMask(Layout layout, long n, long c, long s) {
        long m = n * s;
        try (Arena arena = Arena.ofConfined()) {
            Problem p = new Problem(arena, layout, n, c, s, 3);
            p.forwardTraining(JAVA, USE_SCALE | USE_SHIFT, 0.1); // fills saveMean/saveRstd
            for (int flags : new int[] {0, USE_SCALE, USE_GLOBAL_STATS, USE_SCALE | USE_GLOBAL_STATS}) {
                for (int mask = 1; mask <= (DIFF_INP | DIFF_SCALE | DIFF_SHIFT); mask++) {
                    String what = layout + " " + n + "x" + c + "x" + s + " flags=" + flags + " mask=" + mask;
                    Result j = p.backward(JAVA, flags, mask);
                    Result k = p.backward(nat, flags, mask);
                    if ((mask & DIFF_INP) != 0) {
                        Compare.assertCloseToScale(Buffers.toDouble(j.out), k.out, Compare.tol(m), what + " dinp");
                    }
                    if ((mask & DIFF_SCALE) != 0) {
                        Compare.assertClose(j.mean, k.mean, Compare.sumTol(m), Compare.tol(m), what + " dgamma");
                    }
                    if ((mask & DIFF_SHIFT) != 0) {
                        Compare.assertClose(j.rstd, k.rstd, Compare.sumTol(m), Compare.tol(m), what + " dbeta");
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "momentum={0}")
    @MethodSource("momenta")
    void runningStatisticsOverSeveralSteps(Double momentum) {
        Layout layout = Layout.NCHW;
        long n = 7, c = 13, s = 5;
        try (Arena arena = Arena.ofConfined()) {
            Problem pj = new Problem(arena, layout, n, c, s, 11);
            Problem pk = new Problem(arena, layout, n, c, s, 11);
            for (int step = 1; step <= 5; step++) {
                // momentum == null: PyTorch's cumulative average, factor 1/num_batches_tracked
                double f = momentum == null ? 1.0 / step : momentum;
                pj.reseed(100 + step);
                pk.reseed(100 + step);
                Result j = pj.forwardTraining(JAVA, USE_SCALE | USE_SHIFT | UPDATE_RUNNING, f);
                Result k = pk.forwardTraining(nat, USE_SCALE | USE_SHIFT | UPDATE_RUNNING, f);
                Compare.assertClose(j.runningMean, k.runningMean, 1e-5, 1e-5, "step " + step + " running_mean");
                Compare.assertClose(j.runningVar, k.runningVar, 1e-5, 1e-5, "step " + step + " running_var");
            }
        }
    }

    static Stream<Double> momenta() {
        return Stream.of(0.1, 0.0, 1.0, null);
    }

    @Test
    void inPlaceForwardEqualsOutOfPlace() {
        for (Layout layout : Layout.values()) {
            long s = layout == Layout.NC ? 1 : 9;
            try (Arena arena = Arena.ofConfined()) {
                Problem p = new Problem(arena, layout, 6, 5, s, 5);
                float[] outOfPlace = p.forwardTraining(nat, USE_SCALE | USE_SHIFT, 0.1).out;
                p.out.copyFrom(p.inp);
                nat.forwardTraining(p.out, p.saveMean, p.saveRstd, null, null, p.out, p.gamma, p.beta, EPS, 0.1,
                        USE_SCALE | USE_SHIFT, layout, 6, 5, s);
                Compare.assertSameBits(outOfPlace, Buffers.read(p.out, p.count), layout + " in-place forward");
            }
        }
    }

    @Test
    void nativeRequiresNativeSegments() {
        try (Arena arena = Arena.ofConfined()) {
            Problem p = new Problem(arena, Layout.NC, 4, 3, 1, 1);
            MemorySegment heap = MemorySegment.ofArray(new float[12]);
            var e = assertThrows(IllegalArgumentException.class, () -> nat.forwardTraining(heap, p.saveMean, p.saveRstd,
                    null, null, p.inp, null, null, EPS, 0.1, 0, Layout.NC, 4, 3, 1));
            assertTrue(e.getMessage().startsWith("out:") && e.getMessage().contains("native"), e.getMessage());
            // The Java kernels accept heap segments.
            JAVA.forwardTraining(heap, p.saveMean, p.saveRstd, null, null, p.inp, null, null, EPS, 0.1, 0, Layout.NC, 4, 3, 1);
        }
    }

    @Test
    void theCLibraryValidatesOnItsOwn() {
        // Straight through the bindings, past the Java checks: C must refuse and write nothing.
        try (Arena arena = Arena.ofConfined()) {
            Problem p = new Problem(arena, Layout.NC, 1, 3, 1, 1);
            p.out.fill((byte) 0x7f);
            int status = bn_h.bn_forward_training(p.out, p.saveMean, p.saveRstd, MemorySegment.NULL, MemorySegment.NULL,
                    p.inp, MemorySegment.NULL, MemorySegment.NULL, MemorySegment.NULL, EPS, 0.1, 0, Layout.NC.code,
                    1, 3, 1);
            assertEquals(bn_h.BN_ERR_SINGLE_VALUE(), status);
            assertEquals("expected more than 1 value per channel when training", NativeLibrary.strerror(status));
            for (float v : Buffers.read(p.out, 3)) assertEquals(Float.intBitsToFloat(0x7f7f7f7f), v);
            assertEquals(bn_h.BN_ERR_BAD_DIMENSION(), bn_h.bn_forward_inference(p.out, p.inp, MemorySegment.NULL, p.saveMean, p.saveRstd,
                    MemorySegment.NULL, MemorySegment.NULL, EPS, 0, Layout.NC.code, 0, 3, 1));
            assertEquals(bn_h.BN_ERR_BAD_EPS(), bn_h.bn_forward_inference(p.out, p.inp, MemorySegment.NULL, p.saveMean, p.saveRstd,
                    MemorySegment.NULL, MemorySegment.NULL, Double.NaN, 0, Layout.NC.code, 1, 3, 1));
            assertEquals(bn_h.BN_ERR_NULL_POINTER(), bn_h.bn_backward(p.out, MemorySegment.NULL, MemorySegment.NULL,
                    MemorySegment.NULL, MemorySegment.NULL, MemorySegment.NULL, p.inp, MemorySegment.NULL, p.saveMean, p.saveRstd, 0, DIFF_INP,
                    Layout.NC.code, 1, 3, 1));
        }
    }

    @Test
    void bothImplementationsRejectTheSameBadCall() {
        try (Arena arena = Arena.ofConfined()) {
            Problem p = new Problem(arena, Layout.NCHW, 2, 3, 4, 1);
            for (BatchNormKernels k : List.of(JAVA, nat)) {
                var e = assertThrows(IllegalArgumentException.class, () -> k.forwardTraining(p.out, p.saveMean,
                        p.saveRstd, null, null, p.inp.asSlice(0, 4 * 23), null, null, EPS, 0.1, 0, Layout.NCHW, 2, 3, 4));
                assertTrue(e.getMessage().startsWith("inp:") && e.getMessage().contains("96")
                        && e.getMessage().contains("92"), k.name() + ": " + e.getMessage());
            }
        }
    }

    /** Buffers of one problem, in one arena; each call resets its outputs. */
    static final class Problem {
        final Layout layout;
        final long n, c, s, count;
        final MemorySegment inp, out, dout, gamma, beta, saveMean, saveRstd, runningMean, runningVar, dgamma, dbeta;
        final MemorySegment mean, var;

        Problem(Arena arena, Layout layout, long n, long c, long s, long seed) {
            this.layout = layout;
            this.n = n;
            this.c = c;
            this.s = s;
            this.count = n * c * s;
            inp = arena.allocate(4 * count, 64);
            out = arena.allocate(4 * count, 64);
            dout = arena.allocate(4 * count, 64);
            Random r = new Random(seed);
            gamma = Buffers.of(arena, Buffers.uniform(r, (int) c, 0.5, 2));
            beta = Buffers.of(arena, Buffers.uniform(r, (int) c, -1, 1));
            mean = Buffers.of(arena, Buffers.uniform(r, (int) c, -1, 1));
            var = Buffers.of(arena, Buffers.uniform(r, (int) c, 0.1, 3));
            saveMean = arena.allocate(4 * c, 64);
            saveRstd = arena.allocate(4 * c, 64);
            runningMean = arena.allocate(4 * c, 64);
            runningVar = arena.allocate(4 * c, 64);
            dgamma = arena.allocate(4 * c, 64);
            dbeta = arena.allocate(4 * c, 64);
            reseed(seed);
        }

        void reseed(long seed) {
            Random r = new Random(seed);
            // A per-channel offset and scale, so channels differ and the mean is not near zero.
            float[] x = Buffers.gaussian(r, (int) count, 0, 1);
            for (int i = 0; i < x.length; i++) x[i] = x[i] * 1.5f + 3f;
            MemorySegment.copy(x, 0, inp, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, x.length);
            float[] g = Buffers.gaussian(r, (int) count, 0, 1);
            MemorySegment.copy(g, 0, dout, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, g.length);
        }

        Result forwardTraining(BatchNormKernels k, int flags, double momentum) {
            boolean running = (flags & UPDATE_RUNNING) != 0;
            for (long i = 0; i < c; i++) {
                runningMean.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, 0.25f);
                runningVar.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, 1.5f);
            }
            k.forwardTraining(out, saveMean, saveRstd, running ? runningMean : null, running ? runningVar : null, inp,
                    (flags & USE_SCALE) != 0 ? gamma : null, (flags & USE_SHIFT) != 0 ? beta : null,
                    EPS, momentum, flags, layout, n, c, s);
            return new Result(Buffers.read(out, count), Buffers.read(saveMean, c), Buffers.read(saveRstd, c),
                    Buffers.read(runningMean, c), Buffers.read(runningVar, c));
        }

        float[] forwardInference(BatchNormKernels k, int flags) {
            k.forwardInference(out, inp, mean, var, (flags & USE_SCALE) != 0 ? gamma : null,
                    (flags & USE_SHIFT) != 0 ? beta : null, EPS, flags, layout, n, c, s);
            return Buffers.read(out, count);
        }

        /** Result.out = dinp, .mean = dgamma, .rstd = dbeta (empty when not requested). */
        Result backward(BatchNormKernels k, int flags, int mask) {
            out.fill((byte) 0);
            dgamma.fill((byte) 0);
            dbeta.fill((byte) 0);
            k.backward((mask & DIFF_INP) != 0 ? out : null, (mask & DIFF_SCALE) != 0 ? dgamma : null,
                    (mask & DIFF_SHIFT) != 0 ? dbeta : null, dout, inp, (flags & USE_SCALE) != 0 ? gamma : null,
                    saveMean, saveRstd, flags, mask, layout, n, c, s);
            return new Result(Buffers.read(out, count), Buffers.read(dgamma, c), Buffers.read(dbeta, c), null, null);
        }
    }

    record Result(float[] out, float[] mean, float[] rstd, float[] runningMean, float[] runningVar) {}
}
