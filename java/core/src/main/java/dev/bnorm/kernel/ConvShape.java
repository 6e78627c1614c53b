package dev.bnorm.kernel;

/**
 * The dimensions of a 2-d convolution without groups (PyTorch's {@code torch.nn.Conv2d},
 * dilation 1): an input of N samples, {@code cin} channels and H×W pixels, a kernel of
 * {@code kh×kw} taps for each of {@code cout} output channels, a stride and a zero padding per
 * direction. The output has {@code ho × wo} pixels:
 * <pre>
 *   ho = (h + 2*ph - kh) / sh + 1,   wo = (w + 2*pw - kw) / sw + 1   (integer division, as PyTorch)
 * </pre>
 * Buffers: inp (N, Cin, H, W) or (N, H, W, Cin), out (N, Cout, Ho, Wo) or (N, Ho, Wo, Cout) by
 * {@code layout}; weight (Cout, Cin, kh, kw) in PyTorch's order for both layouts; bias (Cout,).
 * K = Cin*kh*kw is the length of each output's sum (the reduction length), P = Ho*Wo.
 *
 * @param layout {@link Layout#NCHW} or {@link Layout#NHWC} (input and output alike)
 */
public record ConvShape(Layout layout, long n, long cin, long h, long w, long cout,
                        int kh, int kw, int sh, int sw, int ph, int pw) {

    /** Largest dimension accepted, so that every product of the sizes below fits in a long. */
    static final long MAX_DIM = 1L << 24;

    /** Checks every dimension: an {@link IllegalArgumentException} names the first bad one. */
    public ConvShape {
        if (layout != Layout.NCHW && layout != Layout.NHWC) {
            throw new IllegalArgumentException("layout: expected NCHW or NHWC, got " + layout);
        }
        dim("n", n);
        dim("cin", cin);
        dim("h", h);
        dim("w", w);
        dim("cout", cout);
        dim("kh", kh);
        dim("kw", kw);
        dim("sh", sh);
        dim("sw", sw);
        if (ph < 0 || ph > MAX_DIM) {
            throw new IllegalArgumentException("ph: expected 0 to " + MAX_DIM + ", got " + ph);
        }
        if (pw < 0 || pw > MAX_DIM) {
            throw new IllegalArgumentException("pw: expected 0 to " + MAX_DIM + ", got " + pw);
        }
        if (h + 2L * ph < kh) {
            throw new IllegalArgumentException("kh: expected at most h + 2*ph = " + (h + 2L * ph) + ", got " + kh);
        }
        if (w + 2L * pw < kw) {
            throw new IllegalArgumentException("kw: expected at most w + 2*pw = " + (w + 2L * pw) + ", got " + kw);
        }
        // each of inp, out, weight and the im2col matrix must be addressable in bytes
        long p = ((h + 2L * ph - kh) / sh + 1) * ((w + 2L * pw - kw) / sw + 1);
        long k = cin * kh * kw;
        fits("n*cin*h*w", n, cin, h * w);
        fits("n*cout*ho*wo", n, cout, p);
        fits("cout*cin*kh*kw", cout, k, 1);
        fits("n*ho*wo*cin*kh*kw", n, p, k);
        if (cin * h * w > MAX_ARRAY || cout * p > MAX_ARRAY || k > MAX_ARRAY) {
            throw new IllegalArgumentException("cin*h*w, cout*ho*wo, cin*kh*kw: expected at most " + MAX_ARRAY
                    + " each (a Java array of one sample or one im2col row), got " + cin * h * w + ", " + cout * p
                    + ", " + k);
        }
    }

    /** The largest Java array (one sample's input or output, one im2col row) the kernels use. */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    private static void dim(String name, long v) {
        if (v < 1 || v > MAX_DIM) {
            throw new IllegalArgumentException(name + ": expected 1 to " + MAX_DIM + ", got " + v);
        }
    }

    private static void fits(String what, long a, long b, long c) {
        if (Math.multiplyHigh(a, b) != 0 || a * b > Long.MAX_VALUE / 4 / c) {
            throw new IllegalArgumentException(what + ": expected at most " + (Long.MAX_VALUE / 4)
                    + " elements (bytes addressable by a long), got " + a + " * " + b + " * " + c);
        }
    }

    /** Output height, (h + 2*ph - kh) / sh + 1. */
    public long ho() {
        return (h + 2L * ph - kh) / sh + 1;
    }

    /** Output width, (w + 2*pw - kw) / sw + 1. */
    public long wo() {
        return (w + 2L * pw - kw) / sw + 1;
    }

    /** P = ho*wo, the output pixels of one sample. */
    public long p() {
        return ho() * wo();
    }

    /** K = cin*kh*kw, the terms of each output's sum. */
    public long k() {
        return cin * kh * kw;
    }

    /** Floats of inp and dinp: N*Cin*H*W. */
    public long inpSize() {
        return n * cin * h * w;
    }

    /** Floats of out and dout: N*Cout*Ho*Wo. */
    public long outSize() {
        return n * cout * p();
    }

    /** Floats of weight and dweight: Cout*Cin*kh*kw. */
    public long weightSize() {
        return cout * k();
    }
}
