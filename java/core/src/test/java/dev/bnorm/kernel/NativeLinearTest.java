package dev.bnorm.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.kernel.LinearKernels.Activation;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The native Linear kernels against the pure-Java oracle over awkward sizes (1, 3, 7, 17, 100,
 * 1000 in every dimension, up to 2*10^7 multiply-adds a call), on every instruction set of the
 * library (a child JVM per set, with {@code BNORM_ISA}); bit-identical results for 1, 2 and many
 * threads; bad arguments rejected before the downcall with nothing written.
 *
 * <p>Tolerance: both compute each element as a float sum of K products in a fixed order (K the
 * reduction length), so each is within (K+2)·u·Σ|products| of the exact value (u = 2⁻²⁴, two
 * roundings per term without FMA); they differ by at most twice that, plus a rounding of the
 * result: |native − java| ≤ 2·(2K+4)·u·Σ|products| + u·|java|. The sigmoid is 1/4-Lipschitz, so
 * the same bound covers it.
 */
class NativeLinearTest {

    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    static final long[] SIZES = {1, 3, 7, 17, 100, 1000};
    static final long MAX_MADDS = 20_000_000;
    static final double U = Math.ulp(1.0f) / 2;

    @AfterAll
    static void restoreThreads() {
        NativeKernels.setNumThreads(0);
    }

    @ParameterizedTest
    @ValueSource(strings = {"generic", "avx2", "avx512"})
    void agreesWithTheOracleOnEveryInstructionSet(String isa) throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        ProcessBuilder pb = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), NativeLinearTest.class.getName()))
                .redirectErrorStream(true);
        pb.environment().put("BNORM_ISA", isa);
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the child JVM did not finish within 300 s");
        }
        assertEquals(0, p.exitValue(), output);
        assertTrue(output.contains("compared "), output);
    }

    /** The child JVM: every size combination, forward and backward; exit status 1 on a mismatch. */
    public static void main(String[] args) {
        List<String> failures = new ArrayList<>();
        int cases = 0;
        SplittableRandom r = new SplittableRandom(5);
        for (long n : SIZES) {
            for (long in : SIZES) {
                for (long out : SIZES) {
                    if (n * in * out > MAX_MADDS) {
                        continue;
                    }
                    try (Arena arena = Arena.ofConfined()) {
                        Problem pr = new Problem(arena, n, in, out, r);
                        Activation act = Activation.values()[cases % 3];
                        boolean bias = cases % 2 == 0;
                        failures.addAll(pr.compareForward(act, bias));
                        failures.addAll(pr.compareBackward(cases % 4 < 2 ? 0 : LinearKernels.ACCUMULATE));
                        cases++;
                    }
                }
            }
        }
        System.out.println("compared " + cases + " shapes; failures: " + failures.size());
        failures.stream().limit(20).forEach(System.out::println);
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    @Test
    void resultsAreBitIdenticalForAnyNumberOfThreads() {
        try (Arena arena = Arena.ofConfined()) {
            Problem p = new Problem(arena, 130, 1000, 300, new SplittableRandom(6)); // 39M multiply-adds
            NativeLinear nat = NativeLinear.get();
            float[][] first = null;
            for (int threads : new int[] {1, 2, Runtime.getRuntime().availableProcessors() + 3}) {
                NativeKernels.setNumThreads(threads);
                nat.forward(p.out, p.inp, p.w, p.b, Activation.SIGMOID, p.n, p.in, p.o);
                nat.backward(p.dinp, p.dw, p.db, p.dout, p.inp, p.w, 0, p.n, p.in, p.o);
                float[][] got = {p.out.toArray(F), p.dinp.toArray(F), p.dw.toArray(F), p.db.toArray(F)};
                if (first == null) {
                    first = got;
                } else {
                    for (int i = 0; i < got.length; i++) {
                        assertArrayEquals(first[i], got[i], "output " + i + " with " + threads + " threads");
                    }
                }
            }
        }
    }

    @Test
    void badArgumentsAreRejectedBeforeTheCallWithNothingWritten() {
        NativeLinear nat = NativeLinear.get();
        for (LinearKernels k : new LinearKernels[] {nat, JavaLinear.INSTANCE}) {
            try (Arena arena = Arena.ofConfined()) {
                Problem p = new Problem(arena, 5, 6, 7, new SplittableRandom(7));
                float[] before = p.out.toArray(F);
                float[] dwBefore = p.dw.toArray(F);
                expect(IllegalArgumentException.class, "inp: expected at least 120 bytes (N*I = 30 floats), got 116",
                        () -> k.forward(p.out, p.inp.asSlice(0, 116), p.w, p.b, Activation.NONE, 5, 6, 7));
                expect(IllegalArgumentException.class, "out: expected no overlap with inp",
                        () -> k.forward(p.inp.asSlice(4), p.inp, p.w, null, Activation.NONE, 1, 6, 1));
                expect(IllegalArgumentException.class, "act: expected one of NONE, RELU, SIGMOID, got null",
                        () -> k.forward(p.out, p.inp, p.w, p.b, null, 5, 6, 7));
                expect(IllegalArgumentException.class, "n: expected at least 1, got 0",
                        () -> k.forward(p.out, p.inp, p.w, p.b, Activation.NONE, 0, 6, 7));
                expect(IllegalArgumentException.class, "n, in: expected the product times 4 bytes to fit in a long",
                        () -> k.forward(p.out, p.inp, p.w, p.b, Activation.NONE, Long.MAX_VALUE / 2, 6, 7));
                expect(IllegalArgumentException.class, "out: expected a writable segment",
                        () -> k.forward(p.out.asReadOnly(), p.inp, p.w, p.b, Activation.NONE, 5, 6, 7));
                expect(IllegalArgumentException.class, "weight: expected a 4-byte aligned address",
                        () -> k.forward(p.out, p.inp, p.w.asSlice(2), p.b, Activation.NONE, 1, 1, 1));
                expect(IllegalArgumentException.class, "flags: expected 0 or 0x1 (ACCUMULATE), got 0x2",
                        () -> k.backward(p.dinp, p.dw, p.db, p.dout, p.inp, p.w, 2, 5, 6, 7));
                expect(IllegalArgumentException.class, "inp: expected a segment because dweight is wanted",
                        () -> k.backward(null, p.dw, null, p.dout, null, p.w, 0, 5, 6, 7));
                expect(IllegalArgumentException.class, "dweight: expected no overlap with dout",
                        () -> k.backward(null, p.dout, null, p.dout, p.inp, null, 0, 1, 1, 1));
                MemorySegment closed;
                try (Arena other = Arena.ofConfined()) {
                    closed = other.allocate(4 * 42);
                }
                expect(IllegalStateException.class, "weight: segment is closed",
                        () -> k.forward(p.out, p.inp, closed, p.b, Activation.NONE, 5, 6, 7));
                assertArrayEquals(before, p.out.toArray(F), k.name() + ": out written by a rejected call");
                assertArrayEquals(dwBefore, p.dw.toArray(F), k.name() + ": dweight written by a rejected call");
            }
        }
        MemorySegment heap = MemorySegment.ofArray(new float[42]);
        try (Arena arena = Arena.ofConfined()) {
            Problem p = new Problem(arena, 5, 6, 7, new SplittableRandom(8));
            expect(IllegalArgumentException.class, "weight: expected a native (off-heap) segment",
                    () -> nat.forward(p.out, p.inp, heap, p.b, Activation.NONE, 5, 6, 7));
        }
    }

    static void expect(Class<? extends RuntimeException> type, String start, Runnable call) {
        RuntimeException e = assertThrows(type, call::run);
        assertTrue(e.getMessage().startsWith(start), "message: " + e.getMessage() + "\nexpected to start with: " + start);
    }

    /** Random operands and NaN-filled outputs, native memory. */
    static final class Problem {
        final long n, in, o;
        final MemorySegment inp, w, b, dout, out, dinp, dw, db;

        Problem(Arena arena, long n, long in, long o, SplittableRandom r) {
            this.n = n;
            this.in = in;
            this.o = o;
            inp = random(arena, n * in, r);
            w = random(arena, o * in, r);
            b = random(arena, o, r);
            dout = random(arena, n * o, r);
            out = nan(arena, n * o);
            dinp = nan(arena, n * in);
            dw = random(arena, o * in, r);
            db = random(arena, o, r);
        }

        static MemorySegment random(Arena arena, long count, SplittableRandom r) {
            MemorySegment s = arena.allocate(4 * count, 64);
            for (long i = 0; i < count; i++) {
                s.setAtIndex(F, i, (float) r.nextGaussian());
            }
            return s;
        }

        static MemorySegment nan(Arena arena, long count) {
            MemorySegment s = arena.allocate(4 * count, 64);
            for (long i = 0; i < count; i++) {
                s.setAtIndex(F, i, Float.NaN);
            }
            return s;
        }

        static MemorySegment copy(Arena arena, MemorySegment s) {
            return arena.allocate(s.byteSize(), 64).copyFrom(s);
        }

        List<String> compareForward(Activation act, boolean withBias) {
            MemorySegment bias = withBias ? b : null;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment oracle = nan(a, n * o);
                JavaLinear.INSTANCE.forward(oracle, inp, w, bias, act, n, in, o);
                NativeLinear.get().forward(out, inp, w, bias, act, n, in, o);
                double[] mag = new double[(int) (n * o)];
                for (long i = 0; i < n; i++) {
                    for (long j = 0; j < o; j++) {
                        double m = withBias ? Math.abs(b.getAtIndex(F, j)) : 0;
                        for (long k = 0; k < in; k++) {
                            m += Math.abs((double) inp.getAtIndex(F, i * in + k) * w.getAtIndex(F, j * in + k));
                        }
                        mag[(int) (i * o + j)] = m;
                    }
                }
                List<String> f = new ArrayList<>(compare("forward " + act + " bias=" + withBias, out, oracle, mag, in));
                MemorySegment wt = nan(a, o * in);
                for (long j = 0; j < o; j++) {
                    for (long k = 0; k < in; k++) {
                        wt.setAtIndex(F, k * o + j, w.getAtIndex(F, j * in + k));
                    }
                }
                MemorySegment oracleT = nan(a, n * o);
                JavaLinear.INSTANCE.forwardTransposed(oracleT, inp, wt, bias, act, n, in, o);
                NativeLinear.get().forwardTransposed(out, inp, wt, bias, act, n, in, o);
                f.addAll(compare("forwardTransposed " + act + " bias=" + withBias, out, oracleT, mag, in));
                f.addAll(compare("forwardTransposed vs forward (java) " + act, oracleT, oracle, mag, in));
                return f;
            }
        }

        List<String> compareBackward(int flags) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment odinp = nan(a, n * in);
                MemorySegment odw = copy(a, dw);
                MemorySegment odb = copy(a, db);
                boolean acc = flags != 0;
                double[] mdw = new double[(int) (o * in)];
                double[] mdb = new double[(int) o];
                double[] mdi = new double[(int) (n * in)];
                for (long j = 0; j < o; j++) {
                    mdb[(int) j] = acc ? Math.abs(db.getAtIndex(F, j)) : 0;
                    for (long k = 0; k < in; k++) {
                        mdw[(int) (j * in + k)] = acc ? Math.abs(dw.getAtIndex(F, j * in + k)) : 0;
                    }
                }
                for (long i = 0; i < n; i++) {
                    for (long j = 0; j < o; j++) {
                        float g = dout.getAtIndex(F, i * o + j);
                        mdb[(int) j] += Math.abs(g);
                        for (long k = 0; k < in; k++) {
                            mdw[(int) (j * in + k)] += Math.abs((double) g * inp.getAtIndex(F, i * in + k));
                            mdi[(int) (i * in + k)] += Math.abs((double) g * w.getAtIndex(F, j * in + k));
                        }
                    }
                }
                JavaLinear.INSTANCE.backward(odinp, odw, odb, dout, inp, w, flags, n, in, o);
                NativeLinear.get().backward(dinp, dw, db, dout, inp, w, flags, n, in, o);
                List<String> f = new ArrayList<>();
                f.addAll(compare("dinp flags=" + flags, dinp, odinp, mdi, o));
                f.addAll(compare("dweight flags=" + flags, dw, odw, mdw, n + 1));
                f.addAll(compare("dbias flags=" + flags, db, odb, mdb, n + 1));
                return f;
            }
        }

        List<String> compare(String what, MemorySegment got, MemorySegment oracle, double[] mag, long k) {
            List<String> f = new ArrayList<>();
            for (int i = 0; i < mag.length; i++) {
                float g = got.getAtIndex(F, i);
                float e = oracle.getAtIndex(F, i);
                double bound = 2 * (2 * k + 4) * U * mag[i] + U * Math.abs(e);
                if (!(Math.abs((double) g - e) <= bound)) {
                    f.add(what + " N=" + n + " I=" + in + " O=" + o + " [" + i + "]: native " + g + ", java " + e
                            + ", bound " + bound);
                    break;
                }
            }
            return f;
        }
    }
}
