package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.ConvKernels;
import dev.bnorm.kernel.ConvShape;
import dev.bnorm.kernel.Layout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A 2-d convolution, PyTorch's {@code torch.nn.Conv2d} without groups and dilation: input
 * {@code (N, Cin, H, W)} (NCHW) or {@code (N, H, W, Cin)} (NHWC), output of the same format with
 * {@code out} channels and {@code Ho = (H + 2*ph - kh)/sh + 1} rows, {@code Wo} likewise
 * (formulas in {@link ConvShape}).
 *
 * <p>State: {@code weight} of shape {@code (out, in, kh, kw)} in PyTorch's order for both
 * formats, and optionally {@code bias} {@code (out,)}. Default initialization, PyTorch's: weight
 * and bias from U(-1/sqrt(in*kh*kw), 1/sqrt(in*kh*kw)), seeded by {@code seed}.
 * <pre>
 *   Conv2d conv = Conv2d.builder(16, 32, 3).padding(1).build();          // 3x3, stride 1, no bias
 *   Conv2d down = Conv2d.builder(16, 32, 1).stride(2).build();
 * </pre>
 * The bias is off by default (unlike PyTorch's): before a {@link BatchNorm2d}, which subtracts the
 * batch mean, a bias is redundant; set {@link Builder#bias(boolean)} to add one.
 *
 * <p>The kernels are {@link ConvKernels#best()} (im2col in Java over the tensors' memory, the
 * products in libbnorm's {@code bn_linear_forward}/{@code bn_linear_backward}) unless the builder
 * names others; a scratch buffer of the module's own holds the im2col matrix.
 */
public final class Conv2d extends Module {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final int in;
    private final int out;
    private final int kh;
    private final int kw;
    private final int sh;
    private final int sw;
    private final int ph;
    private final int pw;
    private final ConvKernels kernels;
    private final Parameter weight;
    private final Parameter bias; // null without bias
    private final Workspace output = workspace();
    private final Workspace inputGrad = workspace();
    private final Workspace scratch = workspace();
    private Tensor savedInp;
    private ConvShape savedShape;

    /**
     * A builder for {@code in} input and {@code out} output channels and a square kernel of
     * {@code kernel} taps per side (all at least 1); defaults: stride 1, padding 0, no bias,
     * PyTorch's initialization with a seed from a process-wide sequence.
     */
    public static Builder builder(int in, int out, int kernel) {
        return new Builder(in, out, kernel, kernel);
    }

    /** As {@link #builder(int, int, int)} with a {@code kh × kw} kernel. */
    public static Builder builder(int in, int out, int kh, int kw) {
        return new Builder(in, out, kh, kw);
    }

    private Conv2d(Builder b, long seed) {
        this.in = b.in;
        this.out = b.out;
        this.kh = b.kh;
        this.kw = b.kw;
        this.sh = b.sh;
        this.sw = b.sw;
        this.ph = b.ph;
        this.pw = b.pw;
        this.kernels = b.kernels;
        this.weight = registerParameter("weight", Format.NCHW, out, in, kh, kw);
        this.bias = b.bias ? registerParameter("bias", Format.C, out) : null;
        SplittableRandom random = new SplittableRandom(seed);
        double bound = 1 / Math.sqrt((double) in * kh * kw);
        MemorySegment w = weight.value().segment();
        for (long i = 0; i < weight.value().size(); i++) {
            w.setAtIndex(F, i, (float) random.nextDouble(-bound, bound));
        }
        if (bias != null) {
            for (long o = 0; o < out; o++) {
                bias.value().segment().setAtIndex(F, o, (float) random.nextDouble(-bound, bound));
            }
        }
    }

    /** Input channels. */
    public int in() {
        return in;
    }

    /** Output channels. */
    public int out() {
        return out;
    }

    /** The weight, shape (out, in, kh, kw). */
    public Parameter weight() {
        return weight;
    }

    /** The bias, shape (out,), or null for a layer without bias. */
    public Parameter bias() {
        return bias;
    }

    /** The kernels this layer runs on. */
    public ConvKernels kernels() {
        return kernels;
    }

    /** The convolution of this layer on {@code n} images of h×w pixels in {@code layout} (checked by {@link ConvShape}). */
    public ConvShape shape(Layout layout, long n, long h, long w) {
        return new ConvShape(layout, n, in, h, w, out, kh, kw, sh, sw, ph, pw);
    }

    /** A new layer of the same geometry and kernels with bias (initialized as the builder does), for folding. */
    Conv2d withBias(long seed) {
        return new Builder(in, out, kh, kw).stride(sh, sw).padding(ph, pw).bias(true).kernels(kernels).seed(seed).build();
    }

    /** The shape of the convolution of {@code inp} (checked: format, channels, size). */
    ConvShape shape(Input inp) {
        checkFormat("inp", inp.format(), inp, Format.NCHW, Format.NHWC);
        long[] s = inp.shape();
        boolean nhwc = inp.format() == Format.NHWC;
        long c = inp.c();
        long h = nhwc ? s[1] : s[2];
        long w = nhwc ? s[2] : s[3];
        if (c != in) {
            throw new IllegalArgumentException("inp: expected " + in + " channels, got " + inp);
        }
        if (h + 2L * ph < kh || w + 2L * pw < kw) {
            throw new IllegalArgumentException("inp: expected an image of at least " + (kh - 2 * ph) + "x" + (kw - 2 * pw)
                    + " pixels (the " + kh + "x" + kw + " kernel with padding " + ph + "," + pw + "), got " + inp);
        }
        return new ConvShape(nhwc ? Layout.NHWC : Layout.NCHW, inp.n(), in, h, w, out, kh, kw, sh, sw, ph, pw);
    }

    @Override
    void checkInput(Input inp) {
        shape(inp);
        if (inp.tensor() != null) {
            checkClear("inp", inp.tensor(), "output", output, false);
            checkClear("inp", inp.tensor(), "scratch", scratch, false);
        }
    }

    @Override
    Input output(Input inp) {
        ConvShape s = shape(inp);
        return Input.output(this, null, inp.format(), outShape(inp.format(), s));
    }

    private static long[] outShape(Format format, ConvShape s) {
        return format == Format.NHWC ? new long[] {s.n(), s.ho(), s.wo(), s.cout()}
                                     : new long[] {s.n(), s.cout(), s.ho(), s.wo()};
    }

    /** @param inp {@code (N, in, H, W)} NCHW or {@code (N, H, W, in)} NHWC */
    @Override
    public Tensor forward(Tensor inp) {
        checkUsable();
        checkOpen("inp", inp);
        checkInput(Input.of(inp));
        ConvShape s = shape(Input.of(inp));
        savedInp = null;
        Tensor result = output.get(inp.format(), outShape(inp.format(), s));
        MemorySegment work = scratch(s);
        kernels.forward(result.segment(), inp.segment(), weight.value().segment(),
                bias == null ? null : bias.value().segment(), work, s);
        savedInp = inp;
        savedShape = s;
        return result;
    }

    private MemorySegment scratch(ConvShape s) {
        long size = kernels.scratchSize(s);
        return size == 0 ? null : scratch.get(Format.C, size).segment();
    }

    /** @param dout the gradient of the output; adds dweight and dbias into the gradients */
    @Override
    public Tensor backward(Tensor dout) {
        checkUsable();
        checkBackward(dout, output.current(), savedInp);
        checkClear("dout", dout, "input gradient", inputGrad, false);
        checkClear("dout", dout, "scratch", scratch, false);
        checkClear("inp (saved by forward)", savedInp, "input gradient", inputGrad, false);
        for (Parameter p : bias == null ? new Parameter[] {weight} : new Parameter[] {weight, bias}) {
            checkClear("dout", dout, "parameter gradient", p.grad(), false);
            checkClear("inp (saved by forward)", savedInp, "parameter gradient", p.grad(), false);
        }
        ConvShape s = savedShape;
        Tensor result = inputGrad.like(savedInp);
        kernels.backward(result.segment(), weight.grad().segment(), bias == null ? null : bias.grad().segment(),
                dout.segment(), savedInp.segment(), weight.value().segment(), scratch(s), ConvKernels.ACCUMULATE, s);
        return result;
    }

    @Override
    public String toString() {
        return "Conv2d(" + in + ", " + out + ", kernel_size=(" + kh + ", " + kw + "), stride=(" + sh + ", " + sw
                + "), padding=(" + ph + ", " + pw + "), bias=" + (bias != null) + ")";
    }

    /** Options of a {@link Conv2d}; each setter checks its argument. */
    public static final class Builder {
        /** Default seeds: distinct per layer, the same in every run that builds its layers in the same order. */
        private static final AtomicLong NEXT_SEED = new AtomicLong(1L << 40);

        private final int in;
        private final int out;
        private final int kh;
        private final int kw;
        private int sh = 1;
        private int sw = 1;
        private int ph;
        private int pw;
        private boolean bias;
        private Long seed;
        private ConvKernels kernels = ConvKernels.best();

        private Builder(int in, int out, int kh, int kw) {
            positive("in", in);
            positive("out", out);
            positive("kh", kh);
            positive("kw", kw);
            this.in = in;
            this.out = out;
            this.kh = kh;
            this.kw = kw;
        }

        private static void positive(String name, int v) {
            if (v < 1) {
                throw new IllegalArgumentException(name + ": expected at least 1, got " + v);
            }
        }

        /** The step between output pixels in both directions, at least 1. Default 1. */
        public Builder stride(int stride) {
            return stride(stride, stride);
        }

        /** The step between output rows ({@code sh}) and columns ({@code sw}), each at least 1. Default 1. */
        public Builder stride(int sh, int sw) {
            positive("sh", sh);
            positive("sw", sw);
            this.sh = sh;
            this.sw = sw;
            return this;
        }

        /** Zeros added on every side, at least 0. Default 0. */
        public Builder padding(int padding) {
            return padding(padding, padding);
        }

        /** Zero rows above and below ({@code ph}), zero columns left and right ({@code pw}), each at least 0. Default 0. */
        public Builder padding(int ph, int pw) {
            if (ph < 0 || pw < 0) {
                throw new IllegalArgumentException((ph < 0 ? "ph" : "pw") + ": expected at least 0, got " + (ph < 0 ? ph : pw));
            }
            this.ph = ph;
            this.pw = pw;
            return this;
        }

        /** Whether the layer adds a bias {@code (out,)}. Default false (a BatchNorm2d usually follows). */
        public Builder bias(boolean bias) {
            this.bias = bias;
            return this;
        }

        /** The seed of the initialization. Default: the next value of a process-wide sequence. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** The kernels, not null. Default {@link ConvKernels#best()}. */
        public Builder kernels(ConvKernels kernels) {
            if (kernels == null) {
                throw new IllegalArgumentException("kernels: expected ConvKernels, got null");
            }
            this.kernels = kernels;
            return this;
        }

        /** A new layer in training mode, confined to this thread. */
        public Conv2d build() {
            return new Conv2d(this, seed != null ? seed : NEXT_SEED.getAndIncrement());
        }
    }
}
