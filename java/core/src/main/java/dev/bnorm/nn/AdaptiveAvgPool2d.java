package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Global average pooling, PyTorch's {@code torch.nn.AdaptiveAvgPool2d(1)}: input
 * {@code (N, C, H, W)} NCHW or {@code (N, H, W, C)} NHWC, output {@code (N, C, 1, 1)} or
 * {@code (N, 1, 1, C)} (the same memory order), each the mean of its channel's H*W pixels summed in
 * double and rounded once. Backward spreads {@code dout / (H*W)} (in float, as PyTorch) over the
 * pixels. Only the output size 1 is implemented. A {@link Flatten} after it gives {@code (N, C)}.
 */
public final class AdaptiveAvgPool2d extends Module {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final Workspace output = workspace();
    private final Workspace inputGrad = workspace();
    private Tensor savedInp;

    /** @param outputSize 1 (global average pooling, the only size implemented) */
    public AdaptiveAvgPool2d(int outputSize) {
        if (outputSize != 1) {
            throw new IllegalArgumentException("outputSize: expected 1 (only global average pooling is implemented), got "
                    + outputSize);
        }
    }

    @Override
    void checkInput(Input inp) {
        checkFormat("inp", inp.format(), inp, Format.NCHW, Format.NHWC);
        if (inp.tensor() != null) {
            checkClear("inp", inp.tensor(), "output", output, false);
        }
    }

    @Override
    Input output(Input inp) {
        return Input.output(this, null, inp.format(), outShape(inp.format(), inp.n(), inp.c()));
    }

    private static long[] outShape(Format format, long n, long c) {
        return format == Format.NHWC ? new long[] {n, 1, 1, c} : new long[] {n, c, 1, 1};
    }

    @Override
    public Tensor forward(Tensor inp) {
        checkUsable();
        checkOpen("inp", inp);
        checkInput(Input.of(inp));
        savedInp = null;
        long n = inp.n();
        long c = inp.c();
        long s = inp.s();
        boolean nhwc = inp.format() == Format.NHWC;
        Tensor result = output.get(inp.format(), outShape(inp.format(), n, c));
        MemorySegment x = inp.segment();
        MemorySegment y = result.segment();
        for (long i = 0; i < n; i++) {
            for (long ch = 0; ch < c; ch++) {
                double sum = 0;
                for (long p = 0; p < s; p++) {
                    sum += x.getAtIndex(F, nhwc ? (i * s + p) * c + ch : (i * c + ch) * s + p);
                }
                y.setAtIndex(F, i * c + ch, (float) (sum / s));
            }
        }
        savedInp = inp;
        return result;
    }

    @Override
    public Tensor backward(Tensor dout) {
        checkUsable();
        checkBackward(dout, output.current(), savedInp);
        checkClear("dout", dout, "input gradient", inputGrad, false);
        long n = savedInp.n();
        long c = savedInp.c();
        long s = savedInp.s();
        boolean nhwc = savedInp.format() == Format.NHWC;
        Tensor result = inputGrad.like(savedInp);
        MemorySegment dy = dout.segment();
        MemorySegment dx = result.segment();
        for (long i = 0; i < n; i++) {
            for (long ch = 0; ch < c; ch++) {
                float g = dy.getAtIndex(F, i * c + ch) / (float) s;
                for (long p = 0; p < s; p++) {
                    dx.setAtIndex(F, nhwc ? (i * s + p) * c + ch : (i * c + ch) * s + p, g);
                }
            }
        }
        return result;
    }

    @Override
    public String toString() {
        return "AdaptiveAvgPool2d(output_size=1)";
    }
}
