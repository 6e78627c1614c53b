package dev.bnorm.nn;

import dev.bnorm.Tensor.Format;

/**
 * Batch Renormalization over {@code (N, C, H, W)} (format NCHW) or {@code (N, H, W, C)} (format
 * NHWC, channels last) inputs; semantics, formulas and defaults in {@link BatchRenorm}.
 * <pre>
 *   BatchRenorm2d bn = BatchRenorm2d.builder(64)
 *           .schedule(new BatchRenorm.Schedule(3, 5, 5000, 35000, 20000)).build();
 * </pre>
 */
public final class BatchRenorm2d extends BatchRenorm {

    private BatchRenorm2d(Builder<BatchRenorm2d> builder) {
        super(builder, Format.NCHW, Format.NHWC);
    }

    /** A builder for {@code numFeatures} (C) channels, at least 1; other options default as in {@link BatchRenorm}. */
    public static Builder<BatchRenorm2d> builder(int numFeatures) {
        return new Builder<>(numFeatures, BatchRenorm2d::new);
    }
}
