package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.kernel.ConvKernels;
import dev.bnorm.kernel.Kernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The residual block of ResNet-18/34, torchvision's {@code BasicBlock}:
 * <pre>
 *   out = relu(bn2(conv2(relu(bn1(conv1(inp))))) + identity)
 *   identity = inp, or downsample(inp) = bn(conv1x1, stride)(inp) when the shape changes
 * </pre>
 * conv1 is 3×3 with the block's stride and padding 1, conv2 3×3 with stride 1 and padding 1, both
 * without bias; the downsample path is added when the stride is not 1 or the channels change, as
 * torchvision's {@code ResNet._make_layer} does. State-dict keys are torchvision's:
 * {@code conv1.weight}, {@code bn1.*}, {@code conv2.weight}, {@code bn2.*},
 * {@code downsample.0.weight}, {@code downsample.1.*}. NCHW or NHWC.
 * <pre>
 *   BasicBlock block = BasicBlock.builder(64, 128).stride(2).build();
 * </pre>
 * Without batch normalization ({@link Builder#batchNorm(boolean) batchNorm(false)}, for
 * comparisons) the convolutions have a bias and the BN layers are left out.
 *
 * <p>The tail {@code relu(bn2(...) + identity)} is one fused pass of bn2 (built with
 * {@link BatchNorm.Builder#relu(boolean) relu(true)}, called with the identity as its residual),
 * which also returns the identity's gradient in backward; with {@link Builder#fused(boolean)
 * fused(false)} (for comparisons) or without BN, it is bn2 and then an add and a ReLU here.
 *
 * <p>Backward: the gradient after the last ReLU goes both ways, through bn2, conv2, ..., conv1 and
 * through the identity (or downsample); the input gradient is their sum.
 */
public final class BasicBlock extends Module {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final Conv2d conv1;
    private final BatchNorm2d bn1;  // null without batch normalization
    private final ReLU relu;
    private final Conv2d conv2;
    private final BatchNorm2d bn2;  // null without batch normalization
    private final Sequential downsample; // null for the identity
    private final Workspace output = workspace();
    private final Workspace addGrad = workspace();
    private final Workspace inputGrad = workspace();
    private Tensor savedInp;
    private final boolean fused; // bn2 + identity + ReLU in one pass of bn2
    private Tensor lastOut; // the output of the last forward: bn2's (fused) or this block's own

    /** A builder for a block from {@code in} to {@code out} channels (each at least 1); defaults: stride 1, BN on. */
    public static Builder builder(int in, int out) {
        return new Builder(in, out);
    }

    private BasicBlock(Builder b) {
        conv1 = registerChild("conv1", seeded(Conv2d.builder(b.in, b.out, 3).stride(b.stride).padding(1)
                .bias(!b.batchNorm).kernels(b.kernels), b.seed, 0).build());
        bn1 = b.batchNorm ? registerChild("bn1", BatchNorm2d.builder(b.out).kernels(b.bnKernels).build()) : null;
        relu = registerChild("relu", new ReLU());
        conv2 = registerChild("conv2", seeded(Conv2d.builder(b.out, b.out, 3).padding(1)
                .bias(!b.batchNorm).kernels(b.kernels), b.seed, 1).build());
        fused = b.fused;
        bn2 = b.batchNorm ? registerChild("bn2", BatchNorm2d.builder(b.out).relu(fused).kernels(b.bnKernels).build()) : null;
        if (b.stride != 1 || b.in != b.out) {
            Conv2d conv = seeded(Conv2d.builder(b.in, b.out, 1).stride(b.stride).bias(!b.batchNorm)
                    .kernels(b.kernels), b.seed, 2).build();
            downsample = registerChild("downsample", b.batchNorm
                    ? new Sequential(conv, BatchNorm2d.builder(b.out).kernels(b.bnKernels).build()) : new Sequential(conv));
        } else {
            downsample = null;
        }
    }

    private static Conv2d.Builder seeded(Conv2d.Builder builder, Long seed, int offset) {
        return seed == null ? builder : builder.seed(seed + offset);
    }

    /** The first 3×3 convolution (stride of the block). */
    public Conv2d conv1() {
        return conv1;
    }

    /** The first BN, or null without batch normalization. */
    public BatchNorm2d bn1() {
        return bn1;
    }

    /** The second 3×3 convolution. */
    public Conv2d conv2() {
        return conv2;
    }

    /** The second BN, or null without batch normalization. */
    public BatchNorm2d bn2() {
        return bn2;
    }

    /** The shortcut (conv 1×1, BN), or null when it is the identity. */
    public Sequential downsample() {
        return downsample;
    }

    @Override
    void checkInput(Input inp) {
        Input x = inp;
        for (Module m : path()) {
            m.checkInput(x);
            x = m.output(x);
        }
        if (bn2 != null) {
            bn2.checkInput(x); // the residual (identity) is checked by bn2's forward against its output
        }
        if (downsample != null) {
            downsample.checkInput(inp);
        }
        if (inp.tensor() != null) {
            checkClear("inp", inp.tensor(), "output", output, false);
        }
    }

    @Override
    Input output(Input inp) {
        Input x = inp;
        for (Module m : path()) {
            x = m.output(x);
        }
        return Input.output(this, null, x.format(), x.shape());
    }

    /** The modules from the input to bn2 (bn2 is part of the {@link #tail}). */
    private Module[] path() {
        return bn1 != null ? new Module[] {conv1, bn1, relu, conv2} : new Module[] {conv1, relu, conv2};
    }

    @Override
    public Tensor forward(Tensor inp) {
        checkUsable();
        checkOpen("inp", inp);
        checkInput(Input.of(inp));
        savedInp = null;
        Tensor h = inp;
        for (Module m : path()) {
            h = m.forward(h);
        }
        Tensor identity = downsample != null ? downsample.forward(inp) : inp;
        lastOut = tail(h, identity);
        savedInp = inp;
        return lastOut;
    }

    @Override
    public Tensor backward(Tensor dout) {
        checkUsable();
        checkBackward(dout, lastOut, savedInp);
        checkClear("dout", dout, "gradient of the sum", addGrad, false);
        checkClear("dout", dout, "input gradient", inputGrad, false);
        TailGrad g = tailBackward(dout);
        Tensor dh = g.dconv2();
        Module[] path = path();
        for (int i = path.length - 1; i >= 0; i--) {
            dh = path[i].backward(dh);
        }
        Tensor didentity = downsample != null ? downsample.backward(g.didentity()) : g.didentity();
        Tensor result = inputGrad.like(dh);
        MemorySegment a = dh.segment();
        MemorySegment b = didentity.segment();
        MemorySegment r = result.segment();
        for (long i = 0, n = result.size(); i < n; i++) {
            r.setAtIndex(F, i, a.getAtIndex(F, i) + b.getAtIndex(F, i));
        }
        return result;
    }

    // ---- the tail: bn2, + identity, ReLU (fused in bn2, or bn2 then the add and ReLU here) ----

    /** The gradients of the tail's inputs: conv2's output and the identity (or downsample output). */
    private record TailGrad(Tensor dconv2, Tensor didentity) {
    }

    /** out = max(bn2(c2) + identity, 0), NaN stays NaN (without BN: max(c2 + identity, 0)). */
    private Tensor tail(Tensor c2, Tensor identity) {
        if (bn2 != null && fused) {
            return bn2.forward(c2, identity); // built with relu(true): BN + Add + ReLU in one pass
        }
        Tensor h = bn2 != null ? bn2.forward(c2) : c2;
        Tensor result = output.like(h);
        MemorySegment a = h.segment();
        MemorySegment b = identity.segment();
        MemorySegment y = result.segment();
        for (long i = 0, n = h.size(); i < n; i++) {
            float v = a.getAtIndex(F, i) + b.getAtIndex(F, i);
            y.setAtIndex(F, i, v > 0f ? v : (v != v ? v : 0f));
        }
        return result;
    }

    /**
     * Fused: bn2's backward and its residual gradient. Otherwise d = dout except where the output is
     * &lt;= 0 (NaN passes, as {@link ReLU} and PyTorch), the identity's gradient, and bn2's backward of d.
     */
    private TailGrad tailBackward(Tensor dout) {
        if (bn2 != null && fused) {
            Tensor dconv2 = bn2.backward(dout);
            return new TailGrad(dconv2, bn2.residualGrad());
        }
        Tensor d = addGrad.like(dout);
        MemorySegment y = output.current().segment();
        MemorySegment dy = dout.segment();
        MemorySegment dd = d.segment();
        for (long i = 0, n = dout.size(); i < n; i++) {
            dd.setAtIndex(F, i, y.getAtIndex(F, i) <= 0f ? 0f : dy.getAtIndex(F, i));
        }
        return new TailGrad(bn2 != null ? bn2.backward(d) : d, d);
    }

    @Override
    public String toString() {
        return "BasicBlock(" + conv1.in() + ", " + conv1.out() + (bn1 == null ? ", no BN" : "")
                + (downsample != null ? ", downsample" : "") + ")";
    }

    /** Options of a {@link BasicBlock}; each setter checks its argument. */
    public static final class Builder {
        private final int in;
        private final int out;
        private int stride = 1;
        private boolean batchNorm = true;
        private boolean fused = true;
        private BatchNormKernels bnKernels = Kernels.best();
        private Long seed; // null: each convolution takes Conv2d's default seed
        private ConvKernels kernels = ConvKernels.best();

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

        /** The stride of conv1 and of the downsample path, at least 1. Default 1. */
        public Builder stride(int stride) {
            if (stride < 1) {
                throw new IllegalArgumentException("stride: expected at least 1, got " + stride);
            }
            this.stride = stride;
            return this;
        }

        /** Whether the block has its BN layers (default true); without, its convolutions have a bias. */
        public Builder batchNorm(boolean batchNorm) {
            this.batchNorm = batchNorm;
            return this;
        }

        /**
         * The seed of conv1's initialization; conv2 and the downsample convolution take the next two.
         * Default: each convolution takes {@link Conv2d.Builder#seed Conv2d's default}.
         */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * Whether bn2, the addition of the identity and the last ReLU run as one fused pass of bn2,
         * or as bn2 followed by an add and a ReLU (the same results). Default true. No effect
         * without BN.
         */
        public Builder fused(boolean fused) {
            this.fused = fused;
            return this;
        }

        /** The kernels of the BN layers, not null. Default {@link Kernels#best()}. */
        public Builder batchNormKernels(BatchNormKernels kernels) {
            if (kernels == null) {
                throw new IllegalArgumentException("batchNormKernels: expected BatchNormKernels, got null");
            }
            this.bnKernels = kernels;
            return this;
        }

        /** The convolution kernels, not null. Default {@link ConvKernels#best()}. */
        public Builder kernels(ConvKernels kernels) {
            if (kernels == null) {
                throw new IllegalArgumentException("kernels: expected ConvKernels, got null");
            }
            this.kernels = kernels;
            return this;
        }

        /** A new block in training mode, confined to this thread. */
        public BasicBlock build() {
            return new BasicBlock(this);
        }
    }
}
