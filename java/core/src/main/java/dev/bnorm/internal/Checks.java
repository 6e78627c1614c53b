package dev.bnorm.internal;

import static dev.bnorm.kernel.BatchNormKernels.DATA_BF16;
import static dev.bnorm.kernel.BatchNormKernels.DATA_F16;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_RES;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.FUSE_ADD;
import static dev.bnorm.kernel.BatchNormKernels.FUSE_RELU;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;

import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.kernel.DType;
import dev.bnorm.kernel.Layout;
import java.lang.foreign.MemorySegment;

/**
 * Argument validation for {@link BatchNormKernels}, shared by every implementation and run before
 * any work (and before any downcall): one method per kernel, mirroring the statuses of
 * {@code native/include/bn.h}. Nothing is written by a kernel unless its check passed.
 *
 * <p>Failures: {@link IllegalArgumentException} whose message starts with the argument's name
 * ({@code "inp: expected at least 4096 bytes (N*C*S = 1024 floats), got 4092"});
 * {@link IllegalStateException} for a segment whose scope is closed ({@code "gamma: segment is
 * closed"}); {@link WrongThreadException} for a segment confined to another thread. Absent buffers
 * are {@code null}; a missing required buffer is an {@code IllegalArgumentException} too.
 *
 * <p>In the order checked: layout, dimensions (N, C, S &gt;= 1; S == 1 for NC; N*C*S*4 fits in a
 * long), flags (at most one of DATA_BF16 and DATA_F16), mask, eps, momentum (only with
 * UPDATE_RUNNING), M = N*S &gt; 1 (training), then each buffer (present exactly when its flag or
 * mask bit says so; alive; accessible by this thread; native when {@code requireNative}; writable
 * if an output; aligned to its element size; large enough), then aliasing.
 *
 * <p>Element sizes: the (N,C,S) activation buffers hold the dtype the flags name
 * ({@link DType#ofFlags}: 2 bytes with DATA_BF16 or DATA_F16, else 4); per-channel buffers are
 * float32 (4 bytes) and the split phase's statistics doubles (8 bytes).
 *
 * <p>Aliasing: only the extents a kernel touches are compared ({@code esize*N*C*S} or {@code 4*C}
 * bytes from the segment's address), like the C library, which sees only pointers. An output may
 * not overlap any other buffer, except exact identity (same start) where bn.h allows it:
 * {@code out == inp} or {@code out == res} in the forwards, {@code dinp == dout},
 * {@code dinp == inp} or {@code dres == dout} in backward.
 * Native segments are compared by address. Heap segments are compared when both expose their
 * array ({@link MemorySegment#heapBase()}: same array object, then offsets); a read-only heap
 * segment hides its array, so its overlap with an output cannot be detected and is not
 * reported (harmless for memory safety; the Java kernels would just read values being written).
 * Native and heap segments never overlap.
 *
 * <p>A buffer that is optional and not read (backward's {@code inp} with USE_GLOBAL_STATS and
 * without DIFF_SCALE) may be null; when given, it is validated like any other input.
 */
public final class Checks {

    private static final int FUSE = FUSE_RELU | FUSE_ADD;
    private static final int DATA = DATA_BF16 | DATA_F16;
    private static final int TRAINING_FLAGS = USE_SCALE | USE_SHIFT | UPDATE_RUNNING | FUSE | DATA;
    private static final int INFERENCE_FLAGS = USE_SCALE | USE_SHIFT | FUSE | DATA;
    private static final int BACKWARD_FLAGS = USE_SCALE | USE_GLOBAL_STATS | FUSE | DATA;
    private static final int ALL_MASK = DIFF_INP | DIFF_SCALE | DIFF_SHIFT | DIFF_RES;
    private static final String DATA_NAMES = " | DATA_BF16 | DATA_F16";
    private static final String FORWARD_NAMES = "USE_SCALE | USE_SHIFT | FUSE_RELU | FUSE_ADD" + DATA_NAMES;

    private Checks() {
    }

    /** Validates the arguments of {@link BatchNormKernels#forwardTraining}. */
    public static void checkForwardTraining(MemorySegment out, MemorySegment saveMean, MemorySegment saveRstd,
                                            MemorySegment runningMean, MemorySegment runningVar,
                                            MemorySegment inp, MemorySegment res, MemorySegment gamma,
                                            MemorySegment beta, double eps, double momentum, int flags,
                                            Layout layout, long n, long c, long s, boolean requireNative) {
        long count = dimensions(layout, n, c, s);
        DType dtype = flags(flags, TRAINING_FLAGS, "USE_SCALE | USE_SHIFT | UPDATE_RUNNING | FUSE_RELU | FUSE_ADD"
                + DATA_NAMES);
        eps(eps);
        if ((flags & UPDATE_RUNNING) != 0) {
            momentum(momentum);
        }
        if (n * s == 1) { // n, s >= 1 and n*c*s did not overflow
            throw new IllegalArgumentException("inp: expected more than 1 value per channel when training, got N="
                    + n + ", S=" + s + " (M = N*S = 1)");
        }
        Buffers b = new Buffers(count, dtype, c, requireNative);
        b.output("out", out, true, ALWAYS);
        b.output("saveMean", saveMean, false, ALWAYS);
        b.output("saveRstd", saveRstd, false, ALWAYS);
        b.output("runningMean", runningMean, false, bit(flags, UPDATE_RUNNING, "flags", "UPDATE_RUNNING"));
        b.output("runningVar", runningVar, false, bit(flags, UPDATE_RUNNING, "flags", "UPDATE_RUNNING"));
        b.input("inp", inp, true, ALWAYS);
        b.input("res", res, true, bit(flags, FUSE_ADD, "flags", "FUSE_ADD"));
        b.input("gamma", gamma, false, bit(flags, USE_SCALE, "flags", "USE_SCALE"));
        b.input("beta", beta, false, bit(flags, USE_SHIFT, "flags", "USE_SHIFT"));
        b.checkOverlaps(FORWARD_IDENTITIES);
    }

    /** Validates the arguments of {@link BatchNormKernels#forwardInference}. */
    public static void checkForwardInference(MemorySegment out, MemorySegment inp, MemorySegment res,
                                             MemorySegment mean, MemorySegment var, MemorySegment gamma,
                                             MemorySegment beta, double eps, int flags, Layout layout,
                                             long n, long c, long s, boolean requireNative) {
        long count = dimensions(layout, n, c, s);
        DType dtype = flags(flags, INFERENCE_FLAGS, FORWARD_NAMES);
        eps(eps);
        Buffers b = new Buffers(count, dtype, c, requireNative);
        b.output("out", out, true, ALWAYS);
        b.input("inp", inp, true, ALWAYS);
        b.input("res", res, true, bit(flags, FUSE_ADD, "flags", "FUSE_ADD"));
        b.input("mean", mean, false, ALWAYS);
        b.input("var", var, false, ALWAYS);
        b.input("gamma", gamma, false, bit(flags, USE_SCALE, "flags", "USE_SCALE"));
        b.input("beta", beta, false, bit(flags, USE_SHIFT, "flags", "USE_SHIFT"));
        b.checkOverlaps(FORWARD_IDENTITIES);
    }

    /** Validates the arguments of {@link BatchNormKernels#backward}. */
    public static void checkBackward(MemorySegment dinp, MemorySegment dres, MemorySegment dgamma,
                                     MemorySegment dbeta, MemorySegment dout, MemorySegment out,
                                     MemorySegment inp, MemorySegment gamma, MemorySegment mean,
                                     MemorySegment rstd, int flags, int mask,
                                     Layout layout, long n, long c, long s, boolean requireNative) {
        long count = dimensions(layout, n, c, s);
        DType dtype = flags(flags, BACKWARD_FLAGS, "USE_SCALE | USE_GLOBAL_STATS | FUSE_RELU | FUSE_ADD" + DATA_NAMES);
        mask(mask, flags);
        boolean global = (flags & USE_GLOBAL_STATS) != 0;
        boolean wantScale = (mask & DIFF_SCALE) != 0;
        Buffers b = new Buffers(count, dtype, c, requireNative);
        b.output("dinp", dinp, true, bit(mask, DIFF_INP, "mask", "DIFF_INP"));
        b.output("dres", dres, true, bit(mask, DIFF_RES, "mask", "DIFF_RES"));
        b.output("dgamma", dgamma, false, bit(mask, DIFF_SCALE, "mask", "DIFF_SCALE"));
        b.output("dbeta", dbeta, false, bit(mask, DIFF_SHIFT, "mask", "DIFF_SHIFT"));
        b.input("dout", dout, true, ALWAYS);
        b.input("out", out, true, bit(flags, FUSE_RELU, "flags", "FUSE_RELU"));
        if (!global) {
            b.input("inp", inp, true, always("flags lacks USE_GLOBAL_STATS"));
        } else if (wantScale) {
            b.input("inp", inp, true, always("mask has DIFF_SCALE"));
        } else if (inp != null) {
            b.input("inp", inp, true, ALWAYS); // not read, but validated when given
        }
        b.input("gamma", gamma, false, bit(flags, USE_SCALE, "flags", "USE_SCALE"));
        b.input("mean", mean, false, ALWAYS);
        b.input("rstd", rstd, false, ALWAYS);
        b.checkOverlaps(BACKWARD_IDENTITIES);
    }

    // ---- scalar helpers ----

    /** A backward mask: a non-empty subset of ALL_MASK, with DIFF_RES only when flags has FUSE_ADD. */
    private static void mask(int mask, int flags) {
        if (mask == 0 || (mask & ~ALL_MASK) != 0) {
            throw new IllegalArgumentException("mask: expected a non-empty subset of 0x" + Integer.toHexString(ALL_MASK)
                    + " (DIFF_INP | DIFF_SCALE | DIFF_SHIFT | DIFF_RES), got 0x" + Integer.toHexString(mask));
        }
        if ((mask & DIFF_RES) != 0 && (flags & FUSE_ADD) == 0) {
            throw new IllegalArgumentException("mask: expected DIFF_RES only with flags FUSE_ADD, got mask 0x"
                    + Integer.toHexString(mask) + " and flags 0x" + Integer.toHexString(flags));
        }
    }

    /** Checks layout and dimensions; returns N*C*S (whose size in bytes fits in a long). */
    private static long dimensions(Layout layout, long n, long c, long s) {
        if (layout == null) {
            throw new IllegalArgumentException("layout: expected one of NC, NCHW, NHWC, got null");
        }
        positive("n", n);
        positive("c", c);
        positive("s", s);
        if (layout == Layout.NC && s != 1) {
            throw new IllegalArgumentException("s: expected 1 for layout NC, got " + s);
        }
        try {
            long count = Math.multiplyExact(Math.multiplyExact(n, c), s);
            Math.multiplyExact(count, 4L);
            return count;
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("n, c, s: expected N*C*S*4 bytes to fit in a long, got N=" + n
                    + ", C=" + c + ", S=" + s);
        }
    }

    private static void positive(String name, long value) {
        if (value < 1) {
            throw new IllegalArgumentException(name + ": expected at least 1, got " + value);
        }
    }

    /** Checks that flags are a subset of {@code allowed}; returns the activations' dtype they name. */
    private static DType flags(int flags, int allowed, String names) {
        if ((flags & ~allowed) != 0) {
            throw new IllegalArgumentException("flags: expected a subset of 0x" + Integer.toHexString(allowed)
                    + " (" + names + "), got 0x" + Integer.toHexString(flags));
        }
        return DType.ofFlags(flags);
    }

    private static void eps(double eps) {
        if (!(Double.isFinite(eps) && eps > 0)) {
            throw new IllegalArgumentException("eps: expected a finite number > 0, got " + eps);
        }
    }

    private static void momentum(double momentum) {
        if (!(momentum >= 0 && momentum <= 1)) { // also rejects NaN
            throw new IllegalArgumentException("momentum: expected a number in [0, 1] with UPDATE_RUNNING, got "
                    + momentum);
        }
    }

    /**
     * Whether a buffer must be given (true) or must be null (false), and why. The reason is built
     * only when a check fails, so a passing call allocates no strings.
     */
    private record Need(boolean required, String what, String name, String fixedReason) {
        String reason() {
            return fixedReason != null ? fixedReason : what + (required ? " has " : " lacks ") + name;
        }
    }

    private static final Need ALWAYS = new Need(true, null, null, "");

    /** A buffer governed by a flag or mask bit: required with it, null without it. */
    private static Need bit(int bits, int bit, String what, String name) {
        return new Need((bits & bit) != 0, what, name, null);
    }

    private static Need always(String reason) {
        return new Need(true, null, null, reason);
    }

    /** Output/input pairs that may be the very same buffer (bn.h's aliasing rules). */
    private static final String[][] FORWARD_IDENTITIES = {{"out", "inp"}, {"out", "res"}};
    private static final String[][] BACKWARD_IDENTITIES = {{"dinp", "dout"}, {"dinp", "inp"}, {"dres", "dout"}};

    // ---- buffer helpers ----

    /**
     * A validated, present buffer: the extent the kernel touches, [start, start + bytes), in the
     * memory named by {@code base}: null for native memory (start is the address), a heap
     * segment's array (start is the offset in it), or a new object for a heap segment that hides
     * its array (so that it is compared with nothing). Two extents can overlap only with the
     * same base.
     */
    private record Buffer(String name, boolean output, Object base, long start, long bytes) {
        static Buffer of(String name, MemorySegment segment, long bytes, boolean output) {
            Object base = segment.isNative() ? null : segment.heapBase().orElseGet(Object::new);
            return new Buffer(name, output, base, segment.address(), bytes);
        }

        boolean overlaps(Buffer o) {
            return base == o.base && start < o.start + o.bytes && o.start < start + bytes;
        }
    }

    /** Collects and validates the buffers of one call, then checks their overlaps. */
    private static final class Buffers {
        private final long count;
        private final DType dtype;
        private final long channels;
        private final boolean requireNative;
        private static final int MAX_BUFFERS = 12; // the most a kernel takes: 11 (backwardApply)
        private final Buffer[] present = new Buffer[MAX_BUFFERS];
        private int size;

        /** @param dtype the element type of the (N,C,S) buffers */
        Buffers(long count, DType dtype, long channels, boolean requireNative) {
            this.count = count;
            this.dtype = dtype;
            this.channels = channels;
            this.requireNative = requireNative;
        }

        void output(String name, MemorySegment segment, boolean tensor, Need need) {
            add(name, segment, tensor, need, true);
        }

        void input(String name, MemorySegment segment, boolean tensor, Need need) {
            add(name, segment, tensor, need, false);
        }

        /** @param tensor (N,C,S) of {@link #dtype} if true, else (C,) floats */
        private void add(String name, MemorySegment segment, boolean tensor, Need need, boolean output) {
            if (!tensor || dtype == DType.F32) {
                long floats = tensor ? count : channels;
                add(name, segment, floats * 4, tensor ? "N*C*S" : "C", floats, "floats", 4, need, output);
            } else {
                add(name, segment, count * dtype.bytes(), "N*C*S", count,
                        dtype == DType.BF16 ? "BF16 elements" : "F16 elements", dtype.bytes(), need, output);
            }
        }

        /**
         * A buffer of {@code bytes}, {@code elements} elements ({@code formula} = {@code elements}
         * {@code unit}, for the message), aligned to {@code align} bytes. The messages are built
         * only when a check fails: a small call's checks must cost little next to its kernel.
         */
        void add(String name, MemorySegment segment, long bytes, String formula, long elements, String unit,
                 int align, Need need, boolean output) {
            if (!need.required()) {
                if (segment != null) {
                    throw new IllegalArgumentException(name + ": expected null because " + need.reason()
                            + ", got a segment");
                }
                return;
            }
            if (segment == null) {
                throw new IllegalArgumentException(name + ": expected a segment"
                        + (need.reason().isEmpty() ? "" : " because " + need.reason()) + ", got null");
            }
            if (!segment.scope().isAlive()) {
                throw new IllegalStateException(name + ": segment is closed");
            }
            if (!segment.isAccessibleBy(Thread.currentThread())) {
                throw new WrongThreadException(name + ": segment is not accessible by thread "
                        + Thread.currentThread().getName() + " (confined to another thread)");
            }
            if (requireNative && !segment.isNative()) {
                throw new IllegalArgumentException(name + ": expected a native (off-heap) segment, got a heap segment");
            }
            if (output && segment.isReadOnly()) {
                throw new IllegalArgumentException(name + ": expected a writable segment, got a read-only segment");
            }
            if (segment.address() % align != 0) {
                throw new IllegalArgumentException(name + ": expected a " + align + "-byte aligned address, got "
                        + (segment.isNative() ? "0x" + Long.toHexString(segment.address())
                                              : "heap offset " + segment.address()));
            }
            if (segment.byteSize() < bytes) {
                throw new IllegalArgumentException(name + ": expected at least " + bytes + " bytes ("
                        + formula + " = " + elements + " " + unit + "), got " + segment.byteSize());
            }
            present[size++] = Buffer.of(name, segment, bytes, output);
        }

        /** Rejects any overlap of an output with another buffer, except the listed identities. */
        void checkOverlaps(String[][] allowedIdentities) {
            for (int i = 0; i < size; i++) {
                Buffer a = present[i];
                if (!a.output()) {
                    continue;
                }
                for (int j = 0; j < size; j++) {
                    Buffer b = present[j];
                    if (i == j || (b.output() && j < i) || !a.overlaps(b)) {
                        continue;
                    }
                    boolean mayBeIdentical = allowed(allowedIdentities, a.name(), b.name());
                    if (mayBeIdentical && a.start() == b.start()) {
                        continue;
                    }
                    throw new IllegalArgumentException(a.name() + ": expected no overlap with " + b.name()
                            + (mayBeIdentical ? " except exact identity (" + a.name() + " == " + b.name() + ")" : "")
                            + ", got " + describe(a) + " and " + describe(b));
                }
            }
        }

        private static boolean allowed(String[][] pairs, String output, String other) {
            for (String[] p : pairs) {
                if (p[0].equals(output) && p[1].equals(other)) {
                    return true;
                }
            }
            return false;
        }

        private static String describe(Buffer b) {
            return b.name() + " at [" + (b.base() == null ? "0x" + Long.toHexString(b.start()) : "heap " + b.start())
                    + ", +" + b.bytes() + ")";
        }
    }

    // ---- split phase (SplitKernels): the same rules; statistics are doubles, 8-byte aligned ----


    /** Validates the arguments of {@link SplitKernels#statsLocal}. */
    public static void checkStatsLocal(MemorySegment stats, MemorySegment inp, int flags, Layout layout, long n,
                                       long c, long s, boolean requireNative) {
        long count = dimensions(layout, n, c, s);
        DType dtype = flags(flags, DATA, "DATA_BF16 | DATA_F16");
        Buffers b = new Buffers(count, dtype, c, requireNative);
        b.add("stats", stats, 24 * c, "3*C", 3 * c, "doubles", 8, ALWAYS, true);
        b.input("inp", inp, true, ALWAYS);
        b.checkOverlaps(NO_IDENTITIES);
    }

    /** Validates the arguments of {@link SplitKernels#statsMerge}, including the counts in {@code stats}. */
    public static void checkStatsMerge(MemorySegment mean, MemorySegment rstd, MemorySegment runningMean,
                                       MemorySegment runningVar, MemorySegment stats, double eps, double momentum,
                                       int flags, long c, long parts, boolean requireNative) {
        long doubles = parts(c, parts);
        flags(flags, UPDATE_RUNNING, "UPDATE_RUNNING");
        eps(eps);
        if ((flags & UPDATE_RUNNING) != 0) {
            momentum(momentum);
        }
        Buffers b = new Buffers(c, DType.F32, c, requireNative);
        b.add("mean", mean, 8 * c, "C", c, "doubles", 8, ALWAYS, true);
        b.add("rstd", rstd, 8 * c, "C", c, "doubles", 8, ALWAYS, true);
        b.output("runningMean", runningMean, false, bit(flags, UPDATE_RUNNING, "flags", "UPDATE_RUNNING"));
        b.output("runningVar", runningVar, false, bit(flags, UPDATE_RUNNING, "flags", "UPDATE_RUNNING"));
        b.add("stats", stats, 8 * doubles, "P*3*C", doubles, "doubles", 8, ALWAYS, false);
        b.checkOverlaps(NO_IDENTITIES);
        counts("stats", stats, c, parts, 2);
    }

    /** Validates the arguments of {@link SplitKernels#forwardApply}. */
    public static void checkForwardApply(MemorySegment out, MemorySegment inp, MemorySegment res, MemorySegment mean,
                                         MemorySegment rstd, MemorySegment gamma, MemorySegment beta, int flags,
                                         Layout layout, long n, long c, long s, boolean requireNative) {
        long count = dimensions(layout, n, c, s);
        DType dtype = flags(flags, INFERENCE_FLAGS, FORWARD_NAMES);
        Buffers b = new Buffers(count, dtype, c, requireNative);
        b.output("out", out, true, ALWAYS);
        b.input("inp", inp, true, ALWAYS);
        b.input("res", res, true, bit(flags, FUSE_ADD, "flags", "FUSE_ADD"));
        b.add("mean", mean, 8 * c, "C", c, "doubles", 8, ALWAYS, false);
        b.add("rstd", rstd, 8 * c, "C", c, "doubles", 8, ALWAYS, false);
        b.input("gamma", gamma, false, bit(flags, USE_SCALE, "flags", "USE_SCALE"));
        b.input("beta", beta, false, bit(flags, USE_SHIFT, "flags", "USE_SHIFT"));
        b.checkOverlaps(FORWARD_IDENTITIES);
    }

    /** Validates the arguments of {@link SplitKernels#backwardReduce}. */
    public static void checkBackwardReduce(MemorySegment sums, MemorySegment dout, MemorySegment out,
                                           MemorySegment inp, MemorySegment mean, int flags, Layout layout,
                                           long n, long c, long s, boolean requireNative) {
        long count = dimensions(layout, n, c, s);
        DType dtype = flags(flags, FUSE_RELU | DATA, "FUSE_RELU" + DATA_NAMES);
        Buffers b = new Buffers(count, dtype, c, requireNative);
        b.add("sums", sums, 24 * c, "3*C", 3 * c, "doubles", 8, ALWAYS, true);
        b.input("dout", dout, true, ALWAYS);
        b.input("out", out, true, bit(flags, FUSE_RELU, "flags", "FUSE_RELU"));
        b.input("inp", inp, true, ALWAYS);
        b.add("mean", mean, 8 * c, "C", c, "doubles", 8, ALWAYS, false);
        b.checkOverlaps(NO_IDENTITIES);
    }

    /** Validates the arguments of {@link SplitKernels#backwardApply}, including the counts in {@code sums}. */
    public static void checkBackwardApply(MemorySegment dinp, MemorySegment dres, MemorySegment dgamma,
                                          MemorySegment dbeta, MemorySegment dout, MemorySegment out,
                                          MemorySegment inp, MemorySegment gamma, MemorySegment mean,
                                          MemorySegment rstd, MemorySegment sums, int flags, int mask,
                                          Layout layout, long n, long c, long s, long parts,
                                          boolean requireNative) {
        long count = dimensions(layout, n, c, s);
        long doubles = parts(c, parts);
        DType dtype = flags(flags, USE_SCALE | FUSE | DATA, "USE_SCALE | FUSE_RELU | FUSE_ADD" + DATA_NAMES);
        mask(mask, flags);
        Buffers b = new Buffers(count, dtype, c, requireNative);
        b.output("dinp", dinp, true, bit(mask, DIFF_INP, "mask", "DIFF_INP"));
        b.output("dres", dres, true, bit(mask, DIFF_RES, "mask", "DIFF_RES"));
        b.output("dgamma", dgamma, false, bit(mask, DIFF_SCALE, "mask", "DIFF_SCALE"));
        b.output("dbeta", dbeta, false, bit(mask, DIFF_SHIFT, "mask", "DIFF_SHIFT"));
        b.input("dout", dout, true, ALWAYS);
        b.input("out", out, true, bit(flags, FUSE_RELU, "flags", "FUSE_RELU"));
        b.input("inp", inp, true, ALWAYS);
        b.input("gamma", gamma, false, bit(flags, USE_SCALE, "flags", "USE_SCALE"));
        b.add("mean", mean, 8 * c, "C", c, "doubles", 8, ALWAYS, false);
        b.add("rstd", rstd, 8 * c, "C", c, "doubles", 8, ALWAYS, false);
        b.add("sums", sums, 8 * doubles, "P*3*C", doubles, "doubles", 8, ALWAYS, false);
        b.checkOverlaps(BACKWARD_IDENTITIES);
        counts("sums", sums, c, parts, 1);
    }

    private static final String[][] NO_IDENTITIES = {};

    /** Checks C and P of (P, 3, C) doubles; returns P*3*C (whose size in bytes fits in a long). */
    private static long parts(long c, long parts) {
        positive("c", c);
        positive("parts", parts);
        try {
            long doubles = Math.multiplyExact(Math.multiplyExact(parts, 3L), c);
            Math.multiplyExact(doubles, 8L);
            return doubles;
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("parts, c: expected P*3*C*8 bytes to fit in a long, got P=" + parts
                    + ", C=" + c);
        }
    }

    /** The counts of (P, 3, C) statistics: whole numbers in [0, 2^53], per channel a total of at least {@code least}. */
    private static void counts(String name, MemorySegment parts, long c, long p, int least) {
        for (long ch = 0; ch < c; ch++) {
            double total = 0;
            for (long q = 0; q < p; q++) {
                double n = parts.getAtIndex(java.lang.foreign.ValueLayout.JAVA_DOUBLE_UNALIGNED, q * 3 * c + ch);
                if (!(n >= 0 && n <= 0x1p53) || n != Math.floor(n)) {
                    throw new IllegalArgumentException(name + ": expected the count of part " + q + ", channel " + ch
                            + " to be a whole number in [0, 2^53], got " + n);
                }
                total += n;
            }
            if (!(total >= least)) {
                throw new IllegalArgumentException(name + ": expected " + (least == 2
                        ? "more than 1 value per channel when training" : "at least 1 value per channel")
                        + " (all parts together), got " + (long) total + " in channel " + ch);
            }
        }
    }
}
