package dev.bnorm.nn;

import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Layout;

/**
 * Training forwards of Ghost Batch Normalization and Batch Renormalization in double, written from
 * the papers' formulas for the tests (independent of the kernels): on (N, C, S) values in a
 * layout, per virtual batch [bounds[v], bounds[v+1]) and channel,
 * <pre>
 *   mean = sum(x)/M, var = sum((x - mean)^2)/M, xhat = (x - mean)/sqrt(var + eps)
 *   out  = gamma*(xhat*r + d) + beta
 * </pre>
 * with r = 1, d = 0 for plain and ghost BN, and the given per-channel r and d (constants, as the
 * paper's backward treats them) for Batch Renorm.
 */
final class NormReference {

    private NormReference() {
    }

    /** A test input's format and dimensions, with N, C and S = the product of the others. */
    record Shape(Format format, long... dims) {
        int n() {
            return (int) dims[0];
        }

        int c() {
            return (int) (format == Format.NHWC ? dims[3] : dims[1]);
        }

        int s() {
            return count() / n() / c();
        }

        int count() {
            int k = 1;
            for (long d : dims) {
                k *= (int) d;
            }
            return k;
        }
    }

    /** The outputs; gamma, beta, r, d may be null (1, 0, 1, 0). */
    static double[] forward(double[] x, Layout layout, int n, int c, int s, double[] gamma, double[] beta,
                            double eps, long[] bounds, double[] r, double[] d) {
        double[] out = new double[x.length];
        for (int v = 0; v + 1 < bounds.length; v++) {
            for (int ch = 0; ch < c; ch++) {
                double[] ms = stats(x, layout, c, s, bounds[v], bounds[v + 1], ch);
                double sigma = Math.sqrt(ms[1] + eps);
                double g = gamma == null ? 1 : gamma[ch];
                double b = beta == null ? 0 : beta[ch];
                double rr = r == null ? 1 : r[ch];
                double dd = d == null ? 0 : d[ch];
                for (long i = bounds[v]; i < bounds[v + 1]; i++) {
                    for (int j = 0; j < s; j++) {
                        int k = (int) layout.index(i, ch, j, c, s);
                        out[k] = g * ((x[k] - ms[0]) / sigma * rr + dd) + b;
                    }
                }
            }
        }
        return out;
    }

    /** {mean, biased variance} of channel ch over samples [from, to), two-pass. */
    static double[] stats(double[] x, Layout layout, int c, int s, long from, long to, int ch) {
        double sum = 0;
        long m = (to - from) * s;
        for (long i = from; i < to; i++) {
            for (int j = 0; j < s; j++) {
                sum += x[(int) layout.index(i, ch, j, c, s)];
            }
        }
        double mean = sum / m;
        double m2 = 0;
        for (long i = from; i < to; i++) {
            for (int j = 0; j < s; j++) {
                double e = x[(int) layout.index(i, ch, j, c, s)] - mean;
                m2 += e * e;
            }
        }
        return new double[] {mean, m2 / m};
    }

    static double dot(double[] a, double[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += a[i] * b[i];
        }
        return sum;
    }
}
