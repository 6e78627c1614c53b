package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * A fully connected layer, PyTorch's {@code torch.nn.Linear}: {@code out = inp · Wᵀ + b} for an
 * input {@code (N, in)} and an output {@code (N, out)}, both {@link Format#NC}.
 *
 * <p>State: {@code weight} of shape {@code (out, in)} (row {@code o} holds the weights of output
 * {@code o}, as in PyTorch) and, optionally, {@code bias} of shape {@code (out,)}.
 * Default initialization, PyTorch's: weight and bias drawn from U(-1/sqrt(in), 1/sqrt(in)) with a
 * generator seeded by {@code seed}. A deliberately badly scaled initialization for experiments:
 * {@link #Linear(int, int, boolean, long, double)} draws the weight from N(0, initStd²).
 *
 * <p>Before a {@link BatchNorm1d}, the bias is redundant: batch normalization subtracts the
 * batch mean (which absorbs any constant shift) and its {@code beta} provides the shift, so
 * {@code bias = false} is the usual choice there.
 *
 * <p>The matrix products run in Java directly on the tensors' memory (no heap copies), with
 * contiguous inner loops: forward as dot products of an input row and a weight row, backward as
 * row updates ({@code dinp[n] += dout[n][o] * W[o]}, {@code dW[o] += dout[n][o] * inp[n]}).
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
        MemorySegment x = inp.segment();
        MemorySegment w = weight.value().segment();
        MemorySegment y = result.segment();
        MemorySegment b = bias == null ? null : bias.value().segment();
        for (long i = 0; i < n; i++) {
            long xRow = i * in * 4L;
            for (long o = 0; o < out; o++) {
                float acc = b == null ? 0f : b.getAtIndex(F, o);
                y.setAtIndex(F, i * out + o, acc + dot(x, xRow, w, o * in * 4L, in));
            }
        }
        savedInp = inp;
        return result;
    }

    /** sum over k of a[aOff + 4k] * b[bOff + 4k], with four independent accumulators. */
    private static float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int len) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int k = 0;
        for (; k + 3 < len; k += 4) {
            long p = 4L * k;
            s0 += a.get(F, aOff + p) * b.get(F, bOff + p);
            s1 += a.get(F, aOff + p + 4) * b.get(F, bOff + p + 4);
            s2 += a.get(F, aOff + p + 8) * b.get(F, bOff + p + 8);
            s3 += a.get(F, aOff + p + 12) * b.get(F, bOff + p + 12);
        }
        for (; k < len; k++) {
            s0 += a.get(F, aOff + 4L * k) * b.get(F, bOff + 4L * k);
        }
        return (s0 + s1) + (s2 + s3);
    }

    /** y[yOff + 4k] += alpha * x[xOff + 4k] for k in [0, len). */
    private static void axpy(MemorySegment y, long yOff, float alpha, MemorySegment x, long xOff, int len) {
        for (int k = 0; k < len; k++) {
            long p = 4L * k;
            y.set(F, yOff + p, y.get(F, yOff + p) + alpha * x.get(F, xOff + p));
        }
    }

    /** @param dout {@code (N, out)}; adds dW = doutᵀ · inp and db = column sums of dout into the gradients */
    @Override
    public Tensor backward(Tensor dout) {
        checkUsable();
        checkBackward(dout, output.current(), savedInp);
        long n = dout.n();
        Tensor result = inputGrad.get(Format.NC, n, in);
        MemorySegment dy = dout.segment();
        MemorySegment x = savedInp.segment();
        MemorySegment w = weight.value().segment();
        MemorySegment dw = weight.grad().segment();
        MemorySegment dx = result.segment();
        MemorySegment db = bias == null ? null : bias.grad().segment();
        dx.fill((byte) 0);
        for (long i = 0; i < n; i++) {
            long xRow = i * in * 4L;
            for (long o = 0; o < out; o++) {
                float g = dy.getAtIndex(F, i * out + o);
                axpy(dx, xRow, g, w, o * in * 4L, in);  // dinp[i] += g * W[o]
                axpy(dw, o * in * 4L, g, x, xRow, in);  // dW[o]   += g * inp[i]
                if (db != null) {
                    db.setAtIndex(F, o, db.getAtIndex(F, o) + g);
                }
            }
        }
        return result;
    }

    @Override
    public String toString() {
        return "Linear(" + in + ", " + out + ", bias=" + (bias != null) + ")";
    }
}
