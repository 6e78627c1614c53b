package dev.bnorm.kernel;

import java.lang.foreign.MemorySegment;

/**
 * The kernels of a 2-d convolution ({@link ConvShape}), float32, on {@link MemorySegment}s:
 * <pre>
 *   forward:  out[n][o][y][x] = bias[o] + Σ_{c,i,j} weight[o][c][i][j] * inp[n][c][y*sh - ph + i][x*sw - pw + j]
 *             (inputs outside the image are 0)
 *   backward: dinp = the transposed convolution of dout, dweight[o][c][i][j] = Σ_{n,y,x} dout * inp,
 *             dbias[o] = Σ_{n,y,x} dout[n][o][y][x]
 * </pre>
 * Implementations: {@link Im2colConv} (im2col and col2im, the products in a {@link LinearKernels}:
 * libbnorm's {@code bn_im2col}, {@code bn_linear_forward}/{@code _backward}, ... when native)
 * and {@link JavaConv} (direct loops in double: the test oracle). Every argument is checked before
 * any work by {@link dev.bnorm.internal.ConvChecks}: a bad one is an {@link IllegalArgumentException}
 * naming it with the expected and actual values, and nothing is written. No output may overlap
 * another buffer. Results do not depend on the number of threads.
 */
public interface ConvKernels {

    /** Backward adds to dweight and dbias instead of overwriting them (as {@link LinearKernels#ACCUMULATE}). */
    int ACCUMULATE = LinearKernels.ACCUMULATE;

    /** A short name for logs and reports. */
    String name();

    /** Floats of the scratch buffer {@link #forward} and {@link #backward} need for {@code shape} (0: none). */
    long scratchSize(ConvShape shape);

    /**
     * @param out     written, {@link ConvShape#outSize()} floats in the shape's layout
     * @param inp     {@link ConvShape#inpSize()} floats
     * @param weight  (Cout, Cin, kh, kw)
     * @param bias    (Cout,) or null for none
     * @param scratch at least {@link #scratchSize} floats (contents ignored and overwritten), or null when that is 0
     */
    void forward(MemorySegment out, MemorySegment inp, MemorySegment weight, MemorySegment bias,
                 MemorySegment scratch, ConvShape shape);

    /**
     * @param dinp    overwritten, or null (not computed)
     * @param dweight (Cout, Cin, kh, kw), overwritten (with {@link #ACCUMULATE}: added to), or null
     * @param dbias   (Cout,), overwritten (with {@link #ACCUMULATE}: added to), or null
     * @param dout    the gradient of the output
     * @param inp     the forward's input, required when dweight is wanted
     * @param weight  required when dinp is wanted
     * @param flags   0 or {@link #ACCUMULATE}
     */
    void backward(MemorySegment dinp, MemorySegment dweight, MemorySegment dbias, MemorySegment dout,
                  MemorySegment inp, MemorySegment weight, MemorySegment scratch, int flags, ConvShape shape);

    /** {@link Im2colConv} over {@link LinearKernels#best()}: native products where the library loads. */
    static ConvKernels best() {
        return Im2colConv.BEST;
    }
}
