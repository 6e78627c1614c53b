package dev.bnorm.kernel;

/**
 * Batch normalization in double precision on double arrays, written for the tests independently of
 * {@link JavaKernels} (own index arithmetic, no segments). Arrays hold (N,C,S) in the given layout;
 * per-channel arrays are (C,); a null gamma means 1, a null beta means 0.
 */
final class Reference {

    private Reference() {
    }

    /** Element index of (n, c, s); independent of {@link Layout#index}. */
    static int at(Layout layout, int n, int c, int s, int nC, int nS) {
        return layout == Layout.NHWC ? n * nS * nC + s * nC + c : n * nC * nS + c * nS + s;
    }

    /** Biased batch statistics per channel: {mean, var}. */
    static double[][] stats(double[] x, Layout layout, int nN, int nC, int nS) {
        double[] mean = new double[nC];
        double[] var = new double[nC];
        int m = nN * nS;
        for (int c = 0; c < nC; c++) {
            double sum = 0;
            for (int n = 0; n < nN; n++) {
                for (int s = 0; s < nS; s++) {
                    sum += x[at(layout, n, c, s, nC, nS)];
                }
            }
            mean[c] = sum / m;
            double sq = 0;
            for (int n = 0; n < nN; n++) {
                for (int s = 0; s < nS; s++) {
                    double d = x[at(layout, n, c, s, nC, nS)] - mean[c];
                    sq += d * d;
                }
            }
            var[c] = sq / m;
        }
        return new double[][] {mean, var};
    }

    /** 1/sqrt(var + eps) per channel. */
    static double[] rstd(double[] var, double eps) {
        double[] r = new double[var.length];
        for (int c = 0; c < var.length; c++) {
            r[c] = 1 / Math.sqrt(var[c] + eps);
        }
        return r;
    }

    /** out = gamma*(x - mean)*rstd + beta. */
    static double[] normalize(double[] x, double[] mean, double[] rstd, double[] gamma, double[] beta,
                              Layout layout, int nN, int nC, int nS) {
        double[] out = new double[x.length];
        for (int n = 0; n < nN; n++) {
            for (int c = 0; c < nC; c++) {
                for (int s = 0; s < nS; s++) {
                    int k = at(layout, n, c, s, nC, nS);
                    out[k] = g(gamma, c) * (x[k] - mean[c]) * rstd[c] + (beta == null ? 0 : beta[c]);
                }
            }
        }
        return out;
    }

    /** Forward training: {out, mean, rstd, var(biased)}. */
    static double[][] forwardTraining(double[] x, double[] gamma, double[] beta, double eps,
                                      Layout layout, int nN, int nC, int nS) {
        double[][] st = stats(x, layout, nN, nC, nS);
        double[] rstd = rstd(st[1], eps);
        return new double[][] {normalize(x, st[0], rstd, gamma, beta, layout, nN, nC, nS), st[0], rstd, st[1]};
    }

    /**
     * Backward: {dinp, dgamma, dbeta}. With {@code global}, mean and rstd are constants
     * (dinp = gamma*rstd*dout); otherwise the batch statistics of x.
     */
    static double[][] backward(double[] dout, double[] x, double[] gamma, double[] mean, double[] rstd,
                               boolean global, Layout layout, int nN, int nC, int nS) {
        double[] dinp = new double[x.length];
        double[] dgamma = new double[nC];
        double[] dbeta = new double[nC];
        int m = nN * nS;
        for (int c = 0; c < nC; c++) {
            for (int n = 0; n < nN; n++) {
                for (int s = 0; s < nS; s++) {
                    int k = at(layout, n, c, s, nC, nS);
                    dbeta[c] += dout[k];
                    dgamma[c] += dout[k] * (x[k] - mean[c]) * rstd[c];
                }
            }
            for (int n = 0; n < nN; n++) {
                for (int s = 0; s < nS; s++) {
                    int k = at(layout, n, c, s, nC, nS);
                    double xhat = (x[k] - mean[c]) * rstd[c];
                    dinp[k] = global ? g(gamma, c) * rstd[c] * dout[k]
                            : g(gamma, c) * rstd[c] / m * (m * dout[k] - dbeta[c] - xhat * dgamma[c]);
                }
            }
        }
        return new double[][] {dinp, dgamma, dbeta};
    }

    private static double g(double[] gamma, int c) {
        return gamma == null ? 1 : gamma[c];
    }
}
