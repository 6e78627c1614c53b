package dev.bnorm.kernel;

import dev.bnorm.internal.LinearChecks;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@link LinearKernels} in plain Java: the test oracle of {@link NativeLinear} and the fallback
 * where no native library loads. Works on native and heap segments. The matrix products run
 * directly on the segments with contiguous inner loops and small register blocks: forward as dot
 * products of input rows and weight rows (2 x 4 at a time), backward as row updates
 * ({@code dinp[n] += dout[n][o] * W[o]}, {@code dW[o] += dout[n][o] * inp[n]}, four source rows per
 * pass). Sums are in float, in order of the reduction index.
 */
public final class JavaLinear implements LinearKernels {

    /** The only instance. */
    public static final JavaLinear INSTANCE = new JavaLinear();

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private JavaLinear() {}

    @Override
    public String name() {
        return "java";
    }

    @Override
    public void forward(MemorySegment y, MemorySegment x, MemorySegment w, MemorySegment b, Activation act,
                        long n, long in, long out) {
        LinearChecks.checkForward(y, x, w, b, act, n, in, out, false);
        forwardKernel(y, x, w, b, n, in, out);
        if (act != Activation.NONE) {
            for (long i = 0, size = n * out; i < size; i++) {
                y.setAtIndex(F, i, act.apply(y.getAtIndex(F, i)));
            }
        }
    }

    @Override
    public void forwardTransposed(MemorySegment y, MemorySegment x, MemorySegment wt, MemorySegment b,
                                  Activation act, long n, long in, long out) {
        LinearChecks.checkForward(y, x, wt, b, act, n, in, out, false);
        for (long i = 0; i < n; i++) {
            for (long o = 0; o < out; o++) {
                float s = 0;
                for (long k = 0; k < in; k++) {
                    s += x.getAtIndex(F, i * in + k) * wt.getAtIndex(F, k * out + o);
                }
                y.setAtIndex(F, i * out + o, act.apply(b == null ? s : s + b.getAtIndex(F, o)));
            }
        }
    }

    @Override
    public void backward(MemorySegment dinp, MemorySegment dweight, MemorySegment dbias, MemorySegment dout,
                         MemorySegment inp, MemorySegment weight, int flags, long n, long in, long out) {
        LinearChecks.checkBackward(dinp, dweight, dbias, dout, inp, weight, flags, n, in, out, false);
        boolean accumulate = (flags & ACCUMULATE) != 0;
        if (dinp != null) {
            inputGradKernel(dinp, dout, weight, n, in, out);
        }
        if (dweight != null) {
            if (!accumulate) {
                dweight.asSlice(0, 4 * out * in).fill((byte) 0);
            }
            weightGradKernel(dweight, dout, inp, n, in, out);
        }
        if (dbias != null) {
            for (long o = 0; o < out; o++) {
                float sum = accumulate ? dbias.getAtIndex(F, o) : 0f;
                for (long i = 0; i < n; i++) {
                    sum += dout.getAtIndex(F, i * out + o);
                }
                dbias.setAtIndex(F, o, sum);
            }
        }
    }

    // ---- kernels: row-major, offsets in bytes; register blocks so that each load feeds several products ----

    /**
     * y (n, out) = x (n, in) · wᵀ + b, two rows of x by four rows of w at a time (8 accumulators,
     * 6 loads per 8 multiply-adds); an odd last row is computed as a pair with itself.
     */
    private static void forwardKernel(MemorySegment y, MemorySegment x, MemorySegment w, MemorySegment b,
                                      long n, long in, long out) {
        long row = 4L * in;
        for (long i = 0; i < n; i += 2) {
            boolean pair = i + 1 < n;
            long x0 = i * row;
            long x1 = pair ? x0 + row : x0;
            long o = 0;
            for (; o + 4 <= out; o += 4) {
                long w0 = o * row;
                long w1 = w0 + row;
                long w2 = w1 + row;
                long w3 = w2 + row;
                float a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
                for (long k = 0; k < in; k++) {
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
    private static void store(MemorySegment y, long at, MemorySegment b, long o, float a0, float a1, float a2, float a3) {
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
    private static float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, long len) {
        float s = 0;
        for (long k = 0; k < len; k++) {
            s += a.get(F, aOff + 4L * k) * b.get(F, bOff + 4L * k);
        }
        return s;
    }

    /** dx (n, in) = g (n, out) · w (out, in), overwritten: each row of dx gains four rows of w per pass. */
    private static void inputGradKernel(MemorySegment dx, MemorySegment g, MemorySegment w, long n, long in, long out) {
        dx.asSlice(0, 4 * n * in).fill((byte) 0);
        long row = 4L * in;
        for (long i = 0; i < n; i++) {
            long d = i * row;
            long gi = i * out;
            long o = 0;
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
    private static void weightGradKernel(MemorySegment dw, MemorySegment g, MemorySegment x, long n, long in, long out) {
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
    private static void axpy(MemorySegment acc, long at, float c, MemorySegment s, long src, long len) {
        for (long k = 0; k < len; k++) {
            long p = 4L * k;
            acc.set(F, at + p, acc.get(F, at + p) + c * s.get(F, src + p));
        }
    }

    /**
     * acc[k] += c0*src0[k] + c1*src1[k] + c2*src2[k] + c3*src3[k] for k in [0, len), where srcJ
     * starts at {@code src + j*stride} bytes.
     */
    private static void rank4Update(MemorySegment acc, long at, MemorySegment s, long src, long stride,
                                    float c0, float c1, float c2, float c3, long len) {
        long s1 = src + stride;
        long s2 = s1 + stride;
        long s3 = s2 + stride;
        for (long k = 0; k < len; k++) {
            long p = 4L * k;
            acc.set(F, at + p, acc.get(F, at + p) + c0 * s.get(F, src + p) + c1 * s.get(F, s1 + p)
                    + c2 * s.get(F, s2 + p) + c3 * s.get(F, s3 + p));
        }
    }
}
