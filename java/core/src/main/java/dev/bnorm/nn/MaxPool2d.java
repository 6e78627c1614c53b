package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Max pooling over {@code kernel × kernel} windows, PyTorch's {@code torch.nn.MaxPool2d} (dilation
 * 1, floor mode): input {@code (N, C, H, W)} NCHW or {@code (N, H, W, C)} NHWC, output of the same
 * format with {@code Ho = (H + 2*padding - kernel)/stride + 1} rows, {@code Wo} likewise. The
 * padding is -∞ (never chosen) and at most half the kernel, as PyTorch requires.
 *
 * <p>Which input wins, as PyTorch's CPU kernels choose: the window is scanned row by row from its
 * top-left in-image pixel; an element replaces the maximum so far if it is greater or NaN. So among
 * equal maxima the first wins, a NaN in the window gives NaN (the last NaN wins), and a window of
 * -∞ only picks its first pixel. Backward adds {@code dout} to the winner (a pixel in several
 * windows gets the sum, added in output order).
 */
public final class MaxPool2d extends Module {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;

    private final int kernel;
    private final int stride;
    private final int padding;
    private final Workspace output = workspace();
    private final Workspace winners = workspace(); // int32 per output: the winner's offset y*W + x in its plane
    private final Workspace inputGrad = workspace();
    private Tensor savedInp;

    /** Windows of {@code kernel × kernel} (at least 1) with stride {@code kernel} and no padding, PyTorch's defaults. */
    public MaxPool2d(int kernel) {
        this(kernel, kernel, 0);
    }

    /**
     * @param kernel  the window side, at least 1
     * @param stride  the step between windows, at least 1
     * @param padding -∞ pixels on every side, 0 to kernel/2
     */
    public MaxPool2d(int kernel, int stride, int padding) {
        if (kernel < 1) {
            throw new IllegalArgumentException("kernel: expected at least 1, got " + kernel);
        }
        if (stride < 1) {
            throw new IllegalArgumentException("stride: expected at least 1, got " + stride);
        }
        if (padding < 0 || padding > kernel / 2) {
            throw new IllegalArgumentException("padding: expected 0 to kernel/2 = " + kernel / 2 + ", got " + padding);
        }
        this.kernel = kernel;
        this.stride = stride;
        this.padding = padding;
    }

    /** The window side. */
    public int kernel() {
        return kernel;
    }

    /** The step between windows. */
    public int stride() {
        return stride;
    }

    /** The -∞ pixels on every side. */
    public int padding() {
        return padding;
    }

    @Override
    void checkInput(Input inp) {
        outShape(inp);
        if (inp.tensor() != null) {
            checkClear("inp", inp.tensor(), "output", output, false);
        }
    }

    @Override
    Input output(Input inp) {
        return Input.output(this, null, inp.format(), outShape(inp));
    }

    /** The output shape for {@code inp} (checked). */
    private long[] outShape(Input inp) {
        checkFormat("inp", inp.format(), inp, Format.NCHW, Format.NHWC);
        long[] s = inp.shape();
        boolean nhwc = inp.format() == Format.NHWC;
        long h = nhwc ? s[1] : s[2];
        long w = nhwc ? s[2] : s[3];
        if (h + 2L * padding < kernel || w + 2L * padding < kernel) {
            throw new IllegalArgumentException("inp: expected an image of at least " + (kernel - 2 * padding) + "x"
                    + (kernel - 2 * padding) + " pixels (window " + kernel + ", padding " + padding + "), got " + inp);
        }
        if (h * w > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("inp: expected at most " + Integer.MAX_VALUE + " pixels per image, got " + inp);
        }
        long ho = (h + 2L * padding - kernel) / stride + 1;
        long wo = (w + 2L * padding - kernel) / stride + 1;
        return nhwc ? new long[] {s[0], ho, wo, s[3]} : new long[] {s[0], s[1], ho, wo};
    }

    @Override
    public Tensor forward(Tensor inp) {
        checkUsable();
        checkOpen("inp", inp);
        checkInput(Input.of(inp));
        savedInp = null;
        long[] os = outShape(Input.of(inp));
        Tensor result = output.get(inp.format(), os);
        MemorySegment win = winners.get(Format.C, result.size()).segment();
        Geometry g = new Geometry(inp, result);
        MemorySegment x = inp.segment();
        MemorySegment y = result.segment();
        for (long n = 0; n < g.n; n++) {
            for (long c = 0; c < g.c; c++) {
                for (long oy = 0; oy < g.ho; oy++) {
                    long y0 = oy * stride - padding;
                    long y1 = Math.min(y0 + kernel, g.h);
                    y0 = Math.max(y0, 0);
                    for (long ox = 0; ox < g.wo; ox++) {
                        long x0 = ox * stride - padding;
                        long x1 = Math.min(x0 + kernel, g.w);
                        x0 = Math.max(x0, 0);
                        float max = Float.NEGATIVE_INFINITY;
                        long at = y0 * g.w + x0;
                        for (long yy = y0; yy < y1; yy++) {
                            for (long xx = x0; xx < x1; xx++) {
                                float v = x.getAtIndex(F, g.inp(n, c, yy * g.w + xx));
                                if (v > max || v != v) {
                                    max = v;
                                    at = yy * g.w + xx;
                                }
                            }
                        }
                        long o = g.out(n, c, oy * g.wo + ox);
                        y.setAtIndex(F, o, max);
                        win.setAtIndex(I, o, (int) at);
                    }
                }
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
        Tensor result = inputGrad.like(savedInp);
        result.fill(0f);
        Geometry g = new Geometry(savedInp, dout);
        MemorySegment win = winners.memory().segment();
        MemorySegment dy = dout.segment();
        MemorySegment dx = result.segment();
        for (long n = 0; n < g.n; n++) {
            for (long c = 0; c < g.c; c++) {
                for (long q = 0; q < g.ho * g.wo; q++) {
                    long o = g.out(n, c, q);
                    long at = g.inp(n, c, win.getAtIndex(I, o));
                    dx.setAtIndex(F, at, dx.getAtIndex(F, at) + dy.getAtIndex(F, o));
                }
            }
        }
        return result;
    }

    @Override
    public String toString() {
        return "MaxPool2d(kernel_size=" + kernel + ", stride=" + stride + ", padding=" + padding + ")";
    }

    /** Sizes of an input and an output of the same format, and their element indices. */
    static final class Geometry {
        final boolean nhwc;
        final long n;
        final long c;
        final long h;
        final long w;
        final long ho;
        final long wo;

        Geometry(Tensor inp, Tensor out) {
            long[] s = inp.shape();
            long[] os = out.shape();
            nhwc = inp.format() == Format.NHWC;
            n = s[0];
            c = inp.c();
            h = nhwc ? s[1] : s[2];
            w = nhwc ? s[2] : s[3];
            ho = nhwc ? os[1] : os[2];
            wo = nhwc ? os[2] : os[3];
        }

        /** Index of input pixel p = y*W + x of channel c of sample n. */
        long inp(long n, long c, long p) {
            return nhwc ? (n * h * w + p) * this.c + c : (n * this.c + c) * h * w + p;
        }

        /** Index of output pixel q = y*Wo + x of channel c of sample n. */
        long out(long n, long c, long q) {
            return nhwc ? (n * ho * wo + q) * this.c + c : (n * this.c + c) * ho * wo + q;
        }
    }
}
