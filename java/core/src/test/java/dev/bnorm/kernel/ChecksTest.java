package dev.bnorm.kernel;

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
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.internal.Checks;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every error path of {@link Checks}, through {@link JavaKernels} (and {@link Checks} directly for
 * requireNative): the exception type, a message that starts with the argument's name and contains
 * the expected fragment, and every buffer (outputs filled with a sentinel, running stats, inputs)
 * unchanged after the rejected call. Also the calls that must be accepted.
 */
class ChecksTest {

    static final int N = 4;
    static final int C = 3;
    static final int S = 5;
    static final int COUNT = N * C * S;
    static final float SENTINEL = -12345.5f;
    static final Class<IllegalArgumentException> IAE = IllegalArgumentException.class;
    static final Class<IllegalStateException> ISE = IllegalStateException.class;

    private Arena arena;

    @BeforeEach
    void open() {
        arena = Arena.ofConfined();
    }

    @AfterEach
    void close() {
        arena.close();
    }

    /** A valid call whose arguments the tests break one at a time. */
    abstract static class Call {
        final Arena arena;
        final Random random = new Random(7);
        final List<MemorySegment> originals = new ArrayList<>();
        double eps = 1e-5;
        int flags;
        Layout layout = Layout.NCHW;
        long n = N;
        long c = C;
        long s = S;

        Call(Arena arena) {
            this.arena = arena;
        }

        MemorySegment data(int count) {
            return keep(Buffers.of(arena, Buffers.uniform(random, count, 0.5, 2)));
        }

        MemorySegment sentinel(int count) {
            return keep(Buffers.filled(arena, count, SENTINEL));
        }

        private MemorySegment keep(MemorySegment segment) {
            originals.add(segment);
            return segment;
        }

        /** A segment of {@code floats} floats from an arena that is already closed. */
        MemorySegment closed(int floats) {
            Arena other = Arena.ofConfined();
            MemorySegment segment = other.allocate(4L * floats, 4);
            other.close();
            return segment;
        }

        /** A large enough segment at an address that is not a multiple of 4. */
        MemorySegment misaligned(int floats) {
            return arena.allocate(4L * floats + 4, 4).asSlice(1, 4L * floats);
        }

        /** Two kept slices of one segment, each of {@code floats} floats, the second {@code shift} floats later. */
        MemorySegment[] pair(int floats, int shift) {
            MemorySegment both = data(floats + shift);
            return new MemorySegment[] {both.asSlice(0, 4L * floats), both.asSlice(4L * shift, 4L * floats)};
        }

        /** A segment one 16-bit element too small for {@code count} of them, 2-byte aligned. */
        MemorySegment smallHalf(int count) {
            return arena.allocate(2L * count - 2, 2);
        }

        /** A segment of {@code count} 16-bit elements at an odd address. */
        MemorySegment oddHalf(int count) {
            return arena.allocate(2L * count + 2, 2).asSlice(1, 2L * count);
        }

        /** A segment one float too small. */
        MemorySegment small(int floats) {
            return arena.allocate(4L * floats - 4, 4);
        }

        abstract void run();

        abstract void check(boolean requireNative);
    }

    static final class Training extends Call {
        MemorySegment out = sentinel(COUNT);
        MemorySegment saveMean = sentinel(C);
        MemorySegment saveRstd = sentinel(C);
        MemorySegment runningMean = data(C);
        MemorySegment runningVar = data(C);
        MemorySegment inp = data(COUNT);
        MemorySegment res;
        MemorySegment gamma = data(C);
        MemorySegment beta = data(C);
        double momentum = 0.1;

        Training(Arena arena) {
            super(arena);
            flags = USE_SCALE | USE_SHIFT | UPDATE_RUNNING;
        }

        @Override
        void run() {
            JavaKernels.INSTANCE.forwardTraining(out, saveMean, saveRstd, runningMean, runningVar, inp, res, gamma,
                    beta, eps, momentum, flags, layout, n, c, s);
        }

        @Override
        void check(boolean requireNative) {
            Checks.checkForwardTraining(out, saveMean, saveRstd, runningMean, runningVar, inp, res, gamma, beta,
                    eps, momentum, flags, layout, n, c, s, requireNative);
        }
    }

    static final class Inference extends Call {
        MemorySegment out = sentinel(COUNT);
        MemorySegment inp = data(COUNT);
        MemorySegment res;
        MemorySegment mean = data(C);
        MemorySegment var = data(C);
        MemorySegment gamma = data(C);
        MemorySegment beta = data(C);

        Inference(Arena arena) {
            super(arena);
            flags = USE_SCALE | USE_SHIFT;
        }

        @Override
        void run() {
            JavaKernels.INSTANCE.forwardInference(out, inp, res, mean, var, gamma, beta, eps, flags, layout, n, c, s);
        }

        @Override
        void check(boolean requireNative) {
            Checks.checkForwardInference(out, inp, res, mean, var, gamma, beta, eps, flags, layout, n, c, s,
                    requireNative);
        }
    }

    static final class Backward extends Call {
        MemorySegment dinp = sentinel(COUNT);
        MemorySegment dres;
        MemorySegment dgamma = sentinel(C);
        MemorySegment dbeta = sentinel(C);
        MemorySegment dout = data(COUNT);
        MemorySegment out;
        MemorySegment inp = data(COUNT);
        MemorySegment gamma = data(C);
        MemorySegment mean = data(C);
        MemorySegment rstd = data(C);
        int mask = DIFF_INP | DIFF_SCALE | DIFF_SHIFT;

        Backward(Arena arena) {
            super(arena);
            flags = USE_SCALE;
        }

        @Override
        void run() {
            JavaKernels.INSTANCE.backward(dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, flags, mask,
                    layout, n, c, s);
        }

        @Override
        void check(boolean requireNative) {
            Checks.checkBackward(dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, flags, mask,
                    layout, n, c, s, requireNative);
        }
    }

    private static Arguments reject(String name, Consumer<? extends Call> breakIt, Class<? extends Throwable> type,
                                    String argument, String fragment) {
        return Arguments.of(name, breakIt, type, argument, fragment);
    }

    /** Common to all three kernels: dimensions, layout, eps-free checks. */
    private static List<Arguments> dimensionErrors() {
        return List.of(
                reject("n = 0", (Call t) -> t.n = 0, IAE, "n", "expected at least 1, got 0"),
                reject("n < 0", (Call t) -> t.n = -3, IAE, "n", "got -3"),
                reject("c = 0", (Call t) -> t.c = 0, IAE, "c", "expected at least 1, got 0"),
                reject("s = 0", (Call t) -> t.s = 0, IAE, "s", "expected at least 1, got 0"),
                reject("NC with s != 1", (Call t) -> t.layout = Layout.NC, IAE, "s", "expected 1 for layout NC, got 5"),
                reject("layout null", (Call t) -> t.layout = null, IAE, "layout", "got null"),
                reject("N*C*S overflows", (Call t) -> { t.n = Long.MAX_VALUE / 2; t.c = 3; }, IAE, "n, c, s",
                        "fit in a long"),
                reject("N*C*S*4 overflows", (Call t) -> { t.n = 1L << 31; t.c = 1L << 31; t.s = 1; }, IAE,
                        "n, c, s", "fit in a long"),
                reject("flags unknown bit", (Call t) -> t.flags |= 0x100, IAE, "flags", "got 0x"),
                reject("flags both dtypes", (Call t) -> t.flags |= DATA_BF16 | DATA_F16, IAE, "flags",
                        "expected at most one of DATA_BF16 (0x40) and DATA_F16 (0x80), got 0x"),
                reject("flags all bits", (Call t) -> t.flags = -1, IAE, "flags", "got 0xffffffff"));
    }

    static Stream<Arguments> trainingErrors() {
        List<Arguments> list = new ArrayList<>(dimensionErrors());
        list.addAll(List.of(
                reject("out null", (Training t) -> t.out = null, IAE, "out", "expected a segment, got null"),
                reject("saveMean null", (Training t) -> t.saveMean = null, IAE, "saveMean", "got null"),
                reject("saveRstd null", (Training t) -> t.saveRstd = null, IAE, "saveRstd", "got null"),
                reject("inp null", (Training t) -> t.inp = null, IAE, "inp", "got null"),
                reject("gamma missing", (Training t) -> t.gamma = null, IAE, "gamma", "because flags has USE_SCALE"),
                reject("gamma without flag", (Training t) -> t.flags &= ~USE_SCALE, IAE, "gamma",
                        "expected null because flags lacks USE_SCALE, got a segment"),
                reject("beta missing", (Training t) -> t.beta = null, IAE, "beta", "because flags has USE_SHIFT"),
                reject("beta without flag", (Training t) -> t.flags &= ~USE_SHIFT, IAE, "beta",
                        "flags lacks USE_SHIFT"),
                reject("runningMean missing", (Training t) -> t.runningMean = null, IAE, "runningMean",
                        "because flags has UPDATE_RUNNING"),
                reject("runningVar missing", (Training t) -> t.runningVar = null, IAE, "runningVar",
                        "because flags has UPDATE_RUNNING"),
                reject("running stats without flag", (Training t) -> t.flags &= ~UPDATE_RUNNING, IAE, "runningMean",
                        "flags lacks UPDATE_RUNNING"),
                reject("flags USE_GLOBAL_STATS", (Training t) -> t.flags |= USE_GLOBAL_STATS, IAE, "flags",
                        "expected a subset of 0xf7"),
                reject("eps 0", (Training t) -> t.eps = 0, IAE, "eps", "expected a finite number > 0, got 0.0"),
                reject("eps < 0", (Training t) -> t.eps = -1e-5, IAE, "eps", "got -1.0E-5"),
                reject("eps NaN", (Training t) -> t.eps = Double.NaN, IAE, "eps", "got NaN"),
                reject("eps Inf", (Training t) -> t.eps = Double.POSITIVE_INFINITY, IAE, "eps", "got Infinity"),
                reject("momentum NaN", (Training t) -> t.momentum = Double.NaN, IAE, "momentum", "got NaN"),
                reject("momentum < 0", (Training t) -> t.momentum = -0.1, IAE, "momentum", "in [0, 1]"),
                reject("momentum > 1", (Training t) -> t.momentum = 1.5, IAE, "momentum", "got 1.5"),
                reject("momentum Inf", (Training t) -> t.momentum = Double.POSITIVE_INFINITY, IAE, "momentum",
                        "got Infinity"),
                reject("single value NC", (Training t) -> { t.layout = Layout.NC; t.n = 1; t.s = 1; }, IAE, "inp",
                        "expected more than 1 value per channel when training"),
                reject("single value NHWC", (Training t) -> { t.layout = Layout.NHWC; t.n = 1; t.s = 1; }, IAE,
                        "inp", "expected more than 1 value per channel when training"),
                reject("inp closed", (Training t) -> t.inp = t.closed(COUNT), ISE, "inp", "segment is closed"),
                reject("gamma closed", (Training t) -> t.gamma = t.closed(C), ISE, "gamma", "segment is closed"),
                reject("out closed", (Training t) -> t.out = t.closed(COUNT), ISE, "out", "segment is closed"),
                reject("out read-only", (Training t) -> t.out = t.out.asReadOnly(), IAE, "out", "read-only"),
                reject("saveMean read-only", (Training t) -> t.saveMean = t.saveMean.asReadOnly(), IAE, "saveMean",
                        "expected a writable segment, got a read-only segment"),
                reject("saveRstd read-only", (Training t) -> t.saveRstd = t.saveRstd.asReadOnly(), IAE, "saveRstd",
                        "read-only"),
                reject("runningMean read-only", (Training t) -> t.runningMean = t.runningMean.asReadOnly(), IAE,
                        "runningMean", "read-only"),
                reject("runningVar read-only", (Training t) -> t.runningVar = t.runningVar.asReadOnly(), IAE,
                        "runningVar", "read-only"),
                reject("inp misaligned", (Training t) -> t.inp = t.misaligned(COUNT), IAE, "inp", "4-byte aligned"),
                reject("out misaligned", (Training t) -> t.out = t.misaligned(COUNT), IAE, "out", "4-byte aligned"),
                reject("beta misaligned", (Training t) -> t.beta = t.misaligned(C), IAE, "beta", "4-byte aligned"),
                reject("inp too small", (Training t) -> t.inp = t.small(COUNT), IAE, "inp",
                        "expected at least 240 bytes (N*C*S = 60 floats), got 236"),
                reject("out too small", (Training t) -> t.out = t.small(COUNT), IAE, "out", "got 236"),
                reject("gamma too small", (Training t) -> t.gamma = t.small(C), IAE, "gamma",
                        "expected at least 12 bytes (C = 3 floats), got 8"),
                reject("saveRstd too small", (Training t) -> t.saveRstd = t.small(C), IAE, "saveRstd", "got 8"),
                reject("runningVar too small", (Training t) -> t.runningVar = t.small(C), IAE, "runningVar", "got 8"),
                reject("out overlaps inp", (Training t) -> { var p = t.pair(COUNT, 1); t.out = p[0]; t.inp = p[1]; },
                        IAE, "out", "expected no overlap with inp except exact identity (out == inp), got out at [0x"),
                reject("inp overlaps out", (Training t) -> { var p = t.pair(COUNT, 2); t.inp = p[0]; t.out = p[1]; },
                        IAE, "out", "overlap with inp"),
                reject("saveMean == saveRstd", (Training t) -> t.saveRstd = t.saveMean, IAE, "saveMean",
                        "expected no overlap with saveRstd, got saveMean at [0x"),
                reject("runningMean == gamma", (Training t) -> t.gamma = t.runningMean, IAE, "runningMean",
                        "overlap with gamma"),
                reject("out overlaps beta", (Training t) -> t.beta = t.out.asSlice(40, 12), IAE, "out",
                        "overlap with beta"),
                reject("runningVar overlaps runningMean",
                        (Training t) -> { var p = t.pair(C, 1); t.runningMean = p[0]; t.runningVar = p[1]; },
                        IAE, "runningMean", "overlap with runningVar"),
                reject("bf16 inp too small", (Training t) -> { t.flags |= DATA_BF16; t.inp = t.smallHalf(COUNT); },
                        IAE, "inp", "expected at least 120 bytes (N*C*S = 60 BF16 elements), got 118"),
                reject("f16 out too small", (Training t) -> { t.flags |= DATA_F16; t.out = t.smallHalf(COUNT); },
                        IAE, "out", "(N*C*S = 60 F16 elements), got 118"),
                reject("bf16 res too small", (Training t) -> { t.flags |= DATA_BF16 | FUSE_ADD; t.res = t.smallHalf(COUNT); },
                        IAE, "res", "expected at least 120 bytes (N*C*S = 60 BF16 elements), got 118"),
                reject("f16 out at an odd address", (Training t) -> { t.flags |= DATA_F16; t.out = t.oddHalf(COUNT); },
                        IAE, "out", "expected a 2-byte aligned address, got 0x"),
                reject("bf16 out overlaps inp by one element", (Training t) -> { t.flags |= DATA_BF16;
                            MemorySegment both = t.data(COUNT); t.out = both; t.inp = both.asSlice(2L * COUNT - 2); },
                        IAE, "out", "expected no overlap with inp except exact identity (out == inp), got out at [0x"),
                reject("float32 gamma is still 4-byte aligned with bf16", (Training t) -> { t.flags |= DATA_BF16;
                            t.gamma = t.misaligned(C); }, IAE, "gamma", "4-byte aligned"),
                reject("res missing", (Training t) -> t.flags |= FUSE_ADD, IAE, "res", "because flags has FUSE_ADD"),
                reject("res without flag", (Training t) -> t.res = t.data(COUNT), IAE, "res",
                        "expected null because flags lacks FUSE_ADD, got a segment"),
                reject("res too small", (Training t) -> { t.flags |= FUSE_ADD; t.res = t.small(COUNT); }, IAE, "res",
                        "got 236"),
                reject("out overlaps res", (Training t) -> { var p = t.pair(COUNT, 1); t.flags |= FUSE_ADD | FUSE_RELU;
                            t.out = p[0]; t.res = p[1]; }, IAE, "out",
                        "overlap with res except exact identity (out == res)")));
        return list.stream();
    }

    static Stream<Arguments> inferenceErrors() {
        List<Arguments> list = new ArrayList<>(dimensionErrors());
        list.addAll(List.of(
                reject("out null", (Inference t) -> t.out = null, IAE, "out", "got null"),
                reject("inp null", (Inference t) -> t.inp = null, IAE, "inp", "got null"),
                reject("mean null", (Inference t) -> t.mean = null, IAE, "mean", "got null"),
                reject("var null", (Inference t) -> t.var = null, IAE, "var", "got null"),
                reject("gamma missing", (Inference t) -> t.gamma = null, IAE, "gamma", "flags has USE_SCALE"),
                reject("gamma without flag", (Inference t) -> t.flags = USE_SHIFT, IAE, "gamma", "flags lacks USE_SCALE"),
                reject("beta missing", (Inference t) -> t.beta = null, IAE, "beta", "flags has USE_SHIFT"),
                reject("beta without flag", (Inference t) -> t.flags = USE_SCALE, IAE, "beta", "flags lacks USE_SHIFT"),
                reject("flags UPDATE_RUNNING", (Inference t) -> t.flags |= UPDATE_RUNNING, IAE, "flags",
                        "expected a subset of 0xf3"),
                reject("eps 0", (Inference t) -> t.eps = 0, IAE, "eps", "finite number > 0"),
                reject("eps NaN", (Inference t) -> t.eps = Double.NaN, IAE, "eps", "got NaN"),
                reject("var closed", (Inference t) -> t.var = t.closed(C), ISE, "var", "segment is closed"),
                reject("out read-only", (Inference t) -> t.out = t.out.asReadOnly(), IAE, "out", "read-only"),
                reject("mean misaligned", (Inference t) -> t.mean = t.misaligned(C), IAE, "mean", "4-byte aligned"),
                reject("var too small", (Inference t) -> t.var = t.small(C), IAE, "var", "(C = 3 floats), got 8"),
                reject("inp too small", (Inference t) -> t.inp = t.small(COUNT), IAE, "inp", "got 236"),
                reject("out overlaps inp", (Inference t) -> { var p = t.pair(COUNT, 1); t.out = p[0]; t.inp = p[1]; },
                        IAE, "out", "overlap with inp"),
                reject("out overlaps mean", (Inference t) -> t.mean = t.out.asSlice(0, 12), IAE, "out",
                        "overlap with mean"),
                reject("res missing", (Inference t) -> t.flags |= FUSE_ADD | FUSE_RELU, IAE, "res",
                        "because flags has FUSE_ADD"),
                reject("res without flag", (Inference t) -> t.res = t.data(COUNT), IAE, "res", "flags lacks FUSE_ADD")));
        return list.stream();
    }

    static Stream<Arguments> backwardErrors() {
        List<Arguments> list = new ArrayList<>(dimensionErrors());
        list.addAll(List.of(
                reject("mask 0", (Backward t) -> t.mask = 0, IAE, "mask", "non-empty subset of 0xf"),
                reject("mask unknown bit", (Backward t) -> t.mask = DIFF_INP | 0x10, IAE, "mask", "got 0x11"),
                reject("mask DIFF_RES without FUSE_ADD", (Backward t) -> t.mask |= DIFF_RES, IAE, "mask",
                        "expected DIFF_RES only with flags FUSE_ADD, got mask 0xf and flags 0x1"),
                reject("dres missing", (Backward t) -> { t.flags |= FUSE_ADD; t.mask |= DIFF_RES; }, IAE, "dres",
                        "because mask has DIFF_RES"),
                reject("dres without DIFF_RES", (Backward t) -> { t.flags |= FUSE_ADD; t.dres = t.sentinel(COUNT); },
                        IAE, "dres", "expected null because mask lacks DIFF_RES"),
                reject("out missing", (Backward t) -> t.flags |= FUSE_RELU, IAE, "out", "because flags has FUSE_RELU"),
                reject("out without FUSE_RELU", (Backward t) -> t.out = t.data(COUNT), IAE, "out",
                        "expected null because flags lacks FUSE_RELU"),
                reject("dres == dinp", (Backward t) -> { t.flags |= FUSE_ADD; t.mask |= DIFF_RES; t.dres = t.dinp; },
                        IAE, "dinp", "overlap with dres"),
                reject("dres == out", (Backward t) -> { t.flags |= FUSE_ADD | FUSE_RELU; t.mask |= DIFF_RES;
                            t.out = t.data(COUNT); t.dres = t.out; }, IAE, "dres", "overlap with out"),
                reject("mask all bits", (Backward t) -> t.mask = -1, IAE, "mask", "got 0xffffffff"),
                reject("dinp without DIFF_INP", (Backward t) -> t.mask = DIFF_SCALE | DIFF_SHIFT, IAE, "dinp",
                        "expected null because mask lacks DIFF_INP"),
                reject("dgamma without DIFF_SCALE", (Backward t) -> t.mask = DIFF_INP | DIFF_SHIFT, IAE, "dgamma",
                        "mask lacks DIFF_SCALE"),
                reject("dbeta without DIFF_SHIFT", (Backward t) -> t.mask = DIFF_INP | DIFF_SCALE, IAE, "dbeta",
                        "mask lacks DIFF_SHIFT"),
                reject("dinp missing", (Backward t) -> t.dinp = null, IAE, "dinp", "because mask has DIFF_INP"),
                reject("dgamma missing", (Backward t) -> t.dgamma = null, IAE, "dgamma", "because mask has DIFF_SCALE"),
                reject("dbeta missing", (Backward t) -> t.dbeta = null, IAE, "dbeta", "because mask has DIFF_SHIFT"),
                reject("dout null", (Backward t) -> t.dout = null, IAE, "dout", "got null"),
                reject("inp null, batch stats", (Backward t) -> t.inp = null, IAE, "inp",
                        "because flags lacks USE_GLOBAL_STATS"),
                reject("inp null, global stats, dgamma", (Backward t) -> { t.inp = null; t.flags |= USE_GLOBAL_STATS; },
                        IAE, "inp", "because mask has DIFF_SCALE"),
                reject("gamma missing", (Backward t) -> t.gamma = null, IAE, "gamma", "flags has USE_SCALE"),
                reject("gamma without flag", (Backward t) -> t.flags = 0, IAE, "gamma", "flags lacks USE_SCALE"),
                reject("mean null", (Backward t) -> t.mean = null, IAE, "mean", "got null"),
                reject("rstd null", (Backward t) -> t.rstd = null, IAE, "rstd", "got null"),
                reject("flags UPDATE_RUNNING", (Backward t) -> t.flags |= UPDATE_RUNNING, IAE, "flags",
                        "expected a subset of 0xf9"),
                reject("flags USE_SHIFT", (Backward t) -> t.flags |= USE_SHIFT, IAE, "flags", "got 0x3"),
                reject("rstd closed", (Backward t) -> t.rstd = t.closed(C), ISE, "rstd", "segment is closed"),
                reject("dinp read-only", (Backward t) -> t.dinp = t.dinp.asReadOnly(), IAE, "dinp", "read-only"),
                reject("dgamma read-only", (Backward t) -> t.dgamma = t.dgamma.asReadOnly(), IAE, "dgamma",
                        "read-only"),
                reject("mean misaligned", (Backward t) -> t.mean = t.misaligned(C), IAE, "mean", "4-byte aligned"),
                reject("dinp misaligned", (Backward t) -> t.dinp = t.misaligned(COUNT), IAE, "dinp", "4-byte aligned"),
                reject("dbeta too small", (Backward t) -> t.dbeta = t.small(C), IAE, "dbeta", "got 8"),
                reject("dout too small", (Backward t) -> t.dout = t.small(COUNT), IAE, "dout", "got 236"),
                reject("inp given (not read) too small",
                        (Backward t) -> { t.flags |= USE_GLOBAL_STATS; t.mask = DIFF_INP; t.dgamma = null;
                            t.dbeta = null; t.inp = t.small(COUNT); }, IAE, "inp", "got 236"),
                reject("dinp overlaps dout", (Backward t) -> { var p = t.pair(COUNT, 1); t.dinp = p[0]; t.dout = p[1]; },
                        IAE, "dinp", "overlap with dout"),
                reject("dinp overlaps inp", (Backward t) -> { var p = t.pair(COUNT, 3); t.inp = p[0]; t.dinp = p[1]; },
                        IAE, "dinp", "overlap with inp except exact identity (dinp == inp)"),
                reject("dgamma == dbeta", (Backward t) -> t.dbeta = t.dgamma, IAE, "dgamma", "overlap with dbeta"),
                reject("dgamma == gamma", (Backward t) -> t.gamma = t.dgamma, IAE, "dgamma", "overlap with gamma"),
                reject("dbeta overlaps dinp", (Backward t) -> { MemorySegment both = t.data(COUNT + C - 1);
                            t.dinp = both.asSlice(0, 4L * COUNT); t.dbeta = both.asSlice(4L * (COUNT - 1)); },
                        IAE, "dinp", "overlap with dbeta"),
                reject("dinp == mean start", (Backward t) -> t.mean = t.dinp, IAE, "dinp", "overlap with mean"),
                reject("f16 dout too small", (Backward t) -> { t.flags |= DATA_F16; t.dout = t.smallHalf(COUNT); },
                        IAE, "dout", "expected at least 120 bytes (N*C*S = 60 F16 elements), got 118"),
                reject("bf16 dres too small", (Backward t) -> { t.flags |= DATA_BF16 | FUSE_ADD; t.mask |= DIFF_RES;
                            t.dres = t.smallHalf(COUNT); }, IAE, "dres", "60 BF16 elements), got 118"),
                reject("bf16 out (gate) at an odd address", (Backward t) -> { t.flags |= DATA_BF16 | FUSE_RELU;
                            t.out = t.oddHalf(COUNT); }, IAE, "out", "2-byte aligned"),
                reject("f16 dinp overlaps dout by one element", (Backward t) -> { t.flags |= DATA_F16;
                            MemorySegment both = t.data(COUNT); t.dout = both; t.dinp = both.asSlice(2L * COUNT - 2); },
                        IAE, "dinp", "overlap with dout")));
        return list.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("trainingErrors")
    void trainingRejects(String name, Consumer<Training> breakIt, Class<? extends Throwable> type,
                         String argument, String fragment) {
        assertRejected(new Training(arena), breakIt, type, argument, fragment);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("inferenceErrors")
    void inferenceRejects(String name, Consumer<Inference> breakIt, Class<? extends Throwable> type,
                          String argument, String fragment) {
        assertRejected(new Inference(arena), breakIt, type, argument, fragment);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backwardErrors")
    void backwardRejects(String name, Consumer<Backward> breakIt, Class<? extends Throwable> type,
                         String argument, String fragment) {
        assertRejected(new Backward(arena), breakIt, type, argument, fragment);
    }

    @Test
    void acceptsAllowedIdentities() {
        Training training = new Training(arena);
        training.out = training.inp.asSlice(0); // another segment object, same address
        training.run();
        Inference inference = new Inference(arena);
        inference.out = inference.inp;
        inference.run();
        Backward dinpIsDout = new Backward(arena);
        dinpIsDout.dinp = dinpIsDout.dout;
        dinpIsDout.run();
        Backward dinpIsInp = new Backward(arena);
        dinpIsInp.dinp = dinpIsInp.inp;
        dinpIsInp.run();
        Backward global = new Backward(arena);
        global.flags |= USE_GLOBAL_STATS;
        global.dinp = global.inp;
        global.run();
        Training outIsRes = new Training(arena);
        outIsRes.flags |= FUSE_ADD | FUSE_RELU;
        outIsRes.res = outIsRes.out;
        outIsRes.run();
        Backward dresIsDout = new Backward(arena);
        dresIsDout.flags |= FUSE_ADD | FUSE_RELU;
        dresIsDout.mask |= DIFF_RES;
        dresIsDout.out = dresIsDout.data(COUNT);
        dresIsDout.dres = dresIsDout.dout;
        dresIsDout.run();
    }

    @Test
    void acceptsOptionalArgumentsThatAreNotRead() {
        Training training = new Training(arena);
        training.flags = 0;
        training.runningMean = null;
        training.runningVar = null;
        training.gamma = null;
        training.beta = null;
        training.momentum = Double.NaN; // ignored without UPDATE_RUNNING
        training.run();
        Backward backward = new Backward(arena);
        backward.flags = USE_GLOBAL_STATS;
        backward.gamma = null;
        backward.inp = null; // not read: global stats and no dgamma
        backward.mask = DIFF_INP | DIFF_SHIFT;
        backward.dgamma = null;
        backward.run();
    }

    @Test
    void acceptsEdgeValues() {
        Training training = new Training(arena);
        training.momentum = 0;
        training.run();
        training.momentum = 1;
        training.eps = Double.MIN_VALUE;
        training.run();
        Inference single = new Inference(arena); // M = 1 is fine in inference
        single.layout = Layout.NC;
        single.n = 1;
        single.s = 1;
        single.run();
        Training two = new Training(arena); // M = 2 is the smallest for training
        two.layout = Layout.NHWC;
        two.n = 1;
        two.s = 2;
        two.run();
    }

    @Test
    void comparesOnlyTheBytesAKernelTouches() {
        Training training = new Training(arena);
        MemorySegment both = Buffers.filled(arena, 2L * COUNT, 1);
        training.out = both;                     // larger than needed: its tail is inp
        training.inp = both.asSlice(4L * COUNT); // no overlap of the touched extents
        training.run();
    }

    @Test
    void halfExtentsAreHalfAsLongAndTwoByteAligned() {
        for (int dtype : new int[] {DATA_BF16, DATA_F16}) {
            Training training = new Training(arena);
            training.flags |= dtype;
            MemorySegment both = Buffers.filled(arena, COUNT, 1); // 4*COUNT bytes: room for two 16-bit tensors
            training.out = both.asSlice(0, 2L * COUNT);
            training.inp = both.asSlice(2L * COUNT); // touching, not overlapping
            training.run();
            Backward backward = new Backward(arena);
            backward.flags |= dtype;
            backward.dinp = arena.allocate(2L * COUNT + 2, 4).asSlice(2); // 2-byte, not 4-byte, aligned
            backward.dout = arena.allocate(2L * COUNT, 2);
            backward.inp = arena.allocate(2L * COUNT, 2);
            backward.run();
        }
    }

    @Test
    void requireNativeRejectsHeapSegments() {
        String expected = "inp: expected a native (off-heap) segment, got a heap segment";
        Training training = new Training(arena);
        training.check(true);
        training.inp = MemorySegment.ofArray(new float[COUNT]);
        assertEquals(expected, assertThrows(IAE, () -> training.check(true)).getMessage());
        training.check(false);
        Inference inference = new Inference(arena);
        inference.check(true);
        inference.inp = MemorySegment.ofArray(new float[COUNT]);
        assertEquals(expected, assertThrows(IAE, () -> inference.check(true)).getMessage());
        Backward backward = new Backward(arena);
        backward.check(true);
        backward.gamma = MemorySegment.ofArray(new float[C]);
        assertEquals("gamma: expected a native (off-heap) segment, got a heap segment",
                assertThrows(IAE, () -> backward.check(true)).getMessage());
    }

    @Test
    void heapSegments() {
        float[] shared = new float[COUNT + 1];
        Training training = new Training(arena);
        training.inp = MemorySegment.ofArray(Buffers.uniform(new Random(1), COUNT, 0, 1));
        training.out = MemorySegment.ofArray(new float[COUNT]);
        training.run(); // Java kernels take heap segments
        training.out = MemorySegment.ofArray(shared).asSlice(0, 4L * COUNT);
        training.inp = MemorySegment.ofArray(shared).asSlice(4);
        assertTrue(assertThrows(IAE, training::run).getMessage().startsWith("out: expected no overlap with inp"));
        training.inp = MemorySegment.ofArray(new float[COUNT + 1]).asSlice(2, 4L * COUNT);
        assertTrue(assertThrows(IAE, training::run).getMessage()
                .startsWith("inp: expected a 4-byte aligned address, got heap offset 2"));
    }

    @Test
    void rejectsSegmentsConfinedToAnotherThread() throws InterruptedException {
        Training training = new Training(arena);
        List<float[]> before = snapshot(training);
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread thread = new Thread(() -> {
            try {
                training.run();
            } catch (Throwable e) {
                thrown.set(e);
            }
        });
        thread.start();
        thread.join();
        assertTrue(thrown.get() instanceof WrongThreadException, () -> "got " + thrown.get());
        assertTrue(thrown.get().getMessage().startsWith("out: segment is not accessible"), thrown.get().getMessage());
        List<float[]> after = snapshot(training);
        for (int i = 0; i < before.size(); i++) {
            assertArrayEquals(before.get(i), after.get(i));
        }
    }

    /** Breaks a valid call, runs it, and checks the exception and that no buffer changed. */
    private static <T extends Call> void assertRejected(T call, Consumer<T> breakIt, Class<? extends Throwable> type,
                                                        String argument, String fragment) {
        call.check(false); // valid as built; outputs still hold the sentinel
        breakIt.accept(call);
        List<float[]> before = snapshot(call);
        Throwable e = assertThrows(type, call::run);
        assertTrue(e.getMessage().startsWith(argument + ": "),
                () -> "message should start with '" + argument + ": ': " + e.getMessage());
        assertTrue(e.getMessage().contains(fragment),
                () -> "message should contain '" + fragment + "': " + e.getMessage());
        List<float[]> after = snapshot(call);
        for (int i = 0; i < before.size(); i++) {
            assertArrayEquals(before.get(i), after.get(i), "buffer " + i + " changed by a rejected call");
        }
    }

    private static List<float[]> snapshot(Call call) {
        List<float[]> values = new ArrayList<>();
        for (MemorySegment segment : call.originals) {
            values.add(Buffers.read(segment, segment.byteSize() / 4));
        }
        return values;
    }
}
