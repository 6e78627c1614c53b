package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Finite-difference check of the backward, in two steps:
 * <ol>
 * <li>the bn.h backward formula ({@link Reference#backward}, double) against central differences
 *     (fourth-order stencil) of an independent double forward with loss = sum(out * R): relative error
 *     max|fd - formula| / max|formula| &lt;= 1e-6 for dinp, dgamma and dbeta;</li>
 * <li>{@link JavaKernels#backward} (float32 in and out) against that formula in double, within
 *     float32 tolerances ({@link Compare#tol}).</li>
 * </ol>
 * Batch statistics (training backward; the statistics depend on x) and USE_GLOBAL_STATS
 * (inference backward; mean and var are constants) over every layout, with and without scale.
 */
class GradientCheckTest {

    private static final double EPS = 1e-5;
    private static final double H = 1e-3;
    private static final double MAX_REL_ERR = 1e-6;

    record Problem(Layout layout, int n, int c, int s, boolean scale, boolean global) {
        int count() {
            return n * c * s;
        }

        int m() {
            return n * s;
        }
    }

    static List<Problem> problems() {
        List<Problem> list = new ArrayList<>();
        int[][] shapes = {{5, 3, 1}, {3, 2, 4}, {2, 3, 5}, {1, 2, 6}, {2, 1, 1}};
        for (Layout layout : Layout.values()) {
            for (int[] d : shapes) {
                if ((layout == Layout.NC) != (d[2] == 1)) {
                    continue;
                }
                for (boolean scale : new boolean[] {true, false}) {
                    for (boolean global : new boolean[] {false, true}) {
                        list.add(new Problem(layout, d[0], d[1], d[2], scale, global));
                    }
                }
            }
        }
        return list;
    }

    /** Float32-representable data for a problem: x, gamma (null without scale), beta, R, mean, var. */
    private record Data(float[] x, float[] gamma, float[] beta, float[] r, float[] mean, float[] var) {
        static Data of(Problem p) {
            Random random = new Random(31L * p.count() + p.layout().ordinal() * 7L + (p.global() ? 1 : 0));
            return new Data(
                    Buffers.gaussian(random, p.count(), 0.5, 2.0),
                    p.scale() ? Buffers.gaussian(random, p.c(), 1.0, 0.5) : null,
                    Buffers.gaussian(random, p.c(), 0.0, 0.5),
                    Buffers.gaussian(random, p.count(), 0.0, 1.0),
                    Buffers.gaussian(random, p.c(), 0.3, 1.0),
                    Buffers.uniform(random, p.c(), 0.5, 3.0));
        }
    }

    /** loss = sum(out * R), out from the double forward: batch statistics, or mean/var constants. */
    private static double loss(Problem p, double[] x, double[] gamma, double[] beta, double[] r,
                               double[] mean, double[] var) {
        double[][] st = p.global() ? new double[][] {mean, var} : Reference.stats(x, p.layout(), p.n(), p.c(), p.s());
        double[] out = Reference.normalize(x, st[0], Reference.rstd(st[1], EPS), gamma, beta,
                p.layout(), p.n(), p.c(), p.s());
        double sum = 0;
        for (int i = 0; i < out.length; i++) {
            sum += out[i] * r[i];
        }
        return sum;
    }

    /**
     * Central differences of f with respect to every element of v (perturbed in place), with the
     * fourth-order stencil (f(-2h) - 8f(-h) + 8f(h) - f(2h)) / 12h: truncation error O(h^4), which
     * allows a larger h and so less rounding error than (f(h) - f(-h)) / 2h.
     */
    private static double[] centralDifferences(double[] v, ToDoubleFunction<double[]> f) {
        double[] grad = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            double saved = v[i];
            double[] at = new double[4];
            double[] steps = {-2 * H, -H, H, 2 * H};
            for (int k = 0; k < 4; k++) {
                v[i] = saved + steps[k];
                at[k] = f.applyAsDouble(v);
            }
            v[i] = saved;
            grad[i] = (at[0] - 8 * at[1] + 8 * at[2] - at[3]) / (12 * H);
        }
        return grad;
    }

    /** The bn.h formula in double: {dinp, dgamma, dbeta}. */
    private static double[][] formula(Problem p, Data d) {
        double[] x = Buffers.toDouble(d.x());
        double[] gamma = d.gamma() == null ? null : Buffers.toDouble(d.gamma());
        double[] mean;
        double[] rstd;
        if (p.global()) {
            mean = Buffers.toDouble(d.mean());
            rstd = Reference.rstd(Buffers.toDouble(d.var()), EPS);
        } else {
            double[][] st = Reference.stats(x, p.layout(), p.n(), p.c(), p.s());
            mean = st[0];
            rstd = Reference.rstd(st[1], EPS);
        }
        return Reference.backward(Buffers.toDouble(d.r()), x, gamma, mean, rstd, p.global(),
                p.layout(), p.n(), p.c(), p.s());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("problems")
    void formulaMatchesFiniteDifferences(Problem p) {
        Data d = Data.of(p);
        double[] x = Buffers.toDouble(d.x());
        double[] gamma = d.gamma() == null ? ones(p.c()) : Buffers.toDouble(d.gamma());
        double[] beta = Buffers.toDouble(d.beta());
        double[] r = Buffers.toDouble(d.r());
        double[] mean = Buffers.toDouble(d.mean());
        double[] var = Buffers.toDouble(d.var());

        double[][] analytic = formula(p, d);
        double[] fdInp = centralDifferences(x, v -> loss(p, v, gamma, beta, r, mean, var));
        double[] fdGamma = centralDifferences(gamma, v -> loss(p, x, v, beta, r, mean, var));
        double[] fdBeta = centralDifferences(beta, v -> loss(p, x, gamma, v, r, mean, var));

        assertRelErr(fdInp, analytic[0], "dinp");
        assertRelErr(fdGamma, analytic[1], "dgamma");
        assertRelErr(fdBeta, analytic[2], "dbeta");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("problems")
    void javaKernelsMatchFormula(Problem p) {
        Data d = Data.of(p);
        double[][] expected = formula(p, d);
        int flags = (p.scale() ? USE_SCALE : 0) | (p.global() ? USE_GLOBAL_STATS : 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment inp = Buffers.of(arena, d.x());
            MemorySegment gamma = d.gamma() == null ? null : Buffers.of(arena, d.gamma());
            MemorySegment mean;
            MemorySegment rstd;
            if (p.global()) {
                mean = Buffers.of(arena, d.mean());
                rstd = Buffers.of(arena, Buffers.toFloat(Reference.rstd(Buffers.toDouble(d.var()), EPS)));
            } else { // the saved statistics of the Java forward
                mean = Buffers.filled(arena, p.c(), Float.NaN);
                rstd = Buffers.filled(arena, p.c(), Float.NaN);
                JavaKernels.INSTANCE.forwardTraining(Buffers.filled(arena, p.count(), 0), mean, rstd, null, null,
                        inp, gamma, Buffers.of(arena, d.beta()), EPS, 0, (p.scale() ? USE_SCALE : 0) | USE_SHIFT,
                        p.layout(), p.n(), p.c(), p.s());
            }
            MemorySegment dinp = Buffers.filled(arena, p.count(), Float.NaN);
            MemorySegment dgamma = Buffers.filled(arena, p.c(), Float.NaN);
            MemorySegment dbeta = Buffers.filled(arena, p.c(), Float.NaN);
            JavaKernels.INSTANCE.backward(dinp, dgamma, dbeta, Buffers.of(arena, d.r()), inp, gamma, mean, rstd,
                    flags, DIFF_INP | DIFF_SCALE | DIFF_SHIFT, p.layout(), p.n(), p.c(), p.s());
            double tol = Compare.tol(p.m());
            Compare.assertCloseToScale(expected[0], dinp, tol, p + " dinp");
            Compare.assertClose(expected[1], dgamma, Compare.sumTol(p.m()), tol, p + " dgamma");
            Compare.assertClose(expected[2], dbeta, Compare.sumTol(p.m()), tol, p + " dbeta");
        }
    }

    private static void assertRelErr(double[] fd, double[] analytic, String what) {
        double maxAbs = 0;
        double maxErr = 0;
        int worst = 0;
        for (int i = 0; i < fd.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(analytic[i]));
            double err = Math.abs(fd[i] - analytic[i]);
            if (err > maxErr) {
                maxErr = err;
                worst = i;
            }
        }
        double rel = maxErr / Math.max(maxAbs, 1e-300);
        assertTrue(rel <= MAX_REL_ERR, String.format("%s: relative error %.3g > %.1g; worst at [%d]: "
                + "finite differences %.12g, formula %.12g", what, rel, MAX_REL_ERR, worst, fd[worst], analytic[worst]));
    }

    private static double[] ones(int count) {
        double[] v = new double[count];
        Arrays.fill(v, 1);
        return v;
    }
}
