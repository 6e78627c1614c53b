package dev.bnorm.bench;

import static dev.bnorm.kernel.BatchNormKernels.DATA_BF16;
import static dev.bnorm.kernel.BatchNormKernels.DATA_F16;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.kernel.JavaKernels;
import dev.bnorm.kernel.Layout;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link VectorKernels} against the pure-Java oracle over awkward sizes (vector tails, one
 * channel, one row), every flag and mask, in place, blocks merged with Chan's formula (rows
 * beyond one block, runs longer than one block) and a large mean (|mean| >> std).
 */
class VectorKernelsTest {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final JavaKernels ORACLE = JavaKernels.INSTANCE;
    private static final VectorKernels VECTOR = VectorKernels.INSTANCE;

    static Stream<Shape> shapes() {
        List<Shape> shapes = new ArrayList<>();
        long[][] nc = {{2, 1}, {3, 7}, {13, 17}, {5, 64}, {2, 127}, {40, 33}, {12000, 3}}; // 12000 x 3: several row blocks
        for (long[] d : nc) {
            shapes.add(new Shape(Layout.NC, d[0] + "x" + d[1], d[0], d[1], 1));
        }
        long[][] ncs = {{1, 1, 2}, {2, 3, 7}, {3, 13, 5}, {2, 5, 49}, {4, 20, 127}, {3, 2, 1}, {2, 2, 20000}}; // S = 20000: blocks within a run
        for (long[] d : ncs) {
            for (Layout layout : new Layout[] {Layout.NCHW, Layout.NHWC}) {
                shapes.add(new Shape(layout, d[0] + "x" + d[1] + "x" + d[2], d[0], d[1], d[2]));
            }
        }
        return shapes.stream();
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void forwardTrainingMatchesOracle(Shape shape) {
        for (int flags = 0; flags <= (USE_SCALE | USE_SHIFT | UPDATE_RUNNING); flags++) {
            forwardTraining(shape, flags, false, 0);
        }
        forwardTraining(shape, USE_SCALE | USE_SHIFT | UPDATE_RUNNING, true, 0);
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void forwardTrainingKeepsAccuracyWithLargeMean(Shape shape) {
        forwardTraining(shape, USE_SCALE | USE_SHIFT | UPDATE_RUNNING, false, 1000);
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void forwardInferenceMatchesOracle(Shape shape) {
        for (int flags = 0; flags <= (USE_SCALE | USE_SHIFT); flags++) {
            for (boolean inPlace : new boolean[] {false, true}) {
                try (Arena arena = Arena.ofConfined()) {
                    long count = shape.elements();
                    long c = shape.c();
                    MemorySegment inp = Data.activation(arena, shape, 1);
                    MemorySegment mean = Data.uniform(arena, c, -1, 1, 2);
                    MemorySegment var = Data.uniform(arena, c, 0.25, 4, 3);
                    MemorySegment gamma = (flags & USE_SCALE) != 0 ? Data.uniform(arena, c, 0.5, 1.5, 4) : null;
                    MemorySegment beta = (flags & USE_SHIFT) != 0 ? Data.uniform(arena, c, -0.5, 0.5, 5) : null;
                    MemorySegment expected = Data.floats(arena, count);
                    ORACLE.forwardInference(expected, inp, mean, var, gamma, beta, 1e-5, flags,
                            shape.layout(), shape.n(), c, shape.s());
                    MemorySegment out = inPlace ? inp : Data.floats(arena, count);
                    VECTOR.forwardInference(out, inp, mean, var, gamma, beta, 1e-5, flags,
                            shape.layout(), shape.n(), c, shape.s());
                    double tol = Verify.tol(shape.m());
                    Verify.close(shape + " flags " + flags + " out", expected, out, count, tol, tol);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void backwardMatchesOracle(Shape shape) {
        for (int flags : new int[] {0, USE_SCALE, USE_GLOBAL_STATS, USE_SCALE | USE_GLOBAL_STATS}) {
            for (int mask = 1; mask <= (DIFF_INP | DIFF_SCALE | DIFF_SHIFT); mask++) {
                backward(shape, flags, mask, false);
            }
            backward(shape, flags, DIFF_INP | DIFF_SCALE | DIFF_SHIFT, true);
        }
    }

    @Test
    void rejectsHeapSegmentsWithTheArgumentsName() {
        MemorySegment heap = MemorySegment.ofArray(new float[6]);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mean = Data.floats(arena, 3);
            MemorySegment rstd = Data.floats(arena, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VECTOR.forwardTraining(
                    Data.floats(arena, 6), mean, rstd, null, null, heap, null, null, 1e-5, 0.1, 0,
                    Layout.NC, 2, 3, 1));
            assertTrue(e.getMessage().startsWith("inp"), e.getMessage());
        }
    }

    @Test
    void rejectsSixteenBitActivationsNamingTheFlags() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = Data.floats(arena, 6);
            MemorySegment mean = Data.floats(arena, 3);
            MemorySegment var = Data.uniform(arena, 3, 0.5, 1.5, 1);
            for (int data : new int[] {DATA_BF16, DATA_F16}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VECTOR.forwardInference(
                        Data.floats(arena, 6), x, mean, var, null, null, 1e-5, data, Layout.NC, 2, 3, 1));
                assertTrue(e.getMessage().startsWith("flags: expected no DATA_BF16 or DATA_F16"), e.getMessage());
            }
        }
    }

    /** Forward training against the oracle; with offset != 0 the input is offset + 0.01*x. */
    private static void forwardTraining(Shape shape, int flags, boolean inPlace, double offset) {
        if (shape.m() < 2) {
            return; // training needs M > 1 (Checks rejects it for both)
        }
        try (Arena arena = Arena.ofConfined()) {
            long count = shape.elements();
            long c = shape.c();
            MemorySegment inp = Data.activation(arena, shape, 1);
            if (offset != 0) {
                for (long i = 0; i < count; i++) {
                    inp.setAtIndex(F, i, (float) (offset + 0.01 * inp.getAtIndex(F, i)));
                }
            }
            boolean running = (flags & UPDATE_RUNNING) != 0;
            MemorySegment gamma = (flags & USE_SCALE) != 0 ? Data.uniform(arena, c, 0.5, 1.5, 2) : null;
            MemorySegment beta = (flags & USE_SHIFT) != 0 ? Data.uniform(arena, c, -0.5, 0.5, 3) : null;
            MemorySegment[] expected = new MemorySegment[5];
            MemorySegment[] actual = new MemorySegment[5];
            for (MemorySegment[] r : new MemorySegment[][] {expected, actual}) {
                r[1] = Data.floats(arena, c);
                r[2] = Data.floats(arena, c);
                r[3] = running ? Data.uniform(arena, c, -1, 1, 4) : null;
                r[4] = running ? Data.uniform(arena, c, 0.5, 2, 5) : null;
            }
            MemorySegment source = inPlace ? Data.floats(arena, count).copyFrom(inp) : inp;
            expected[0] = Data.floats(arena, count);
            actual[0] = inPlace ? inp : Data.floats(arena, count);
            ORACLE.forwardTraining(expected[0], expected[1], expected[2], expected[3], expected[4], source, gamma, beta,
                    1e-5, 0.1, flags, shape.layout(), shape.n(), c, shape.s());
            VECTOR.forwardTraining(actual[0], actual[1], actual[2], actual[3], actual[4], inp, gamma, beta,
                    1e-5, 0.1, flags, shape.layout(), shape.n(), c, shape.s());
            double tol = Verify.tol(shape.m());
            String what = shape + " flags " + flags + (inPlace ? " in place " : " ") + (offset != 0 ? "offset " + offset + " " : "");
            Verify.close(what + "out", expected[0], actual[0], count, tol, tol);
            Verify.close(what + "save_mean", expected[1], actual[1], c, tol, tol);
            Verify.close(what + "save_rstd", expected[2], actual[2], c, tol, tol);
            if (running) {
                Verify.close(what + "running_mean", expected[3], actual[3], c, tol, tol);
                Verify.close(what + "running_var", expected[4], actual[4], c, tol, tol);
            }
        }
    }

    private static void backward(Shape shape, int flags, int mask, boolean inPlace) {
        try (Arena arena = Arena.ofConfined()) {
            long count = shape.elements();
            long c = shape.c();
            MemorySegment inp = Data.activation(arena, shape, 1);
            MemorySegment dout = Data.activation(arena, shape, 2);
            MemorySegment gamma = (flags & USE_SCALE) != 0 ? Data.uniform(arena, c, 0.5, 1.5, 3) : null;
            MemorySegment mean = Data.uniform(arena, c, -1, 1, 4);
            MemorySegment rstd = Data.uniform(arena, c, 0.5, 2, 5);
            MemorySegment[] expected = new MemorySegment[3];
            MemorySegment[] actual = new MemorySegment[3];
            for (MemorySegment[] r : new MemorySegment[][] {expected, actual}) {
                r[0] = (mask & DIFF_INP) != 0 ? Data.floats(arena, count) : null;
                r[1] = (mask & DIFF_SCALE) != 0 ? Data.floats(arena, c) : null;
                r[2] = (mask & DIFF_SHIFT) != 0 ? Data.floats(arena, c) : null;
            }
            MemorySegment source = dout;
            if (inPlace) { // dinp == dout: the oracle reads a copy
                source = Data.floats(arena, count).copyFrom(dout);
                actual[0] = dout;
            }
            ORACLE.backward(expected[0], expected[1], expected[2], source, inp, gamma, mean, rstd, flags, mask,
                    shape.layout(), shape.n(), c, shape.s());
            VECTOR.backward(actual[0], actual[1], actual[2], dout, inp, gamma, mean, rstd, flags, mask,
                    shape.layout(), shape.n(), c, shape.s());
            double tol = Verify.tol(shape.m());
            String what = shape + " flags " + flags + " mask " + mask + (inPlace ? " in place " : " ");
            if (expected[0] != null) {
                Verify.closeToScale(what + "dinp", expected[0], actual[0], count, tol);
            }
            if (expected[1] != null) {
                Verify.close(what + "dgamma", expected[1], actual[1], c, Verify.sumTol(shape.m()), tol);
            }
            if (expected[2] != null) {
                Verify.close(what + "dbeta", expected[2], actual[2], c, Verify.sumTol(shape.m()), tol);
            }
        }
    }
}
