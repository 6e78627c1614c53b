package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.LinearKernels;
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
 * <p>The matrix products run on the tensors' memory (no heap copies) in {@link LinearKernels#best()}:
 * libbnorm's {@code bn_linear_forward}/{@code bn_linear_backward}, or the pure-Java loops of
 * {@link dev.bnorm.kernel.JavaLinear} where the library does not load.
 */
public final class Linear extends Module {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final LinearKernels KERNELS = LinearKernels.best();

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
        KERNELS.forward(result.segment(), inp.segment(), weight.value().segment(),
                bias == null ? null : bias.value().segment(), LinearKernels.Activation.NONE, n, in, out);
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
        KERNELS.backward(result.segment(), weight.grad().segment(), bias == null ? null : bias.grad().segment(),
                dout.segment(), savedInp.segment(), weight.value().segment(), LinearKernels.ACCUMULATE, n, in, out);
        return result;
    }

    @Override
    public String toString() {
        return "Linear(" + in + ", " + out + ", bias=" + (bias != null) + ")";
    }
}
