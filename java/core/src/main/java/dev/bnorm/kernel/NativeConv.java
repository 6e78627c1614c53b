package dev.bnorm.kernel;

import static dev.bnorm.kernel.Downcalls.p;
import static dev.bnorm.kernel.Downcalls.rethrow;
import static dev.bnorm.kernel.Downcalls.status;

import dev.bnorm.ffi.bn_h;
import java.lang.foreign.MemorySegment;

/**
 * The data movement of {@link Im2colConv} in libbnorm: {@code bn_im2col}, {@code bn_col2im},
 * {@code bn_transpose}. Package-private: {@link Im2colConv} has validated the shape and the
 * buffers (native, aligned, large enough, apart) before it calls these, so a non-OK status means
 * the two validations disagree and becomes an {@link IllegalArgumentException} with
 * {@code bn_strerror}'s text. Ordinary downcalls: each moves a chunk of samples.
 */
final class NativeConv {

    private NativeConv() {}

    /** cols (m*P, K) = im2col of samples n0 .. n0+m-1 of inp. */
    static void im2col(MemorySegment cols, MemorySegment inp, ConvShape s, long n0, long m) {
        int status;
        try {
            status = (int) bn_h.bn_im2col$handle().invokeExact(cols, inp, layout(s), s.n(), s.cin(), s.h(), s.w(),
                    (long) s.kh(), (long) s.kw(), (long) s.sh(), (long) s.sw(), (long) s.ph(), (long) s.pw(), n0, m);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_im2col", status);
    }

    /** Samples n0 .. n0+m-1 of dinp overwritten with col2im of dcols (m*P, K). */
    static void col2im(MemorySegment dinp, MemorySegment dcols, ConvShape s, long n0, long m) {
        int status;
        try {
            status = (int) bn_h.bn_col2im$handle().invokeExact(dinp, dcols, layout(s), s.n(), s.cin(), s.h(), s.w(),
                    (long) s.kh(), (long) s.kw(), (long) s.sh(), (long) s.sw(), (long) s.ph(), (long) s.pw(), n0, m);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_col2im", status);
    }

    /** out[i][c][r] = inp[i][r][c] (+ bias[c] if not null) for i &lt; n. */
    static void transpose(MemorySegment out, MemorySegment inp, MemorySegment bias, long n, long r, long c) {
        int status;
        try {
            status = (int) bn_h.bn_transpose$handle().invokeExact(out, inp, p(bias), n, r, c);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_transpose", status);
    }

    private static int layout(ConvShape s) {
        return s.layout() == Layout.NHWC ? bn_h.BN_LAYOUT_NHWC() : bn_h.BN_LAYOUT_NCHW();
    }
}
