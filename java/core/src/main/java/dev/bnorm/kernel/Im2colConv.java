package dev.bnorm.kernel;

import dev.bnorm.internal.ConvChecks;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@link ConvKernels} as matrix products: im2col gathers, for a chunk of samples, every output
 * pixel's receptive field into a row of {@code cols (M, K)} (M = samples*P, zeros for the
 * padding), and a {@link LinearKernels} computes
 * <pre>
 *   forward:  rows (M, Cout) = cols (M, K) · W (Cout, K)ᵀ + bias        (bn_linear_forward)
 *   backward: dcols (M, K)   = drows (M, Cout) · W,
 *             dW (Cout, K)  += drowsᵀ · cols,  dbias += Σ drows         (bn_linear_backward)
 * </pre>
 * and col2im adds each row of {@code dcols} back onto the input pixels it came from. A row of
 * {@code cols} is ordered (c, i, j) for NCHW, so that W is PyTorch's weight as it is, and (i, j, c)
 * for NHWC, so that each tap copies Cin contiguous floats (W is then the weight permuted into the
 * scratch). For NHWC, {@code rows} is the output itself; for NCHW the forward writes it into the
 * output and transposes it through the scratch (whose {@code cols} are used up) back into the output.
 *
 * <p>With {@link NativeLinear} the gathers, scatters and NCHW transposes are libbnorm's too
 * ({@code bn_im2col}, {@code bn_col2im}, {@code bn_transpose}), on the segments. Otherwise (the
 * pure-Java path) they work on heap arrays of one sample (or one row), copied from and to the
 * segments in bulk: element by element on the segments they were ~20× slower (BlockBench.Conv,
 * NCHW). Both copy and add in the same fixed order on the calling thread (the same bits), the
 * products run in the {@link LinearKernels} (whose results do not depend on its threads): results
 * are bit-identical for any number of threads. Scratch: {@code cols} and {@code dcols} for at most
 * {@value #CHUNK} floats each (at least one sample), plus {@code rows} and two (Cout, K) weights.
 */
public final class Im2colConv implements ConvKernels {

    /** Floats of the im2col matrix per chunk of samples (at least one sample is taken). */
    static final long CHUNK = 1L << 21;

    static final Im2colConv BEST = new Im2colConv(LinearKernels.best());

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final LinearKernels linear;
    private final boolean requireNative;

    /** Convolutions whose products run in {@code linear}. */
    public Im2colConv(LinearKernels linear) {
        if (linear == null) {
            throw new IllegalArgumentException("linear: expected LinearKernels, got null");
        }
        this.linear = linear;
        this.requireNative = linear instanceof NativeLinear;
    }

    @Override
    public String name() {
        return "im2col+" + linear.name();
    }

    /** Samples per chunk: as many as keep cols within {@link #CHUNK} floats, at least 1. */
    static long chunk(ConvShape s) {
        return Math.max(1, Math.min(s.n(), CHUNK / (s.p() * s.k())));
    }

    @Override
    public long scratchSize(ConvShape s) {
        long m = chunk(s) * s.p();
        return 2 * m * s.k() + m * s.cout() + 2 * s.cout() * s.k();
    }

    @Override
    public void forward(MemorySegment out, MemorySegment inp, MemorySegment weight, MemorySegment bias,
                        MemorySegment scratch, ConvShape s) {
        ConvChecks.checkForward(out, inp, weight, bias, scratch, s == null ? 0 : scratchSize(s), s, requireNative);
        MemorySegment w = s.layout() == Layout.NHWC ? permute(new Scratch(scratch, s).w, weight, s) : weight;
        forwardChunks(out, inp, w, bias, scratch, s, s.n());
    }

    /**
     * The forward of the first {@code n} samples of {@code s} (1 &le; n &le; s.n()), with the
     * weight already in the row order of the im2col matrix ({@link #rowWeight}): what a model that
     * is evaluated many times calls, with no reordering of the weight and no shape per call. The
     * buffers are checked as {@link #forward} checks them, out and inp for n samples. With native
     * products, a call whose n samples make one chunk of the im2col matrix allocates nothing.
     */
    public void forwardRows(MemorySegment out, MemorySegment inp, MemorySegment rowWeight, MemorySegment bias,
                            MemorySegment scratch, ConvShape s, long n) {
        ConvChecks.checkForward(out, inp, rowWeight, bias, scratch, s == null ? 0 : scratchSize(s), s, n, requireNative);
        forwardChunks(out, inp, rowWeight, bias, scratch, s, n);
    }

    /**
     * {@code to} = the weight (Cout, Cin, kh, kw) in the row order of the im2col matrix, as
     * {@link #forwardRows} takes it: a copy for NCHW, (Cout, kh, kw, Cin) for NHWC.
     */
    public static void rowWeight(MemorySegment to, MemorySegment weight, ConvShape s) {
        if (s == null) {
            throw new IllegalArgumentException("shape: expected a ConvShape, got null");
        }
        long bytes = 4 * s.weightSize();
        weightBuffer("to", to, s);
        weightBuffer("weight", weight, s);
        if (s.layout() == Layout.NHWC) {
            permute(to, weight, s);
        } else {
            MemorySegment.copy(weight, 0, to, 0, bytes);
        }
    }

    private static void weightBuffer(String name, MemorySegment m, ConvShape s) {
        if (m == null) {
            throw new IllegalArgumentException(name + ": expected a segment, got null");
        }
        if (m.byteSize() < 4 * s.weightSize()) {
            throw new IllegalArgumentException(name + ": expected at least " + 4 * s.weightSize()
                    + " bytes (Cout*Cin*kh*kw = " + s.weightSize() + " floats), got " + m.byteSize());
        }
    }

    // the forward of samples 0 .. n-1, w in the row order; cols is the start of the scratch
    private void forwardChunks(MemorySegment out, MemorySegment inp, MemorySegment w, MemorySegment bias,
                               MemorySegment scratch, ConvShape s, long n) {
        boolean nhwc = s.layout() == Layout.NHWC;
        long samples = chunk(s);
        long p = s.p();
        long co = s.cout();
        for (long n0 = 0; n0 < n; n0 += samples) {
            long m = Math.min(samples, n - n0);
            MemorySegment to = n0 == 0 ? out : out.asSlice(4 * n0 * p * co); // the chunk's output
            if (requireNative) {
                NativeConv.im2col(scratch, inp, s, n0, m);
            } else {
                im2col(scratch, inp, s, n0, m);
            }
            if (nhwc) {
                linear.forward(to, scratch, w, bias, LinearKernels.Activation.NONE, m * p, s.k(), co);
            } else { // rows (m*P, Cout) into the chunk's output, transposed through the used-up scratch:
                linear.forward(to, scratch, w, null, LinearKernels.Activation.NONE, m * p, s.k(), co);
                if (requireNative) { // out[n][o][q] = rows[i*P + q][o] + bias[o]
                    NativeConv.transpose(scratch, to, bias, m, p, co);
                } else {
                    for (long i = 0; i < m; i++) {
                        transpose(to, i * p * co, scratch, i * co * p, (int) p, (int) co, bias);
                    }
                }
                MemorySegment.copy(scratch, 0, to, 0, 4 * m * p * co);
            }
        }
    }

    @Override
    public void backward(MemorySegment dinp, MemorySegment dweight, MemorySegment dbias, MemorySegment dout,
                         MemorySegment inp, MemorySegment weight, MemorySegment scratch, int flags, ConvShape s) {
        ConvChecks.checkBackward(dinp, dweight, dbias, dout, inp, weight, scratch, s == null ? 0 : scratchSize(s), flags, s,
                requireNative);
        Scratch sc = new Scratch(scratch, s);
        boolean nhwc = s.layout() == Layout.NHWC;
        long p = s.p();
        long k = s.k();
        long co = s.cout();
        MemorySegment w = dinp == null ? null : nhwc ? permute(sc.w, weight, s) : weight;
        MemorySegment dw = dweight == null ? null : nhwc ? sc.dw.fill((byte) 0) : dweight;
        for (long n0 = 0; n0 < s.n(); n0 += sc.samples) {
            long m = Math.min(sc.samples, s.n() - n0);
            MemorySegment drows;
            if (nhwc) {
                drows = dout.asSlice(4 * n0 * p * co, 4 * m * p * co);
            } else {
                drows = sc.rows.asSlice(0, 4 * m * p * co);
                if (requireNative) { // rows[i*P + q][o] = dout[n][o][q]
                    NativeConv.transpose(drows, dout.asSlice(4 * n0 * co * p), null, m, co, p);
                } else {
                    for (long i = 0; i < m; i++) {
                        transpose(dout, (n0 + i) * co * p, drows, i * p * co, (int) co, (int) p, null);
                    }
                }
            }
            MemorySegment cols = null;
            if (dw != null) {
                if (requireNative) {
                    NativeConv.im2col(sc.cols, inp, s, n0, m);
                } else {
                    im2col(sc.cols, inp, s, n0, m);
                }
                cols = sc.cols.asSlice(0, 4 * m * p * k);
            }
            MemorySegment dcols = dinp == null ? null : sc.dcols.asSlice(0, 4 * m * p * k);
            // the first chunk starts each sum as the caller asked (nhwc: dw was zeroed), the others add to it
            int f = n0 == 0 ? flags : ACCUMULATE;
            linear.backward(dcols, dw, dbias, drows, cols, w, f, m * p, k, co);
            if (dcols != null && requireNative) {
                NativeConv.col2im(dinp, dcols, s, n0, m);
            } else if (dcols != null) {
                col2im(dinp, dcols, s, n0, m);
            }
        }
        if (nhwc && dweight != null) { // dweight[o][c][i][j] (+)= dw[o][(i*kw + j)*Cin + c]
            boolean accumulate = (flags & ACCUMULATE) != 0;
            for (long o = 0; o < co; o++) {
                for (long c = 0; c < s.cin(); c++) {
                    for (int i = 0; i < s.kh(); i++) {
                        for (int j = 0; j < s.kw(); j++) {
                            long at = JavaConv.weightIndex(s, o, c, i, j);
                            float v = dw.getAtIndex(F, o * k + (i * s.kw() + j) * s.cin() + c);
                            dweight.setAtIndex(F, at, accumulate ? dweight.getAtIndex(F, at) + v : v);
                        }
                    }
                }
            }
        }
    }

    /**
     * to[at + c*R + r] = from[at + r*C + c] (+ bias[c] if not null), floats at the given element
     * offsets: an R x C matrix transposed, through heap arrays (bulk copies in and out).
     */
    static void transpose(MemorySegment from, long fromAt, MemorySegment to, long toAt, int r, int c,
                                  MemorySegment bias) {
        float[] a = new float[r * c];
        float[] t = new float[r * c];
        MemorySegment.copy(from, F, 4 * fromAt, a, 0, r * c);
        for (int col = 0; col < c; col++) {
            if (bias == null) {
                for (int row = 0; row < r; row++) {
                    t[col * r + row] = a[row * c + col];
                }
            } else {
                float b = bias.getAtIndex(F, col);
                for (int row = 0; row < r; row++) {
                    t[col * r + row] = a[row * c + col] + b;
                }
            }
        }
        MemorySegment.copy(t, 0, to, F, 4 * toAt, r * c);
    }

    /** The parts of the scratch buffer. */
    private static final class Scratch {
        final long samples;
        final MemorySegment cols;  // (samples*P, K)
        final MemorySegment dcols; // (samples*P, K)
        final MemorySegment rows;  // (samples*P, Cout)
        final MemorySegment w;     // (Cout, K): the weight in the NHWC row order
        final MemorySegment dw;    // (Cout, K): its gradient

        Scratch(MemorySegment scratch, ConvShape s) {
            samples = chunk(s);
            long m = samples * s.p();
            long colsBytes = 4 * m * s.k();
            long wBytes = 4 * s.cout() * s.k();
            cols = scratch.asSlice(0, colsBytes);
            dcols = scratch.asSlice(colsBytes, colsBytes);
            rows = scratch.asSlice(2 * colsBytes, 4 * m * s.cout());
            w = scratch.asSlice(2 * colsBytes + 4 * m * s.cout(), wBytes);
            dw = scratch.asSlice(2 * colsBytes + 4 * m * s.cout() + wBytes, wBytes);
        }
    }

    /** to[o][(i*kw + j)*Cin + c] = weight[o][c][i][j]; returns to. */
    private static MemorySegment permute(MemorySegment to, MemorySegment weight, ConvShape s) {
        long k = s.k();
        for (long o = 0; o < s.cout(); o++) {
            for (long c = 0; c < s.cin(); c++) {
                for (int i = 0; i < s.kh(); i++) {
                    for (int j = 0; j < s.kw(); j++) {
                        to.setAtIndex(F, o * k + (i * s.kw() + j) * s.cin() + c,
                                weight.getAtIndex(F, JavaConv.weightIndex(s, o, c, i, j)));
                    }
                }
            }
        }
        return to;
    }

    /**
     * cols[(i*P + y*Wo + x)][tap] = inp of sample n0 + i at the tap's pixel, 0 in the padding; m
     * samples. Each sample is copied to a heap array and each row assembled in one, so that the
     * segments see bulk copies only.
     */
    static void im2col(MemorySegment cols, MemorySegment inp, ConvShape s, long n0, long m) {
        int k = (int) s.k();
        int cin = (int) s.cin();
        int h = (int) s.h();
        int w = (int) s.w();
        int kh = s.kh();
        int kw = s.kw();
        int sample = cin * h * w;
        float[] img = new float[sample];
        float[] row = new float[k];
        boolean nhwc = s.layout() == Layout.NHWC;
        long at = 0;
        for (long n = n0; n < n0 + m; n++) {
            MemorySegment.copy(inp, F, 4 * n * sample, img, 0, sample);
            for (long y = 0; y < s.ho(); y++) {
                int y0 = (int) (y * s.sh() - s.ph());
                for (long x = 0; x < s.wo(); x++, at += k) {
                    int x0 = (int) (x * s.sw() - s.pw());
                    if (nhwc) { // taps (i, j), each Cin contiguous floats
                        for (int i = 0; i < kh; i++) {
                            int yy = y0 + i;
                            for (int j = 0; j < kw; j++) {
                                int xx = x0 + j;
                                int to = (i * kw + j) * cin;
                                if (yy >= 0 && yy < h && xx >= 0 && xx < w) {
                                    System.arraycopy(img, (yy * w + xx) * cin, row, to, cin);
                                } else {
                                    java.util.Arrays.fill(row, to, to + cin, 0f);
                                }
                            }
                        }
                    } else { // taps (c, i, j)
                        int t = 0;
                        for (int c = 0; c < cin; c++) {
                            int plane = c * h;
                            for (int i = 0; i < kh; i++) {
                                int yy = y0 + i;
                                boolean inY = yy >= 0 && yy < h;
                                for (int j = 0; j < kw; j++, t++) {
                                    int xx = x0 + j;
                                    row[t] = inY && xx >= 0 && xx < w ? img[(plane + yy) * w + xx] : 0f;
                                }
                            }
                        }
                    }
                    MemorySegment.copy(row, 0, cols, F, 4 * at, k);
                }
            }
        }
    }

    /**
     * dinp of samples n0 .. n0+m-1 = the sum of the dcols entries gathered from each pixel, added
     * in row order (into a heap array per sample, copied out once).
     */
    static void col2im(MemorySegment dinp, MemorySegment dcols, ConvShape s, long n0, long m) {
        int k = (int) s.k();
        int cin = (int) s.cin();
        int h = (int) s.h();
        int w = (int) s.w();
        int kh = s.kh();
        int kw = s.kw();
        int sample = cin * h * w;
        float[] img = new float[sample];
        float[] row = new float[k];
        boolean nhwc = s.layout() == Layout.NHWC;
        long at = 0;
        for (long n = n0; n < n0 + m; n++) {
            java.util.Arrays.fill(img, 0f);
            for (long y = 0; y < s.ho(); y++) {
                int y0 = (int) (y * s.sh() - s.ph());
                for (long x = 0; x < s.wo(); x++, at += k) {
                    int x0 = (int) (x * s.sw() - s.pw());
                    MemorySegment.copy(dcols, F, 4 * at, row, 0, k);
                    if (nhwc) {
                        for (int i = 0; i < kh; i++) {
                            int yy = y0 + i;
                            for (int j = 0; j < kw; j++) {
                                int xx = x0 + j;
                                if (yy >= 0 && yy < h && xx >= 0 && xx < w) {
                                    int to = (yy * w + xx) * cin;
                                    int from = (i * kw + j) * cin;
                                    for (int c = 0; c < cin; c++) {
                                        img[to + c] += row[from + c];
                                    }
                                }
                            }
                        }
                    } else {
                        int t = 0;
                        for (int c = 0; c < cin; c++) {
                            int plane = c * h;
                            for (int i = 0; i < kh; i++) {
                                int yy = y0 + i;
                                boolean inY = yy >= 0 && yy < h;
                                for (int j = 0; j < kw; j++, t++) {
                                    int xx = x0 + j;
                                    if (inY && xx >= 0 && xx < w) {
                                        img[(plane + yy) * w + xx] += row[t];
                                    }
                                }
                            }
                        }
                    }
                }
            }
            MemorySegment.copy(img, 0, dinp, F, 4 * n * sample, sample);
        }
    }
}
