package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A fully connected layer, PyTorch's {@code torch.nn.Linear}: {@code out = inp · Wᵀ + b} for an
 * input {@code (N, in)} and an output {@code (N, out)}, both {@link Format#NC}.
 *
 * <p>State: {@code weight} of shape {@code (out, in)} (row {@code o} holds the weights of output
 * {@code o}, as in PyTorch) and, optionally, {@code bias} of shape {@code (out,)}.
 * Default initialization, PyTorch's: weight and bias drawn from U(-1/sqrt(in), 1/sqrt(in)) with a
 * generator seeded by {@code seed}. A deliberately badly scaled initialization for experiments:
 * {@link Builder#initStd(double)} draws the weight from N(0, initStd²).
 * <pre>
 *   Linear hidden = Linear.builder(784, 100).bias(false).seed(1).build();
 *   Linear output = Linear.builder(100, 10).seed(2).build();          // with bias
 * </pre>
 * The constructors are shorthands for the builder.
 *
 * <p>Before a {@link BatchNorm1d}, the bias is redundant: batch normalization subtracts the
 * batch mean (which absorbs any constant shift) and its {@code beta} provides the shift, so
 * {@code bias = false} is the usual choice there.
 *
 * <p>The matrix products run in Java directly on the tensors' memory (no heap copies), with
 * contiguous inner loops and small register blocks: forward as dot products of input rows and
 * weight rows (2 x 4 at a time), backward as row updates ({@code dinp[n] += dout[n][o] * W[o]},
 * {@code dW[o] += dout[n][o] * inp[n]}, four source rows per pass).
 */
public final class Linear extends Module {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final int in;
    private final int out;
    private final Parameter weight;
    private final Parameter bias; // null without bias
    private final Workspace output = workspace();
    private final Workspace inputGrad = workspace();
    private Tensor savedInp;

    /**
     * A builder for a layer of {@code in} input and {@code out} output features (each at least 1);
     * the other options have defaults: bias true, PyTorch's initialization, a seed from a
     * process-wide sequence.
     */
    public static Builder builder(int in, int out) {
        return new Builder(in, out);
    }

    /** A layer with PyTorch's default initialization: weight and bias from U(-1/sqrt(in), 1/sqrt(in)). */
    public Linear(int in, int out, boolean bias, long seed) {
        this(in, out, bias, seed, false, 0);
    }

    /**
     * A layer whose weight is drawn from N(0, initStd²) (e.g. a badly scaled initialization for a
     * demonstration); the bias, if any, from PyTorch's default U(-1/sqrt(in), 1/sqrt(in)).
     *
     * @param initStd the standard deviation of the weights, finite and at least 0
     */
    public Linear(int in, int out, boolean bias, long seed, double initStd) {
        this(in, out, bias, seed, true, initStd);
    }

    private Linear(int in, int out, boolean bias, long seed, boolean normal, double initStd) {
        if (in < 1) {
            throw new IllegalArgumentException("in: expected at least 1, got " + in);
        }
        if (out < 1) {
            throw new IllegalArgumentException("out: expected at least 1, got " + out);
        }
        if (normal && !(Double.isFinite(initStd) && initStd >= 0)) {
            throw new IllegalArgumentException("initStd: expected a finite number >= 0, got " + initStd);
        }
        this.in = in;
        this.out = out;
        this.weight = registerParameter("weight", Format.NC, out, in);
        this.bias = bias ? registerParameter("bias", Format.C, out) : null;
        SplittableRandom random = new SplittableRandom(seed);
        double bound = 1 / Math.sqrt(in);
        MemorySegment w = weight.value().segment();
        for (long i = 0; i < (long) out * in; i++) {
            double v = normal ? initStd * random.nextGaussian() : random.nextDouble(-bound, bound);
            w.setAtIndex(F, i, (float) v);
        }
        if (bias) {
            MemorySegment b = this.bias.value().segment();
            for (long o = 0; o < out; o++) {
                b.setAtIndex(F, o, (float) random.nextDouble(-bound, bound));
            }
        }
    }

    /** Input features. */
    public int in() {
        return in;
    }

    /** Output features. */
    public int out() {
        return out;
    }

    /** The weight, shape (out, in). */
    public Parameter weight() {
        return weight;
    }

    /** The bias, shape (out,), or null for a layer without bias. */
    public Parameter bias() {
        return bias;
    }

    /** @param inp {@code (N, in)}, format NC */
    @Override
    public Tensor forward(Tensor inp) {
        checkUsable();
        checkTensor("inp", inp, Format.NC);
        if (inp.c() != in) {
            throw new IllegalArgumentException("inp: expected " + in + " features (shape (N, " + in + ")), got " + inp);
        }
        if (inp == output.current()) {
            throw new IllegalArgumentException("inp: expected a tensor other than this module's own output");
        }
        savedInp = null;
        long n = inp.n();
        Tensor result = output.get(Format.NC, n, out);
        forwardKernel(result.segment(), inp.segment(), weight.value().segment(),
                bias == null ? null : bias.value().segment(), n, in, out);
        savedInp = inp;
        return result;
    }

    /** @param dout {@code (N, out)}; adds dW = doutᵀ · inp and db = column sums of dout into the gradients */
    @Override
    public Tensor backward(Tensor dout) {
        checkUsable();
        checkBackward(dout, output.current(), savedInp);
        long n = dout.n();
        Tensor result = inputGrad.get(Format.NC, n, in);
        MemorySegment g = dout.segment();
        inputGradKernel(result.segment(), g, weight.value().segment(), n, in, out);
        weightGradKernel(weight.grad().segment(), g, savedInp.segment(), n, in, out);
        if (bias != null) {
            MemorySegment db = bias.grad().segment();
            for (long o = 0; o < out; o++) {
                float sum = 0;
                for (long i = 0; i < n; i++) {
                    sum += g.getAtIndex(F, i * out + o);
                }
                db.setAtIndex(F, o, db.getAtIndex(F, o) + sum);
            }
        }
        return result;
    }

    // ---- kernels: row-major, offsets in bytes; register blocks so that each load feeds several products ----

    /**
     * y (n, out) = x (n, in) · wᵀ + b, two rows of x by four rows of w at a time (8 accumulators,
     * 6 loads per 8 multiply-adds); an odd last row is computed as a pair with itself.
     */
    private static void forwardKernel(MemorySegment y, MemorySegment x, MemorySegment w, MemorySegment b,
                                      long n, int in, int out) {
        long row = 4L * in;
        for (long i = 0; i < n; i += 2) {
            boolean pair = i + 1 < n;
            long x0 = i * row;
            long x1 = pair ? x0 + row : x0;
            int o = 0;
            for (; o + 4 <= out; o += 4) {
                long w0 = o * row;
                long w1 = w0 + row;
                long w2 = w1 + row;
                long w3 = w2 + row;
                float a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
                for (int k = 0; k < in; k++) {
                    long p = 4L * k;
                    float u = x.get(F, x0 + p);
                    float v = x.get(F, x1 + p);
                    float b0 = w.get(F, w0 + p);
                    float b1 = w.get(F, w1 + p);
                    float b2 = w.get(F, w2 + p);
                    float b3 = w.get(F, w3 + p);
                    a00 += u * b0;
                    a01 += u * b1;
                    a02 += u * b2;
                    a03 += u * b3;
                    a10 += v * b0;
                    a11 += v * b1;
                    a12 += v * b2;
                    a13 += v * b3;
                }
                store(y, i * out + o, b, o, a00, a01, a02, a03);
                if (pair) {
                    store(y, (i + 1) * out + o, b, o, a10, a11, a12, a13);
                }
            }
            for (; o < out; o++) {
                float bo = b == null ? 0f : b.getAtIndex(F, o);
                y.setAtIndex(F, i * out + o, bo + dot(x, x0, w, o * row, in));
                if (pair) {
                    y.setAtIndex(F, (i + 1) * out + o, bo + dot(x, x1, w, o * row, in));
                }
            }
        }
    }

    /** y[at .. at+3] = acc + b[o .. o+3] (b may be null). */
    private static void store(MemorySegment y, long at, MemorySegment b, int o, float a0, float a1, float a2, float a3) {
        if (b != null) {
            a0 += b.getAtIndex(F, o);
            a1 += b.getAtIndex(F, o + 1);
            a2 += b.getAtIndex(F, o + 2);
            a3 += b.getAtIndex(F, o + 3);
        }
        y.setAtIndex(F, at, a0);
        y.setAtIndex(F, at + 1, a1);
        y.setAtIndex(F, at + 2, a2);
        y.setAtIndex(F, at + 3, a3);
    }

    /** sum over k of a[aOff + 4k] * b[bOff + 4k]. */
    private static float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int len) {
        float s = 0;
        for (int k = 0; k < len; k++) {
            s += a.get(F, aOff + 4L * k) * b.get(F, bOff + 4L * k);
        }
        return s;
    }

    /** dx (n, in) = g (n, out) · w (out, in), overwritten: each row of dx gains four rows of w per pass. */
    private static void inputGradKernel(MemorySegment dx, MemorySegment g, MemorySegment w, long n, int in, int out) {
        dx.fill((byte) 0);
        long row = 4L * in;
        for (long i = 0; i < n; i++) {
            long d = i * row;
            long gi = i * out;
            int o = 0;
            for (; o + 4 <= out; o += 4) {
                rank4Update(dx, d, w, o * row, row, g.getAtIndex(F, gi + o), g.getAtIndex(F, gi + o + 1),
                        g.getAtIndex(F, gi + o + 2), g.getAtIndex(F, gi + o + 3), in);
            }
            for (; o < out; o++) {
                axpy(dx, d, g.getAtIndex(F, gi + o), w, o * row, in);
            }
        }
    }

    /** dw (out, in) += gᵀ (out, n) · x (n, in): each row of dw gains four rows of x per pass. */
    private static void weightGradKernel(MemorySegment dw, MemorySegment g, MemorySegment x, long n, int in, int out) {
        long row = 4L * in;
        for (long o = 0; o < out; o++) {
            long d = o * row;
            long i = 0;
            for (; i + 4 <= n; i += 4) {
                rank4Update(dw, d, x, i * row, row, g.getAtIndex(F, i * out + o), g.getAtIndex(F, (i + 1) * out + o),
                        g.getAtIndex(F, (i + 2) * out + o), g.getAtIndex(F, (i + 3) * out + o), in);
            }
            for (; i < n; i++) {
                axpy(dw, d, g.getAtIndex(F, i * out + o), x, i * row, in);
            }
        }
    }

    /** acc[k] += c*s[k] for k in [0, len): the single-row remainder of {@link #rank4Update}. */
    private static void axpy(MemorySegment acc, long at, float c, MemorySegment s, long src, int len) {
        for (int k = 0; k < len; k++) {
            long p = 4L * k;
            acc.set(F, at + p, acc.get(F, at + p) + c * s.get(F, src + p));
        }
    }

    /**
     * acc[k] += c0*src0[k] + c1*src1[k] + c2*src2[k] + c3*src3[k] for k in [0, len), where srcJ
     * starts at {@code src + j*stride} bytes.
     */
    private static void rank4Update(MemorySegment acc, long at, MemorySegment s, long src, long stride,
                                    float c0, float c1, float c2, float c3, int len) {
        long s1 = src + stride;
        long s2 = s1 + stride;
        long s3 = s2 + stride;
        for (int k = 0; k < len; k++) {
            long p = 4L * k;
            acc.set(F, at + p, acc.get(F, at + p) + c0 * s.get(F, src + p) + c1 * s.get(F, s1 + p)
                    + c2 * s.get(F, s2 + p) + c3 * s.get(F, s3 + p));
        }
    }

    @Override
    public String toString() {
        return "Linear(" + in + ", " + out + ", bias=" + (bias != null) + ")";
    }

    /** Options of a {@link Linear}; each setter checks its argument. */
    public static final class Builder {
        /** Default seeds: distinct per layer, the same in every run that builds its layers in the same order. */
        private static final AtomicLong NEXT_SEED = new AtomicLong();

        private final int in;
        private final int out;
        private boolean bias = true;
        private Long seed;
        private double initStd = Double.NaN; // NaN: PyTorch's initialization

        private Builder(int in, int out) {
            if (in < 1) {
                throw new IllegalArgumentException("in: expected at least 1, got " + in);
            }
            if (out < 1) {
                throw new IllegalArgumentException("out: expected at least 1, got " + out);
            }
            this.in = in;
            this.out = out;
        }

        /** Whether the layer adds a bias {@code (out,)}. Default true (PyTorch's). */
        public Builder bias(boolean bias) {
            this.bias = bias;
            return this;
        }

        /**
         * The seed of the initialization: the same seed gives the same weights. Default: the next
         * value of a process-wide sequence (0, 1, 2, ... in the order the layers are built).
         */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * Draw the weight from N(0, initStd²) instead of PyTorch's U(-1/sqrt(in), 1/sqrt(in)) (e.g. a
         * badly scaled initialization for a demonstration); the bias keeps PyTorch's. Finite and
         * at least 0.
         */
        public Builder initStd(double initStd) {
            if (!(Double.isFinite(initStd) && initStd >= 0)) {
                throw new IllegalArgumentException("initStd: expected a finite number >= 0, got " + initStd);
            }
            this.initStd = initStd;
            return this;
        }

        /** A new layer in training mode, confined to this thread. */
        public Linear build() {
            long s = seed != null ? seed : NEXT_SEED.getAndIncrement();
            return new Linear(in, out, bias, s, !Double.isNaN(initStd), Double.isNaN(initStd) ? 0 : initStd);
        }
    }
}
