package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.dist.Collective;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Batch Normalization with the statistics of the whole batch spread over the ranks of a
 * {@link Collective}: PyTorch's {@code torch.nn.SyncBatchNorm}, on CPUs. Every rank normalizes
 * its own part of the batch with the mean and variance of all parts, and backward uses the
 * gradient sums of all parts, so the outputs, running statistics and input gradients are those of
 * one {@link BatchNorm} over the concatenated batch. Semantics, formulas and defaults otherwise as
 * {@link BatchNorm}; accepts (N, C), (N, C, L), (N, C, H, W) and (N, H, W, C) inputs.
 *
 * <p>With batch statistics (training, or evaluation without trackRunningStats) each forward
 * gathers every rank's per-channel (count, mean, M2) in double ({@link Collective#allGather}),
 * merges them in rank order (Chan's formula) and updates the running statistics with the
 * unbiased variance over the global count; each backward gathers every rank's (count, sum(dout),
 * sum(dout*(x - mean))). The merge runs on every rank with the same data in the same order, so
 * every rank gets the same bits. Ranks may hold different numbers of samples; a rank with none
 * calls {@link #forwardNothing()} and {@link #backwardNothing()} (or lets {@link DataParallel}
 * do it). Evaluation with running statistics is local: no communication.
 *
 * <p>Gradients: {@code weight.grad} and {@code bias.grad} get this rank's part (as in PyTorch,
 * where DistributedDataParallel then combines them); {@link DataParallel} sums them over the ranks.
 * The {@code dout} of each rank must be its part of the gradient of one loss over the whole batch
 * ({@link DataParallel#backward} scales a per-rank mean loss's gradient accordingly).
 *
 * <p>All ranks must call forward and backward of their SyncBatchNorm modules in the same order.
 */
public final class SyncBatchNorm extends BatchNorm {

    private final Collective collective;
    private final Workspace gathered = workspace(); // (P, 3, C) doubles held as floats

    private SyncBatchNorm(Builder<SyncBatchNorm> b, Collective collective) {
        super(b, Format.NC, Format.NCL, Format.NCHW, Format.NHWC);
        this.collective = collective;
    }

    /**
     * A builder for {@code numFeatures} (C) channels synchronized over {@code collective}; the other
     * options have PyTorch's defaults (see {@link BatchNorm}).
     */
    public static Builder<SyncBatchNorm> builder(int numFeatures, Collective collective) {
        if (collective == null) {
            throw new IllegalArgumentException("collective: expected a Collective, got null");
        }
        return new Builder<>(numFeatures, b -> new SyncBatchNorm(b, collective));
    }

    /** The collective it synchronizes over. */
    public Collective collective() {
        return collective;
    }

    /** Any number here: the values of all ranks together are checked when they are merged. */
    @Override
    void checkValues(Input inp) {
    }

    @Override
    MemorySegment combine(MemorySegment local) {
        Tensor all = gathered.get(Format.C, 6L * numFeatures() * collective.size());
        collective.allGather(local, all.segment());
        return all.segment();
    }

    /**
     * The forward of a rank without samples in this step: takes part in the statistics of the
     * others (contributing nothing) and updates the running statistics and
     * {@code num_batches_tracked} as they do. Evaluation with running statistics: nothing.
     */
    public void forwardNothing() {
        checkUsable();
        if (batchStatistics()) {
            stats().fill((byte) 0);
            mergeStatistics();
        }
    }

    /** The backward of a rank without samples: takes part in the gradient sums of the others with nothing. */
    public void backwardNothing() {
        checkUsable();
        if (batchStatistics()) {
            stats().fill((byte) 0);
            combine(stats());
        }
    }

    /**
     * PyTorch's {@code convert_sync_batchnorm}: {@code module} with every {@link BatchNorm1d} and
     * {@link BatchNorm2d} replaced by a {@link SyncBatchNorm} over {@code collective} with the same
     * options, state (parameters, running statistics, {@code num_batches_tracked}) and mode. A
     * BatchNorm becomes its SyncBatchNorm; a {@link Sequential} becomes a new Sequential of its
     * converted modules (searched recursively); any other module is returned as it is (BatchNorms
     * inside other containers are not found). The replaced BatchNorms are closed, and the result
     * shares every other module with {@code module}: use and close only the result.
     *
     * @throws IllegalArgumentException if a BatchNorm normalizes virtual (ghost) batches, which
     *         SyncBatchNorm does not: checked before anything is converted
     */
    public static Module convert(Module module, Collective collective) {
        if (module == null) {
            throw new IllegalArgumentException("module: expected a module, got null");
        }
        if (collective == null) {
            throw new IllegalArgumentException("collective: expected a Collective, got null");
        }
        checkConvertible(module, "module");
        return convertChecked(module, collective);
    }

    private static void checkConvertible(Module module, String path) {
        if (module instanceof BatchNorm bn && !(module instanceof SyncBatchNorm) && bn.virtualBatchSize() != 0) {
            throw new IllegalArgumentException(path + ": expected a BatchNorm without virtualBatchSize (SyncBatchNorm"
                    + " normalizes the whole global batch), got " + bn);
        }
        if (module instanceof Sequential seq) {
            for (int i = 0; i < seq.size(); i++) {
                checkConvertible(seq.get(i), path + "." + i);
            }
        }
    }

    private static Module convertChecked(Module module, Collective collective) {
        if (module instanceof BatchNorm bn && !(module instanceof SyncBatchNorm)) {
            SyncBatchNorm sync = builder(bn.numFeatures(), collective).eps(bn.eps()).momentum(bn.momentum())
                    .affine(bn.affine()).trackRunningStats(bn.trackRunningStats()).kernels(bn.kernels()).build();
            Map<String, Long> counters = new java.util.LinkedHashMap<>();
            bn.counters().forEach((k, c) -> counters.put(k, c.get()));
            sync.loadStateDict(bn.stateDict(), counters);
            if (!bn.isTraining()) {
                sync.eval();
            }
            bn.close();
            return sync;
        }
        if (module instanceof Sequential seq) {
            Module[] converted = new Module[seq.size()];
            for (int i = 0; i < converted.length; i++) {
                converted[i] = convertChecked(seq.get(i), collective);
            }
            Sequential result = new Sequential(converted);
            if (!seq.isTraining()) {
                result.eval();
            }
            return result;
        }
        return module;
    }

    /** The SyncBatchNorm modules of {@code module} in forward order (searching Sequentials recursively). */
    static List<SyncBatchNorm> layers(Module module) {
        List<SyncBatchNorm> out = new ArrayList<>();
        collect(module, out);
        return out;
    }

    private static void collect(Module module, List<SyncBatchNorm> out) {
        if (module instanceof SyncBatchNorm s) {
            out.add(s);
        } else if (module instanceof Sequential seq) {
            for (int i = 0; i < seq.size(); i++) {
                collect(seq.get(i), out);
            }
        } else if (module instanceof DataParallel dp) {
            collect(dp.module(), out);
        }
    }
}
