package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.DType;
import dev.bnorm.kernel.Half;
import dev.bnorm.kernel.LinearKernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
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
 * <p>The matrix products run on the tensors' memory (no heap copies) in {@link LinearKernels#best()}:
 * libbnorm's {@code bn_linear_forward}/{@code bn_linear_backward}, or the pure-Java loops of
 * {@link dev.bnorm.kernel.JavaLinear} where the library does not load.
 *
 * <p>A {@link DType#BF16} or {@link DType#F16} input is accepted, but the product is not computed
 * in half precision: the input is widened (exactly) into float32 scratch memory of the module
 * ({@link Half#convert}: libbnorm's {@code bn_convert} where the library loads), the product runs
 * in float32 as above, and the output is that float32 result rounded once to the input's dtype.
 * Backward likewise: dout must be of the input's dtype; it and the saved input are widened, the
 * gradients computed in float32, and the input gradient rounded once to the dtype. The weight, the
 * bias and their gradients stay float32.
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
    // float32 staging of half-precision activations (used only with a BF16 or F16 input)
    private final Workspace wideInp = workspace();  // (N, in): inp widened
    private final Workspace wideOut = workspace();  // (N, out): the float32 out, or dout widened
    private final Workspace wideGrad = workspace(); // (N, in): the float32 input gradient
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

    /** @param inp {@code (N, in)}, format NC; float32, or bf16/f16 (computed in float32, see the class comment) */
    @Override
    public Tensor forward(Tensor inp) {
        checkUsable();
        checkAlive("inp", inp);
        checkInput(Input.of(inp));
        savedInp = null;
        long n = inp.n();
        DType dtype = inp.dtype();
        Tensor result = output.get(dtype, Format.NC, n, out);
        Tensor x = dtype == DType.F32 ? inp : widen(wideInp, inp);
        Tensor y = dtype == DType.F32 ? result : wideOut.get(Format.NC, n, out);
        KERNELS.forward(y.segment(), x.segment(), weight.value().segment(),
                bias == null ? null : bias.value().segment(), LinearKernels.Activation.NONE, n, in, out);
        if (y != result) {
            result.copyFrom(y); // rounded once to the dtype
        }
        savedInp = inp;
        return result;
    }

    /** {@code t} widened into float32 memory of {@code ws}. */
    private static Tensor widen(Workspace ws, Tensor t) {
        Tensor wide = ws.get(Format.NC, t.shape());
        wide.copyFrom(t);
        return wide;
    }

    @Override
    void checkInput(Input inp) {
        checkFormat("inp", inp.format(), inp, Format.NC);
        if (inp.c() != in) {
            throw new IllegalArgumentException("inp: expected " + in + " features (shape (N, " + in + ")), got " + inp);
        }
        if (inp.tensor() != null) {
            checkClear("inp", inp.tensor(), "output", output, false);
        }
    }

    @Override
    Input output(Input inp) {
        return Input.output(this, null, Format.NC, inp.n(), out);
    }

    /** @param dout {@code (N, out)}; adds dW = doutᵀ · inp and db = column sums of dout into the gradients */
    @Override
    public Tensor backward(Tensor dout) {
        checkUsable();
        checkBackward(dout, output.current(), savedInp);
        // written here, in this order: the input gradient (read: dout), then the parameter
        // gradients (read: dout and the saved inp)
        checkClear("dout", dout, "input gradient", inputGrad, false);
        checkClear("inp (saved by forward)", savedInp, "input gradient", inputGrad, false);
        for (Parameter p : bias == null ? List.of(weight) : List.of(weight, bias)) {
            checkClear("dout", dout, "parameter gradient", p.grad(), false);
            checkClear("inp (saved by forward)", savedInp, "parameter gradient", p.grad(), false);
        }
        long n = dout.n();
        DType dtype = dout.dtype(); // checked: that of the output and of the saved inp
        Tensor result = inputGrad.get(dtype, Format.NC, n, in);
        Tensor dy = dtype == DType.F32 ? dout : widen(wideOut, dout);
        Tensor x = dtype == DType.F32 ? savedInp : widen(wideInp, savedInp);
        Tensor dx = dtype == DType.F32 ? result : wideGrad.get(Format.NC, n, in);
        KERNELS.backward(dx.segment(), weight.grad().segment(), bias == null ? null : bias.grad().segment(),
                dy.segment(), x.segment(), weight.value().segment(), LinearKernels.ACCUMULATE, n, in, out);
        if (dx != result) {
            result.copyFrom(dx); // rounded once to the dtype
        }
        return result;
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
