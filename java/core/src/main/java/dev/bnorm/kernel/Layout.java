package dev.bnorm.kernel;

/**
 * Memory layout of an activation tensor with dimensions N (batch), C (channels), S (spatial size).
 * The codes are those of {@code bn_layout} in {@code native/include/bn.h}.
 */
public enum Layout {
    /** (N, C) row-major, the MLP case (an m x k matrix); S must be 1. */
    NC(0),
    /** (N, C, S): each channel of a sample is contiguous. Also used for NCL. */
    NCHW(1),
    /** (N, S, C): channels last. */
    NHWC(2);

    /** The {@code bn_layout} value. */
    public final int code;

    Layout(int code) {
        this.code = code;
    }

    /** Element index of (n, c, s) in this layout. */
    public long index(long n, long c, long s, long C, long S) {
        return switch (this) {
            case NC, NCHW -> (n * C + c) * S + s;
            case NHWC -> (n * S + s) * C + c;
        };
    }
}
