package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Compare;
import java.util.Random;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;

/**
 * Backward of Linear, ReLU, Sigmoid and SoftmaxCrossEntropy against central finite differences of
 * independent double-precision forwards written here, on tiny problems; the modules' float32
 * forwards are checked against the same double forwards. Loss for a module: sum(out * R).
 */
class ModuleGradientTest {

    private static final double H = 1e-6;
    private static final double TOL = 2e-5;

    /** Central differences of f at x (x is restored). */
    static double[] numeric(ToDoubleFunction<double[]> f, double[] x) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + H;
            double up = f.applyAsDouble(x);
            x[i] = keep - H;
            double down = f.applyAsDouble(x);
            x[i] = keep;
            g[i] = (up - down) / (2 * H);
        }
        return g;
    }

    /** out[n][o] = b[o] + sum_i x[n][i] * w[o][i] in double. */
    static double[] linear(double[] x, double[] w, double[] b, int n, int in, int out) {
        double[] y = new double[n * out];
        for (int r = 0; r < n; r++) {
            for (int o = 0; o < out; o++) {
                double acc = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) {
                    acc += x[r * in + i] * w[o * in + i];
                }
                y[r * out + o] = acc;
            }
        }
        return y;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    @Test
    void linearWithAndWithoutBias() {
        for (boolean withBias : new boolean[] {true, false}) {
            int n = 7;   // register blocks of 2 and 4 rows, with remainders
            int in = 5;
            int out = 6; // blocks of 4 outputs, with a remainder
            Random random = new Random(withBias ? 1 : 2);
            double[] x = Buffers.toDouble(Buffers.gaussian(random, n * in, 0, 1));
            double[] r = Buffers.toDouble(Buffers.gaussian(random, n * out, 0, 1));
            try (Linear lin = new Linear(in, out, withBias, 42);
                 Tensor xt = Tensor.of(Format.NC, Buffers.toFloat(x), n, in);
                 Tensor rt = Tensor.of(Format.NC, Buffers.toFloat(r), n, out)) {
                double[] w = Buffers.toDouble(lin.weight().value().toArray());
                double[] b = withBias ? Buffers.toDouble(lin.bias().value().toArray()) : null;
                Compare.assertClose(linear(x, w, b, n, in, out), lin.forward(xt).toArray(), TOL, "linear out");
                Tensor dx = lin.backward(rt);
                String what = "linear bias=" + withBias;
                Compare.assertCloseToScale(numeric(v -> dot(linear(v, w, b, n, in, out), r), x.clone()),
                        dx.toArray(), TOL, what + " dinp");
                Compare.assertCloseToScale(numeric(v -> dot(linear(x, v, b, n, in, out), r), w.clone()),
                        lin.weight().grad().toArray(), TOL, what + " dweight");
                if (withBias) {
                    Compare.assertCloseToScale(numeric(v -> dot(linear(x, w, v, n, in, out), r), b.clone()),
                            lin.bias().grad().toArray(), TOL, what + " dbias");
                }
                // a second backward accumulates: the gradients double
                for (Parameter p : lin.parameters()) {
                    float[] once = p.grad().toArray();
                    lin.backward(rt);
                    float[] twice = p.grad().toArray();
                    for (int i = 0; i < once.length; i++) {
                        assertEquals(2 * once[i], twice[i], 1e-6 * (1 + Math.abs(once[i])), "accumulated " + p + "[" + i + "]");
                    }
                    lin.zeroGrad();
                    lin.backward(rt);
                }
                lin.zeroGrad();
                assertEquals(0f, lin.weight().grad().get(0, 0));
            }
        }
    }

    @Test
    void reluAndSigmoidOnAFourDimensionalTensor() {
        Random random = new Random(3);
        long[] shape = {2, 3, 2, 2};
        int count = 24;
        float[] xf = Buffers.gaussian(random, count, 0, 1);
        for (int i = 0; i < count; i++) { // keep ReLU's inputs away from its kink at 0
            xf[i] += xf[i] >= 0 ? 0.1f : -0.1f;
        }
        double[] x = Buffers.toDouble(xf);
        double[] r = Buffers.toDouble(Buffers.gaussian(random, count, 0, 1));
        record Act(Activation module, java.util.function.DoubleUnaryOperator f) {
        }
        for (Act a : new Act[] {new Act(new ReLU(), v -> Math.max(0, v)),
                                new Act(new Sigmoid(), v -> 1 / (1 + Math.exp(-v)))}) {
            try (Activation m = a.module();
                 Tensor xt = Tensor.of(Format.NHWC, xf, shape);
                 Tensor rt = Tensor.of(Format.NHWC, Buffers.toFloat(r), shape)) {
                ToDoubleFunction<double[]> loss = v -> {
                    double s = 0;
                    for (int i = 0; i < v.length; i++) {
                        s += a.f().applyAsDouble(v[i]) * r[i];
                    }
                    return s;
                };
                Tensor out = m.forward(xt);
                assertEquals(Format.NHWC, out.format());
                double[] expected = new double[count];
                for (int i = 0; i < count; i++) {
                    expected[i] = a.f().applyAsDouble(x[i]);
                }
                Compare.assertClose(expected, out.toArray(), 1e-6, m + " out");
                Compare.assertCloseToScale(numeric(loss, x.clone()), m.backward(rt).toArray(), TOL, m + " dinp");
            }
        }
    }

    /** Mean over rows of logsumexp(x[n]) - x[n][y[n]], in double. */
    static double crossEntropy(double[] x, int[] y, int k) {
        double total = 0;
        for (int n = 0; n < y.length; n++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < k; j++) {
                max = Math.max(max, x[n * k + j]);
            }
            double sum = 0;
            for (int j = 0; j < k; j++) {
                sum += Math.exp(x[n * k + j] - max);
            }
            total += max + Math.log(sum) - x[n * k + y[n]];
        }
        return total / y.length;
    }

    @Test
    void softmaxCrossEntropy() {
        Random random = new Random(4);
        int n = 4;
        int k = 5;
        double[] x = Buffers.toDouble(Buffers.gaussian(random, n * k, 0, 2));
        int[] y = {0, 4, 2, 2};
        try (SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             Tensor logits = Tensor.of(Format.NC, Buffers.toFloat(x), n, k)) {
            float value = loss.forward(logits, y);
            assertEquals(crossEntropy(x, y, k), value, 1e-6, "loss");
            Compare.assertCloseToScale(numeric(v -> crossEntropy(v, y, k), x.clone()), loss.backward().toArray(),
                    TOL, "dlogits");
            int[] best = SoftmaxCrossEntropy.argmax(logits);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < k; j++) {
                    assertTrue(logits.get(i, best[i]) >= logits.get(i, j), "argmax row " + i);
                }
            }
        }
    }

    @Test
    void crossEntropyIsStableForHugeLogits() {
        try (SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             Tensor logits = Tensor.of(Format.NC, new float[] {1e30f, 0f, -1e30f, 1000f, 1001f, 999f}, 2, 3)) {
            float value = loss.forward(logits, new int[] {0, 1});
            // row 0: the label has the largest logit by far -> 0; row 1: logsumexp(1000, 1001, 999) - 1001
            double row1 = Math.log(Math.exp(-1) + 1 + Math.exp(-2));
            assertEquals(row1 / 2, value, 1e-6);
            for (float g : loss.backward().toArray()) {
                assertTrue(Float.isFinite(g), "finite gradient");
            }
        }
    }

    @Test
    void crossEntropyChecksLabels() {
        try (SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             Tensor logits = Tensor.zeros(Format.NC, 2, 3)) {
            Fixtures.assertMessage(IllegalStateException.class, "expected a forward first", loss::backward);
            Fixtures.assertMessage(IllegalArgumentException.class, "labels: expected 2 labels",
                    () -> loss.forward(logits, new int[] {0}));
            Fixtures.assertMessage(IllegalArgumentException.class, "labels[1]: expected a class in [0, 3), got 3",
                    () -> loss.forward(logits, new int[] {0, 3}));
        }
    }

    @Test
    void chainThroughSequential() {
        // Linear -> Sigmoid -> Linear -> cross-entropy: the chain rule through Sequential.backward
        int n = 3;
        int in = 4;
        int hidden = 5;
        int k = 3;
        Random random = new Random(5);
        double[] x = Buffers.toDouble(Buffers.gaussian(random, n * in, 0, 1));
        int[] y = {2, 0, 1};
        try (Linear l1 = new Linear(in, hidden, true, 7);
             Linear l2 = new Linear(hidden, k, false, 8);
             Sequential model = new Sequential(l1, new Sigmoid(), l2);
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             Tensor xt = Tensor.of(Format.NC, Buffers.toFloat(x), n, in)) {
            double[] w1 = Buffers.toDouble(l1.weight().value().toArray());
            double[] b1 = Buffers.toDouble(l1.bias().value().toArray());
            double[] w2 = Buffers.toDouble(l2.weight().value().toArray());
            ToDoubleFunction<double[]> f = v -> {
                double[] h = linear(v, w1, b1, n, in, hidden);
                for (int i = 0; i < h.length; i++) {
                    h[i] = 1 / (1 + Math.exp(-h[i]));
                }
                return crossEntropy(linear(h, w2, null, n, hidden, k), y, k);
            };
            assertEquals(f.applyAsDouble(x), loss.forward(model.forward(xt), y), 1e-6, "loss");
            Tensor dx = model.backward(loss.backward());
            Compare.assertCloseToScale(numeric(f, x.clone()), dx.toArray(), TOL, "chain dinp");
        }
    }
}
