package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;

/**
 * Property-based tests (jqwik) of the kernel contract, {@link NativeKernels} against the pure-Java
 * oracle {@link JavaKernels}: random operations, shapes (valid and not: 0, negative, overflowing,
 * NC with S != 1, null layout), flags and masks (unknown bits too), eps and momentum (NaN, +-Inf,
 * 0, out of range), values (NaN, +-Inf, subnormals, +-0, huge offsets, up to FLT_MAX, constant
 * channels) and one
 * fault per call (a buffer null or given against its flag, too small, closed, misaligned, on the
 * heap, read-only, in place, overlapping, or the call made from another thread).
 *
 * <p>Whether a call is valid is decided here, from the contract ({@code bn.h} and
 * {@link BatchNormKernels}), not by asking either implementation. A valid call succeeds in both,
 * and the native outputs match Java's within {@link Compare}'s tolerances (heap segments are the
 * documented difference: Java takes them, native rejects them). An invalid call is rejected by
 * both with the documented exception ({@link IllegalArgumentException}, {@link IllegalStateException}
 * for a closed segment, {@link WrongThreadException}) naming the same argument, and no byte of
 * any buffer (outputs, running statistics, inputs) changed.
 */
class KernelPropertyTest {

    static final BatchNormKernels JAVA = JavaKernels.INSTANCE;
    static final int ALL_MASK = DIFF_INP | DIFF_SCALE | DIFF_SHIFT;
    /** Written into pure outputs before a call, so an output element never written shows. */
    static final float SENTINEL = Float.intBitsToFloat(0x7fc0dead);

    static BatchNormKernels nat;
    static ExecutorService otherThread;

    @BeforeContainer
    static void setUp() {
        nat = NativeKernels.get();
        otherThread = Executors.newSingleThreadExecutor();
    }

    @AfterContainer
    static void tearDown() {
        otherThread.shutdownNow();
    }

    // ---- the calls ----

    /** When a buffer must be given: always, with a flag bit, with a mask bit, or backward's inp. */
    enum Need { ALWAYS, FLAG, MASK, BACKWARD_INP }

    /** One buffer argument; {@code read}: its values are read; {@code variance}: values >= 0 usually. */
    record Arg(String name, boolean output, boolean read, boolean tensor, boolean variance, Need need, int bit) {
        static Arg out(String name, boolean tensor, Need need, int bit) {
            return new Arg(name, true, false, tensor, false, need, bit);
        }

        static Arg in(String name, boolean tensor, Need need, int bit) {
            return new Arg(name, false, true, tensor, false, need, bit);
        }

        /** 1: required, 0: must be null, -1: either (backward's inp when it is not read). */
        int need(int flags, int mask) {
            return switch (need) {
                case ALWAYS -> 1;
                case FLAG -> (flags & bit) != 0 ? 1 : 0;
                case MASK -> (mask & bit) != 0 ? 1 : 0;
                case BACKWARD_INP -> (mask & DIFF_SCALE) != 0 || (flags & USE_GLOBAL_STATS) == 0 ? 1 : -1;
            };
        }
    }

    /** The three kernels: their flags and their buffer arguments in the order of the interface. */
    enum Op {
        TRAINING(USE_SCALE | USE_SHIFT | UPDATE_RUNNING, List.of(
                Arg.out("out", true, Need.ALWAYS, 0), Arg.out("saveMean", false, Need.ALWAYS, 0),
                Arg.out("saveRstd", false, Need.ALWAYS, 0),
                new Arg("runningMean", true, true, false, false, Need.FLAG, UPDATE_RUNNING),
                new Arg("runningVar", true, true, false, true, Need.FLAG, UPDATE_RUNNING),
                Arg.in("inp", true, Need.ALWAYS, 0), Arg.in("gamma", false, Need.FLAG, USE_SCALE),
                Arg.in("beta", false, Need.FLAG, USE_SHIFT))),
        INFERENCE(USE_SCALE | USE_SHIFT, List.of(
                Arg.out("out", true, Need.ALWAYS, 0), Arg.in("inp", true, Need.ALWAYS, 0),
                Arg.in("mean", false, Need.ALWAYS, 0), new Arg("var", false, true, false, true, Need.ALWAYS, 0),
                Arg.in("gamma", false, Need.FLAG, USE_SCALE), Arg.in("beta", false, Need.FLAG, USE_SHIFT))),
        BACKWARD(USE_SCALE | USE_GLOBAL_STATS, List.of(
                Arg.out("dinp", true, Need.MASK, DIFF_INP), Arg.out("dgamma", false, Need.MASK, DIFF_SCALE),
                Arg.out("dbeta", false, Need.MASK, DIFF_SHIFT), Arg.in("dout", true, Need.ALWAYS, 0),
                Arg.in("inp", true, Need.BACKWARD_INP, 0), Arg.in("gamma", false, Need.FLAG, USE_SCALE),
                Arg.in("mean", false, Need.ALWAYS, 0), Arg.in("rstd", false, Need.ALWAYS, 0)));

        final int flags;
        final List<Arg> args;

        Op(int flags, List<Arg> args) {
            this.flags = flags;
            this.args = args;
        }
    }

    record Shape(Layout layout, long n, long c, long s) {
        /** N*C*S when the dimensions are valid and N*C*S*4 fits in a long, else -1. */
        long count() {
            if (layout == null || n < 1 || c < 1 || s < 1 || (layout == Layout.NC && s != 1)) {
                return -1;
            }
            try {
                long count = Math.multiplyExact(Math.multiplyExact(n, c), s);
                Math.multiplyExact(count, 4L);
                return count;
            } catch (ArithmeticException e) {
                return -1;
            }
        }
    }

    enum Values { NORMAL, CONSTANT, HUGE_OFFSET, SPECIALS, SUBNORMAL, NEAR_MAX }

    enum Fault { NONE, NULL, EXTRA, TOO_SMALL, CLOSED, MISALIGNED, HEAP, READ_ONLY, IN_PLACE, OVERLAP, WRONG_THREAD }

    /** A fault, the argument it hits (index modulo the argument count) and a free parameter. */
    record Hit(Fault fault, int target, int param) {
    }

    record Spec(Op op, Shape shape, int flags, int mask, double eps, double momentum, Values values, Hit hit,
                long seed) {
        /** Whether the scalar arguments alone are valid (bn.h's rules, as BatchNormKernels documents them). */
        boolean scalarsValid() {
            if (shape.count() < 0 || (flags & ~op.flags) != 0) {
                return false;
            }
            if (op == Op.BACKWARD) {
                return mask != 0 && (mask & ~ALL_MASK) == 0;
            }
            boolean epsOk = Double.isFinite(eps) && eps > 0;
            if (op == Op.INFERENCE) {
                return epsOk;
            }
            boolean momentumOk = (flags & UPDATE_RUNNING) == 0 || (momentum >= 0 && momentum <= 1);
            return epsOk && momentumOk && shape.n() * shape.s() > 1;
        }
    }

    // ---- generators ----

    @Provide
    Arbitrary<Spec> specs() {
        Arbitrary<Op> ops = Arbitraries.of(Op.class);
        Arbitrary<Integer> flags = bits();
        Arbitrary<Integer> masks = bits();
        Arbitrary<Tuple.Tuple2<Values, Long>> values = Combinators.combine(
                Arbitraries.of(Values.class), Arbitraries.longs()).as(Tuple::of);
        return Combinators.combine(ops, shapes(), flags, masks, eps(), momenta(), values, hits())
                .as((op, shape, f, m, eps, momentum, v, hit) -> new Spec(op, shape, decode(f, op.flags),
                        op == Op.BACKWARD ? decode(m, ALL_MASK) : 0, eps, momentum, v.get1(), hit, v.get2()));
    }

    /** Mostly valid shapes up to 9 x 300 x 9 (C crosses the native 256-channel chunks), sometimes invalid ones. */
    static Arbitrary<Shape> shapes() {
        Arbitrary<Layout> layouts = Arbitraries.of(Layout.class);
        Arbitrary<Long> small = Arbitraries.longs().between(1, 9);
        Arbitrary<Long> channels = Arbitraries.frequencyOf(Tuple.of(5, small), Tuple.of(1,
                Arbitraries.longs().between(250, 300)));
        Arbitrary<Shape> valid = Combinators.combine(layouts, small, channels, small)
                .as((layout, n, c, s) -> new Shape(layout, n, c, layout == Layout.NC ? 1 : s));
        Arbitrary<Long> odd = Arbitraries.of(0L, -1L, 1L, 2L, Long.MIN_VALUE, Long.MAX_VALUE, 1L << 31, 1L << 62);
        // invalid only: valid dimensions this large would need buffers too large to allocate here
        // (Checks rejects buffers smaller than the dimensions: the TOO_SMALL fault)
        Arbitrary<Shape> invalid = Combinators.combine(layouts.injectNull(0.2), odd, odd, odd).as(Shape::new)
                .filter(shape -> shape.count() < 0);
        return Arbitraries.frequencyOf(Tuple.of(6, valid), Tuple.of(1, invalid));
    }

    /** Flag or mask bits, decoded by {@link #decode}: mostly a subset of the known bits. */
    static Arbitrary<Integer> bits() {
        return Arbitraries.frequencyOf(Tuple.of(8, Arbitraries.integers().between(0, 15)),
                Tuple.of(1, Arbitraries.integers().between(16, 31)),
                Tuple.of(1, Arbitraries.of(0x100, -1, Integer.MIN_VALUE)));
    }

    /** 0..15: those bits of {@code known}; 16..31: the low four bits as they are; else the value itself. */
    static int decode(int raw, int known) {
        return raw < 0 || raw >= 32 ? raw : raw < 16 ? raw & known : raw - 16;
    }

    static Arbitrary<Double> eps() {
        return Arbitraries.frequencyOf(Tuple.of(8, Arbitraries.of(1e-5, 1e-3, 0.1, 1.0)),
                Tuple.of(1, Arbitraries.of(Double.MIN_VALUE, 1e-300, 1e10)),
                Tuple.of(1, Arbitraries.of(0.0, -0.0, -1e-5, Double.NaN, Double.POSITIVE_INFINITY,
                        Double.NEGATIVE_INFINITY)));
    }

    static Arbitrary<Double> momenta() {
        return Arbitraries.frequencyOf(Tuple.of(8, Arbitraries.of(0.1, 0.0, -0.0, 1.0, 0.5)),
                Tuple.of(1, Arbitraries.of(Double.NaN, -1e-9, Math.nextUp(1.0), Double.POSITIVE_INFINITY, 2.0)));
    }

    static Arbitrary<Hit> hits() {
        Arbitrary<Fault> faults = Arbitraries.frequencyOf(Tuple.of(12, Arbitraries.just(Fault.NONE)),
                Tuple.of(10, Arbitraries.of(Fault.class)));
        return Combinators.combine(faults, Arbitraries.integers().between(0, 7),
                Arbitraries.integers().between(0, 1 << 16)).as(Hit::new);
    }

    // ---- the property ----

    @Property(tries = 2000)
    void nativeMatchesJavaOrBothRejectWithNothingChanged(@ForAll("specs") Spec spec) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            Call j = new Call(arena, spec);
            Call k = new Call(arena, spec);
            List<byte[]> jBefore = j.snapshot();
            List<byte[]> kBefore = k.snapshot();
            RuntimeException je = j.run(JAVA);
            RuntimeException ke = k.run(nat);
            boolean valid = j.valid(false);
            boolean nativeValid = k.valid(true);
            Statistics.collect(nativeValid ? "valid" : "invalid");
            Statistics.coverage(c -> {
                c.check("valid").percentage(p -> p >= 25);
                c.check("invalid").percentage(p -> p >= 25);
            });
            if (valid) {
                assertAccepted(je, "java", spec);
            } else {
                assertRejected(je, j, jBefore, spec);
            }
            if (nativeValid) {
                assertAccepted(ke, "native", spec);
                compareOutputs(j, k);
            } else {
                assertRejected(ke, k, kBefore, spec);
                if (!valid) {
                    assertEquals(argument(je), argument(ke), () -> "java and native name different arguments: "
                            + je.getMessage() + " | " + ke.getMessage());
                }
            }
        }
    }

    private static void assertAccepted(RuntimeException e, String kernels, Spec spec) {
        if (e != null) {
            throw new AssertionError(kernels + " rejected a valid call " + spec, e);
        }
    }

    /** The documented exception for the invalid call, and every byte of every buffer unchanged. */
    private static void assertRejected(RuntimeException e, Call call, List<byte[]> before, Spec spec) {
        assertNotNull(e, () -> "an invalid call was accepted: " + spec);
        Class<?> expected = !spec.scalarsValid() || !call.faultHits ? IllegalArgumentException.class
                : switch (spec.hit().fault()) {
                    case CLOSED -> IllegalStateException.class;
                    case WRONG_THREAD -> WrongThreadException.class;
                    default -> IllegalArgumentException.class;
                };
        if (e.getClass() != expected) {
            throw new AssertionError("expected " + expected.getSimpleName() + " for " + spec + ", got", e);
        }
        List<byte[]> after = call.snapshot();
        for (int i = 0; i < before.size(); i++) {
            assertArrayEquals(before.get(i), after.get(i), "a rejected call changed buffer " + i + ": " + spec);
        }
    }

    private static String argument(RuntimeException e) {
        String message = String.valueOf(e.getMessage());
        int colon = message.indexOf(':');
        return colon < 0 ? message : message.substring(0, colon);
    }

    /**
     * Native against Java, output by output, within Compare's tolerances for M = N*S. With NaN and
     * +-Inf among the inputs (SPECIALS), only non-finiteness is compared where a result is not
     * finite: bn.h promises that they propagate within their channel, not whether as NaN or Inf,
     * and algebraically equal orders of evaluation differ there (backward with rstd = Inf: Java's
     * ((x - mean)*rstd)*dgamma is NaN where x == mean makes 0*Inf, native's (x - mean)*(rstd*dgamma)
     * is -Inf elsewhere).
     */
    private static void compareOutputs(Call j, Call k) {
        Spec spec = j.spec;
        long m = spec.shape().n() * spec.shape().s();
        for (int i = 0; i < spec.op().args.size(); i++) {
            Arg a = spec.op().args.get(i);
            if (!a.output() || j.args[i] == null) {
                continue;
            }
            long floats = a.tensor() ? spec.shape().count() : spec.shape().c();
            float[] expected = Buffers.read(j.args[i], floats);
            float[] actual = Buffers.read(k.args[i], floats);
            if (spec.values() == Values.SPECIALS || spec.values() == Values.NEAR_MAX) {
                nonFiniteToNaN(expected);
                nonFiniteToNaN(actual);
            }
            String what = a.name() + " of " + spec;
            if (spec.op() != Op.BACKWARD && !a.tensor()) {
                Compare.assertClose(expected, actual, Compare.tol(m), Compare.tol(m), what);
            } else if (a.tensor()) {
                // out = gamma*xhat + beta (and dinp) can cancel terms far larger than the result
                // (HUGE_OFFSET gives gamma and beta ~1e6 and outputs ~3): float32 can only promise
                // an error small against the size of the terms, so judge it against the largest output.
                Compare.assertCloseToScale(Buffers.toDouble(expected), actual, Compare.tol(m), what);
            } else {
                Compare.assertClose(expected, actual, Compare.sumTol(m), Compare.tol(m), what);
            }
        }
    }

    private static void nonFiniteToNaN(float[] values) {
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) {
                values[i] = Float.NaN;
            }
        }
    }

    // ---- the buffers of one call ----

    /** The segments of one call built from a Spec; two Calls of one Spec hold equal bytes. */
    static final class Call {
        final Spec spec;
        final MemorySegment[] args;
        /** Every live allocation behind the arguments: all must be unchanged after a rejected call. */
        final List<MemorySegment> memory = new ArrayList<>();
        /** The fault changed an argument; and that alone makes the call invalid (heap: only for native). */
        boolean faultHits;
        boolean faultInvalidates;

        Call(Arena arena, Spec spec) {
            this.spec = spec;
            List<Arg> list = spec.op().args;
            args = new MemorySegment[list.size()];
            Hit hit = spec.hit();
            int target = hit.target() % args.length;
            for (int i = 0; i < args.length; i++) {
                int need = list.get(i).need(spec.flags(), spec.mask());
                if (need == 1 || (need == -1 && (hit.param() & 1) == 0)) {
                    args[i] = allocate(arena, i);
                }
            }
            applyFault(arena, target, list.get(target).need(spec.flags(), spec.mask()));
        }

        /** Whether the call is valid by the contract; with requireNative heap segments are not. */
        boolean valid(boolean requireNative) {
            return spec.scalarsValid() && !faultInvalidates
                    && !(requireNative && faultHits && spec.hit().fault() == Fault.HEAP);
        }

        private long floats(Arg a) {
            long count = spec.shape().count();
            return count < 0 ? 16 : a.tensor() ? count : spec.shape().c(); // invalid shapes: any small size
        }

        /** Argument i's segment: its values if it is read, else the sentinel. */
        private MemorySegment allocate(Arena arena, int i) {
            Arg a = spec.op().args.get(i);
            float[] values = a.read() ? values(a, floats(a), new Random(spec.seed() * 31 + i))
                                      : filled(floats(a), SENTINEL);
            MemorySegment segment = Buffers.of(arena, values);
            memory.add(segment);
            return segment;
        }

        private float[] values(Arg a, long count, Random r) {
            float[] v = new float[Math.toIntExact(count)];
            if (spec.values() == Values.NEAR_MAX && !SMALL_IN_NEAR_MAX.contains(a.name())) {
                // one sign and one scale per buffer, so that sums do not cancel (see SPECIAL); with
                // inp and mean of opposite signs x - mean is up to 2*FLT_MAX; a variance is +Inf
                // one time in eight
                double scale = Math.scalb((double) Float.MAX_VALUE, -List.of(0, 0, 1, 20, 63).get(r.nextInt(5)));
                double sign = r.nextBoolean() ? 1 : -1;
                boolean infinite = a.variance() && r.nextInt(8) == 0;
                for (int i = 0; i < v.length; i++) {
                    v[i] = infinite ? Float.POSITIVE_INFINITY
                                    : (float) ((a.variance() ? 1 : sign) * scale * (0.25 + 0.75 * r.nextDouble()));
                }
                return v;
            }
            for (int i = 0; i < v.length; i++) {
                v[i] = switch (spec.values()) {
                    case NEAR_MAX -> (float) r.nextGaussian();
                    case NORMAL -> (float) (r.nextGaussian() * 2 + 0.5);
                    case CONSTANT -> (float) (r.nextInt(3) - 1) * 1.5f;
                    case HUGE_OFFSET -> (float) (1e6 + r.nextGaussian() * 3);
                    case SUBNORMAL -> (float) (r.nextGaussian() * 1e-40);
                    case SPECIALS -> r.nextInt(8) == 0 ? SPECIAL[r.nextInt(SPECIAL.length)] : (float) r.nextGaussian();
                };
                if (a.variance() && spec.values() != Values.SPECIALS) {
                    v[i] = Math.abs(v[i]);
                }
            }
            return v;
        }

        /**
         * Sprinkled among N(0,1) values. No huge finite values (1e30, FLT_MAX) here: with both signs
         * in a channel their sums cancel catastrophically, and then Java's and native's summation
         * orders give different, equally valid results (mean of {1e30, -1e30, -1.86, 0}: 0 or
         * -0.46). Large magnitudes are HUGE_OFFSET's and NEAR_MAX's, and the C fuzzers take any
         * bit pattern.
         */
        /**
         * NEAR_MAX gives these N(0,1) values: gamma, beta and rstd of FLT_MAX's size would make
         * nearly every result infinite, and the interesting range is that of x - mean.
         */
        private static final java.util.Set<String> SMALL_IN_NEAR_MAX = java.util.Set.of("gamma", "beta", "rstd");

        private static final float[] SPECIAL = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
            0.0f, -0.0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, -Float.MIN_NORMAL};

        private static float[] filled(long count, float value) {
            float[] v = new float[Math.toIntExact(count)];
            java.util.Arrays.fill(v, value);
            return v;
        }

        private void applyFault(Arena arena, int i, int need) {
            Arg a = spec.op().args.get(i);
            MemorySegment given = args[i];
            int param = spec.hit().param();
            switch (spec.hit().fault()) {
                case NONE -> { }
                case NULL -> {
                    args[i] = null;
                    hits(given != null, need == 1);
                }
                case EXTRA -> {
                    if (given == null) {
                        args[i] = allocate(arena, i);
                        hits(true, need == 0);
                    }
                }
                case TOO_SMALL -> {
                    if (given != null) {
                        args[i] = given.asSlice(0, param % given.byteSize());
                        hits(true, true);
                    }
                }
                case CLOSED -> {
                    if (given != null) {
                        Arena other = Arena.ofConfined();
                        args[i] = other.allocate(given.byteSize(), 4);
                        other.close();
                        hits(true, true);
                    }
                }
                case MISALIGNED -> {
                    if (given != null) {
                        MemorySegment wider = arena.allocate(given.byteSize() + 4, 4);
                        memory.add(wider);
                        args[i] = wider.asSlice(1 + param % 3, given.byteSize());
                        args[i].copyFrom(given);
                        hits(true, true);
                    }
                }
                case HEAP -> {
                    if (given != null) {
                        args[i] = MemorySegment.ofArray(Buffers.read(given, given.byteSize() / 4));
                        memory.add(args[i]);
                        hits(true, false); // valid for Java, not for native
                    }
                }
                case READ_ONLY -> {
                    if (given != null) {
                        args[i] = given.asReadOnly();
                        hits(true, a.output());
                    }
                }
                case IN_PLACE -> {
                    int input = spec.op() == Op.BACKWARD && (param & 2) != 0 && args[4] != null ? 4
                            : spec.op() == Op.BACKWARD ? 3 : spec.op() == Op.TRAINING ? 5 : 1;
                    if (given != null && a.output() && a.tensor()) {
                        args[i] = args[input]; // out == inp, dinp == dout or dinp == inp: allowed
                        hits(true, false);
                    }
                }
                case OVERLAP -> overlap(arena, i, param);
                case WRONG_THREAD -> hits(true, true);
            }
        }

        /** Output i starts inside argument j (chosen by param), at a float offset chosen by param. */
        private void overlap(Arena arena, int i, int param) {
            List<Arg> list = spec.op().args;
            int j = (i + 1 + param % (args.length - 1)) % args.length;
            if (args[i] == null || args[j] == null || !list.get(i).output()) {
                return;
            }
            long offset = 4 * ((param >> 3) % (args[j].byteSize() / 4));
            MemorySegment both = arena.allocate(args[j].byteSize() + args[i].byteSize(), 4);
            memory.add(both);
            both.copyFrom(args[j]);
            args[i] = both.asSlice(offset, args[i].byteSize());
            args[j] = both.asSlice(0, args[j].byteSize());
            // the same start for an (N,C,S) output and an (N,C,S) input is the allowed in-place call
            boolean inPlace = offset == 0 && list.get(i).tensor() && list.get(j).tensor() && !list.get(j).output();
            hits(true, !inPlace);
        }

        private void hits(boolean hits, boolean invalidates) {
            faultHits = hits;
            faultInvalidates = hits && invalidates;
        }

        /** The bytes of every live allocation. */
        List<byte[]> snapshot() {
            List<byte[]> bytes = new ArrayList<>();
            for (MemorySegment m : memory) {
                bytes.add(m.toArray(ValueLayout.JAVA_BYTE));
            }
            return bytes;
        }

        /** Runs the call (on another thread for WRONG_THREAD); returns what it threw, or null. */
        RuntimeException run(BatchNormKernels k) throws InterruptedException {
            Runnable call = () -> invoke(k);
            try {
                if (spec.hit().fault() == Fault.WRONG_THREAD) {
                    otherThread.submit(call).get();
                } else {
                    call.run();
                }
                return null;
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException r) {
                    return r;
                }
                throw new AssertionError("not a documented exception", e.getCause());
            } catch (IllegalArgumentException | IllegalStateException | WrongThreadException e) {
                return e;
            }
        }

        private void invoke(BatchNormKernels k) {
            MemorySegment[] a = args;
            Shape sh = spec.shape();
            switch (spec.op()) {
                case TRAINING -> k.forwardTraining(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], spec.eps(),
                        spec.momentum(), spec.flags(), sh.layout(), sh.n(), sh.c(), sh.s());
                case INFERENCE -> k.forwardInference(a[0], a[1], a[2], a[3], a[4], a[5], spec.eps(), spec.flags(),
                        sh.layout(), sh.n(), sh.c(), sh.s());
                case BACKWARD -> k.backward(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], spec.flags(),
                        spec.mask(), sh.layout(), sh.n(), sh.c(), sh.s());
            }
        }
    }
}
