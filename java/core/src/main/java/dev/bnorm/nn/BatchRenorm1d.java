package dev.bnorm.nn;

import dev.bnorm.Tensor.Format;

/**
 * Batch Renormalization over {@code (N, C)} (format NC) or {@code (N, C, L)} (format NCL) inputs;
 * semantics, formulas and defaults in {@link BatchRenorm}.
 * <pre>
 *   BatchRenorm1d bn = BatchRenorm1d.builder(100)
 *           .schedule(new BatchRenorm.Schedule(3, 5, 5000, 35000, 20000)).build();
 * </pre>
 */
public final class BatchRenorm1d extends BatchRenorm {

    private BatchRenorm1d(Builder<BatchRenorm1d> builder) {
        super(builder, Format.NC, Format.NCL);
    }

    /** A builder for {@code numFeatures} (C) channels, at least 1; other options default as in {@link BatchRenorm}. */
    public static Builder<BatchRenorm1d> builder(int numFeatures) {
        return new Builder<>(numFeatures, BatchRenorm1d::new);
    }
}
