package dev.bnorm.nn;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_RES;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.FUSE_ADD;
import static dev.bnorm.kernel.BatchNormKernels.FUSE_RELU;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.kernel.DType;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.kernel.Layout;
import dev.bnorm.kernel.SplitKernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.function.Function;

/**
 * Batch Normalization with PyTorch's semantics ({@code torch.nn.BatchNorm1d/2d}); the common part
 * of {@link BatchNorm1d} and {@link BatchNorm2d}, which differ only in the formats they accept.
 *
 * <p>Per channel c, over the M = N*S values x of that channel in the batch:
 * <pre>
 *   mean = sum(x)/M,   var = sum((x - mean)^2)/M            biased batch variance
 *   out  = gamma * (x - mean) / sqrt(var + eps) + beta      gamma = 1, beta = 0 without affine
 *   running_mean = (1 - f) * running_mean + f * mean
 *   running_var  = (1 - f) * running_var  + f * var * M/(M-1)   unbiased
 * </pre>
 * {@code f} is {@code momentum}, the weight of the <em>new</em> batch (PyTorch's convention, not
 * the decay of Keras or MXNet, where 0.9 would correspond to our 0.1), or, when momentum is
 * {@code null}, {@code 1/num_batches_tracked}: the running statistics are then the cumulative
 * average of the batch statistics.
 *
 * <p>Modes:
 * <ul>
 * <li>Training: normalize with the batch statistics. With {@code trackRunningStats},
 *     {@code num_batches_tracked} is incremented (saturating at 2^63-1, see {@link Counter}) and
 *     the running statistics are updated, once per forward. Backward differentiates through the
 *     batch statistics.</li>
 * <li>Evaluation with {@code trackRunningStats}: normalize with {@code running_mean} and
 *     {@code running_var}; backward treats them as constants (kernel flag USE_GLOBAL_STATS with
 *     {@code rstd = 1/sqrt(running_var + eps)} computed into a module-owned buffer).</li>
 * <li>Evaluation without {@code trackRunningStats}: like training (batch statistics) but nothing
 *     is updated; as in PyTorch, a batch with M = 1 is then an error.</li>
 * </ul>
 * A training forward with M = N*S = 1 is an {@link IllegalArgumentException} ("expected more
 * than 1 value per channel when training"), as in PyTorch; unlike PyTorch, nothing (not even
 * {@code num_batches_tracked}) is changed by a failed forward.
 *
 * <p>Ghost Batch Normalization (Hoffer et al. 2017, builder option {@code virtualBatchSize} = G):
 * in training, samples [0, G), [G, 2G), ... of the batch are virtual batches, each normalized with
 * its own statistics by the formulas above (M = its samples times S) and each a batch for the
 * running statistics: they are updated once per virtual batch, in order, and
 * {@code num_batches_tracked} counts virtual batches. The last virtual batch has the remaining
 * samples; if that is a single sample it joins the one before (G + 1 samples) instead of failing.
 * Keras's {@code virtual_batch_size} instead updates the running statistics once per batch with the
 * average of the virtual batches' means and variances; updating per virtual batch gives them the
 * same memory, counted in normalized batches, as training with batch size G and the same momentum,
 * and with momentum null they are the exact average over every virtual batch. Backward
 * differentiates each virtual batch through its own statistics; dgamma and dbeta are the sums over
 * the virtual batches. The slices are views of the batch (a sample is contiguous in every format):
 * nothing is copied. Evaluation is plain Batch Normalization (running statistics, or without them
 * the statistics of the whole batch).
 *
 * <p>Fused forms (the kernels' FUSE_RELU and FUSE_ADD, one pass over the data instead of two or
 * three): with the builder option {@code relu(true)} the output is {@code relu(bn(inp))};
 * {@link #forward(Tensor, Tensor)} adds a residual before the activation, {@code
 * relu(bn(inp) + residual)} (the ResNet block's BN + identity + ReLU), and backward then also
 * computes the residual's gradient ({@link #residualGrad()}). The ReLU's gradient is taken from
 * the module's output (out &gt; 0), so nothing more is saved. A {@link Sequential} fuses a
 * BatchNorm followed by a {@link ReLU} this way by itself. The results are those of the separate
 * modules (the normalized value is rounded to float, then the residual is added in float).
 *
 * <p>State (PyTorch's keys and initial values): {@code weight} (gamma, ones) and {@code bias}
 * (beta, zeros) with {@code affine}; {@code running_mean} (zeros), {@code running_var} (ones) and
 * the counter {@code num_batches_tracked} (0) with {@code trackRunningStats}. The kernels return
 * dgamma and dbeta as overwritten outputs; the module adds them into the parameter gradients.
 *
 * <p>With batch statistics the module runs the split-phase kernels ({@link SplitKernels}): the
 * batch mean and rstd stay in double from the forward to the backward (more accurate input
 * gradients than PyTorch's when |mean| is large against the standard deviation), and
 * {@link SyncBatchNorm} combines the statistics of several replicas between the phases.
 *
 * <p>Half-precision activations (mixed precision): {@code inp} may be a {@link DType#BF16} or
 * {@link DType#F16} tensor. The output, the input gradient and the residual's gradient are then of
 * that dtype, and the residual and dout must be of it too; the parameters, their gradients and the
 * running statistics stay float32 (master weights), and every statistic and sum stays in double as
 * with float32. Each activation output is the float32 computation on the (exactly) widened values
 * rounded once to the dtype (the kernels' DATA_BF16 and DATA_F16).
 *
 * <p>Defaults, PyTorch's: eps 1e-5, momentum 0.1, affine true, trackRunningStats true, kernels
 * {@link Kernels#best()}.
 */
public abstract sealed class BatchNorm extends Module permits BatchNorm1d, BatchNorm2d, SyncBatchNorm {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE;

    private final int numFeatures;
    private final double eps;
    private final Double momentum;
    private final boolean affine;
    private final boolean trackRunningStats;
    private final BatchNormKernels kernels;
    private final SplitKernels split;
    private final Format[] formats;

    private final Parameter weight;        // (C,) gamma, or null
    private final Parameter bias;          // (C,) beta, or null
    private final Tensor runningMean;      // (C,) or null
    private final Tensor runningVar;       // (C,) or null
    private final Counter numBatchesTracked; // or null
    private final Tensor saveMean;         // (C,) mean used by the last forward
    private final Tensor saveRstd;         // (C,) rstd used by the last forward
    private final Tensor dgamma;           // (C,) kernel output, added into weight.grad
    private final Tensor dbeta;            // (C,) kernel output, added into bias.grad
    // batch statistics (split phase), doubles held in float tensors of twice the length
    private final Tensor stats;            // (3, C) this module's partial statistics, then its sums
    private final Workspace meanRstd = workspace(); // (V, 2, C) mean and rstd of each virtual batch
    private final int virtualBatchSize;    // 0: the whole batch is one
    private final boolean relu;            // builder option: out = relu(bn(inp) [+ residual])
    private long[] savedBounds;            // the virtual batches of the last forward: [0, b1, ..., N]
    private final double[] dgammaSum;      // (C,) dgamma summed over the virtual batches
    private final double[] dbetaSum;       // (C,) dbeta summed over the virtual batches
    private final Workspace output = workspace();
    private final Workspace inputGrad = workspace();
    private final Workspace residualGrad = workspace();
    private Tensor savedInp;
    private boolean savedGlobalStats;
    private int savedFuse;                 // FUSE_RELU | FUSE_ADD of the last forward
    private boolean residualGradReady;     // a backward of a forward with a residual ran since it

    BatchNorm(Builder<?> b, Format... formats) {
        this.numFeatures = b.numFeatures;
        this.eps = b.eps;
        this.momentum = b.momentum;
        this.affine = b.affine;
        this.trackRunningStats = b.trackRunningStats;
        this.kernels = b.kernels != null ? b.kernels : Kernels.best();
        this.split = SplitKernels.of(kernels);
        this.formats = formats;
        this.virtualBatchSize = b.virtualBatchSize;
        this.relu = b.relu;
        if (virtualBatchSize != 0 && this instanceof SyncBatchNorm) {
            throw new IllegalArgumentException("virtualBatchSize: expected 0 for a SyncBatchNorm, got " + virtualBatchSize);
        }
        int c = numFeatures;
        if (affine) {
            weight = registerParameter("weight", Format.C, c);
            weight.value().fill(1f);
            bias = registerParameter("bias", Format.C, c);
        } else {
            weight = null;
            bias = null;
        }
        if (trackRunningStats) {
            runningMean = registerBuffer("running_mean", Tensor.zeros(Format.C, c));
            runningVar = registerBuffer("running_var", Tensor.zeros(Format.C, c));
            runningVar.fill(1f);
            numBatchesTracked = registerCounter("num_batches_tracked");
        } else {
            runningMean = null;
            runningVar = null;
            numBatchesTracked = null;
        }
        saveMean = workspace().get(Format.C, c);
        saveRstd = workspace().get(Format.C, c);
        dgamma = affine ? workspace().get(Format.C, c) : null;
        dbeta = affine ? workspace().get(Format.C, c) : null;
        stats = workspace().get(Format.C, 6L * c);
        meanRstd.get(Format.C, 4L * c);
        dgammaSum = new double[c];
        dbetaSum = new double[c];
    }

    /**
     * @param inp N x C x S in one of this module's formats, with C = {@code numFeatures}; float32,
     *            bf16 or f16 (the output is of the same dtype)
     * @throws IllegalArgumentException for the wrong format or channel count, and for M = N*S = 1
     *                                  when batch statistics are used
     */
    @Override
    public Tensor forward(Tensor inp) {
        return forward(inp, null, relu);
    }

    /**
     * {@code bn(inp) + residual}, or with {@code relu(true)} {@code relu(bn(inp) + residual)}, in
     * one pass; backward also computes {@link #residualGrad()}.
     *
     * @param inp      as {@link #forward(Tensor)}
     * @param residual the format, shape and dtype of {@code inp}; read only during this call; its
     *                 memory apart from this module's output
     * @throws IllegalArgumentException as {@link #forward(Tensor)}, and for a residual of another
     *                                  format, shape or dtype or in this module's output memory
     */
    public Tensor forward(Tensor inp, Tensor residual) {
        checkAlive("residual", residual);
        return forward(inp, residual, relu);
    }

    /** The forward with an optional residual and ReLU ({@link Sequential} fuses a following ReLU). */
    final Tensor forward(Tensor inp, Tensor residual, boolean withRelu) {
        checkUsable();
        checkAlive("inp", inp);
        checkInput(Input.of(inp)); // before any change
        if (residual != null) {
            checkAlive("residual", residual);
            if (!residual.sameShape(inp)) {
                throw new IllegalArgumentException("residual: expected the format and shape of inp "
                        + Arrays.toString(inp.shape()) + " " + inp.format() + ", got " + residual);
            }
            if (residual.dtype() != inp.dtype()) {
                throw new IllegalArgumentException("residual: expected dtype " + inp.dtype() + " (that of inp), got "
                        + residual.dtype() + " (" + residual + ")");
            }
            checkClear("residual", residual, "output", output, false);
        }
        savedInp = null;
        residualGradReady = false;
        Tensor out = output.like(inp);
        int fuse = (withRelu ? FUSE_RELU : 0) | (residual != null ? FUSE_ADD : 0);
        int data = inp.dtype().flags();
        int flags = (affine ? USE_SCALE | USE_SHIFT : 0) | fuse | data;
        boolean global = !isTraining() && trackRunningStats;
        if (global) {
            kernels.forwardInference(out.segment(), inp.segment(), residual == null ? null : residual.segment(),
                    runningMean.segment(), runningVar.segment(), seg(weight), seg(bias), eps, flags,
                    inp.format().layout(), inp.n(), inp.c(), inp.s());
            // the statistics this forward used, as constants for backward
            MemorySegment rv = runningVar.segment();
            MemorySegment rstd = saveRstd.segment();
            saveMean.copyFrom(runningMean);
            for (long c = 0; c < numFeatures; c++) {
                rstd.setAtIndex(F, c, (float) (1.0 / Math.sqrt(rv.getAtIndex(F, c) + eps)));
            }
        } else {
            long[] bounds = isTraining() ? virtualBatches(inp.n(), virtualBatchSize) : new long[] {0, inp.n()};
            meanRstd.get(Format.C, 4L * numFeatures * (bounds.length - 1));
            for (int v = 0; v + 1 < bounds.length; v++) {
                long n = bounds[v + 1] - bounds[v];
                MemorySegment x = samples(inp, bounds[v], n);
                split.statsLocal(stats.segment(), x, data, inp.format().layout(), n, inp.c(), inp.s());
                mergeStatistics(v);
                split.forwardApply(samples(out, bounds[v], n), x, residual == null ? null : samples(residual, bounds[v], n),
                        mean(v), rstd(v), seg(weight), seg(bias), flags, inp.format().layout(), n, inp.c(), inp.s());
            }
            savedBounds = bounds;
        }
        savedInp = inp;
        savedGlobalStats = global;
        savedFuse = fuse;
        return out;
    }

    @Override
    final void checkInput(Input inp) {
        checkFormat("inp", inp.format(), inp, formats);
        if (batchStatistics()) {
            checkValues(inp);
        }
        if (inp.c() != numFeatures) {
            throw new IllegalArgumentException("inp: expected C = " + numFeatures + " channels (numFeatures), got "
                    + inp.c() + " in " + inp);
        }
        if (inp.tensor() != null) {
            checkClear("inp", inp.tensor(), "output", output, false); // backward reads inp
        }
    }

    @Override
    final Input output(Input inp) {
        return Input.output(this, null, inp.format(), inp.shape());
    }

    /**
     * Batch statistics: the partial statistics of every part ({@link #combine}) merged into
     * {@link #mean()} and {@link #rstd()}, and the running statistics updated when training with
     * trackRunningStats. Nothing is changed if the merge fails.
     */
    final void mergeStatistics() {
        mergeStatistics(0);
    }

    private void mergeStatistics(int v) {
        boolean update = isTraining() && trackRunningStats;
        double factor = 0;
        if (update) {
            factor = momentum != null ? momentum : 1.0 / (numBatchesTracked.get() + 1.0);
        }
        MemorySegment all = combine(stats.segment());
        split.statsMerge(mean(v), rstd(v), update ? runningMean.segment() : null, update ? runningVar.segment() : null,
                all, eps, factor, update ? UPDATE_RUNNING : 0, numFeatures, all.byteSize() / (24L * numFeatures));
        if (update) {
            numBatchesTracked.increment();
        }
    }

    /** Batch statistics need more than one value per channel: here, in this batch alone. */
    void checkValues(Input inp) {
        if (inp.n() * inp.s() == 1) {
            throw new IllegalArgumentException("inp: expected more than 1 value per channel when training, got N="
                    + inp.n() + ", S=" + inp.s() + " (M = N*S = 1)");
        }
    }

    /**
     * The (3, C) partial statistics or sums of this module (doubles), combined with those of the
     * other parts of the batch: (P, 3, C) in part order. Here the batch has one part: this one.
     */
    MemorySegment combine(MemorySegment local) {
        return local;
    }

    /** Whether forward uses (and backward differentiates through) batch statistics. */
    final boolean batchStatistics() {
        return isTraining() || !trackRunningStats;
    }

    /** The (C,) double mean of the last forward with batch statistics (its first virtual batch). */
    final MemorySegment mean() {
        return mean(0);
    }

    /** The (C,) double rstd of the last forward with batch statistics (its first virtual batch). */
    final MemorySegment rstd() {
        return rstd(0);
    }

    private MemorySegment mean(int v) {
        return meanRstd.current().segment().asSlice(16L * numFeatures * v, 8L * numFeatures);
    }

    private MemorySegment rstd(int v) {
        return meanRstd.current().segment().asSlice(16L * numFeatures * v + 8L * numFeatures, 8L * numFeatures);
    }

    /** Samples [first, first + count) of {@code t}: contiguous in every format (a sample is C*S elements). */
    private static MemorySegment samples(Tensor t, long first, long count) {
        long bytes = (long) t.dtype().bytes() * t.c() * t.s();
        return t.segment().asSlice(first * bytes, count * bytes);
    }

    /**
     * The bounds [0, b1, ..., n] of the virtual batches of a batch of {@code n} samples: consecutive
     * ranges of {@code size} samples, the last one smaller when size does not divide n, and a last
     * one of a single sample merged into the one before it. {@code size} 0 (or &gt;= n): one range.
     */
    static long[] virtualBatches(long n, long size) {
        if (size == 0 || size >= n) {
            return new long[] {0, n};
        }
        int parts = Math.toIntExact(n / size + (n % size >= 2 ? 1 : 0));
        long[] bounds = new long[parts + 1];
        for (int v = 1; v < parts; v++) {
            bounds[v] = v * size;
        }
        bounds[parts] = n;
        return bounds;
    }

    /** The (3, C) double buffer of the partial statistics and sums. */
    final MemorySegment stats() {
        return stats.segment();
    }

    @Override
    public Tensor backward(Tensor dout) {
        checkUsable();
        checkBackward(dout, output.current(), savedInp);
        checkClear("dout", dout, "input gradient", inputGrad, true); // bn.h: dinp == dout or inp
        checkClear("inp (saved by forward)", savedInp, "input gradient", inputGrad, true);
        boolean add = (savedFuse & FUSE_ADD) != 0;
        if (add) {
            checkClear("dout", dout, "residual gradient", residualGrad, false);
        }
        Tensor dinp = inputGrad.like(dout);
        Tensor dres = add ? residualGrad.like(dout) : null;
        Tensor y = (savedFuse & FUSE_RELU) != 0 ? output.current() : null; // the ReLU's gate
        int data = dout.dtype().flags(); // checked: the dtype of the output and of inp
        if (savedGlobalStats) {
            int flags = (affine ? USE_SCALE : 0) | USE_GLOBAL_STATS | savedFuse | data;
            int mask = DIFF_INP | (affine ? DIFF_SCALE | DIFF_SHIFT : 0) | (add ? DIFF_RES : 0);
            kernels.backward(dinp.segment(), add ? dres.segment() : null, affine ? dgamma.segment() : null,
                    affine ? dbeta.segment() : null, dout.segment(), y == null ? null : y.segment(),
                    savedInp.segment(), seg(weight), saveMean.segment(), saveRstd.segment(),
                    flags, mask, dout.format().layout(), dout.n(), dout.c(), dout.s());
        } else {
            // this part's sums; dgamma and dbeta are this part's (a data-parallel wrapper adds the
            // replicas' parameter gradients), dinp uses the sums of all parts
            // (with virtual batches, each its own batch; dgamma and dbeta their sums in double)
            MemorySegment sums = stats.segment();
            Layout layout = dout.format().layout();
            double[] dg = dgammaSum;
            double[] db = dbetaSum;
            for (int v = 0; v + 1 < savedBounds.length; v++) {
                long n = savedBounds[v + 1] - savedBounds[v];
                MemorySegment dy = samples(dout, savedBounds[v], n);
                MemorySegment x = samples(savedInp, savedBounds[v], n);
                MemorySegment yv = y == null ? null : samples(y, savedBounds[v], n);
                split.backwardReduce(sums, dy, yv, x, mean(v), (savedFuse & FUSE_RELU) | data, layout, n, dout.c(),
                        dout.s());
                MemorySegment r = rstd(v);
                for (int c = 0; c < numFeatures; c++) {
                    double sumDy = sums.getAtIndex(D, numFeatures + c);
                    double dgammaV = r.getAtIndex(D, c) * sums.getAtIndex(D, 2L * numFeatures + c); // rstd*sum_dy_xmu
                    db[c] = v == 0 ? sumDy : db[c] + sumDy;
                    dg[c] = v == 0 ? dgammaV : dg[c] + dgammaV;
                }
                MemorySegment all = combine(sums);
                split.backwardApply(samples(dinp, savedBounds[v], n), add ? samples(dres, savedBounds[v], n) : null,
                        null, null, dy, yv, x, seg(weight), mean(v), r, all, (affine ? USE_SCALE : 0) | savedFuse | data,
                        DIFF_INP | (add ? DIFF_RES : 0), layout, n, dout.c(), dout.s(),
                        all.byteSize() / (24L * numFeatures));
            }
            if (affine) {
                for (int c = 0; c < numFeatures; c++) {
                    dbeta.segment().setAtIndex(F, c, (float) db[c]);
                    dgamma.segment().setAtIndex(F, c, (float) dg[c]);
                }
            }
        }
        if (affine) {
            addInto(weight.grad().segment(), dgamma.segment());
            addInto(bias.grad().segment(), dbeta.segment());
        }
        residualGradReady = add;
        return dinp;
    }

    /**
     * The gradient of the residual of the last {@link #forward(Tensor, Tensor)}, computed by the
     * last backward: dout, or with the ReLU 0 where the output is &lt;= 0 and dout elsewhere. A
     * borrowed view of module-owned memory, valid until the next backward.
     *
     * @throws IllegalStateException if the last forward had no residual or no backward followed it
     */
    public Tensor residualGrad() {
        checkUsable();
        if (!residualGradReady) {
            throw new IllegalStateException("residualGrad: expected a forward with a residual and its backward, got "
                    + ((savedFuse & FUSE_ADD) == 0 ? "a last forward without a residual" : "no backward yet"));
        }
        return residualGrad.current();
    }

    /** Whether the output is passed through a ReLU in the same pass (builder option {@code relu}). */
    public boolean relu() {
        return relu;
    }

    private void addInto(MemorySegment acc, MemorySegment delta) {
        for (long c = 0; c < numFeatures; c++) {
            acc.setAtIndex(F, c, acc.getAtIndex(F, c) + delta.getAtIndex(F, c));
        }
    }

    private static MemorySegment seg(Parameter p) {
        return p == null ? null : p.value().segment();
    }

    // ---- configuration and state ----

    /** C, the number of channels (features). */
    public int numFeatures() {
        return numFeatures;
    }

    /** The eps added to the variance. */
    public double eps() {
        return eps;
    }

    /** The momentum (weight of the new batch), or null for a cumulative average. */
    public Double momentum() {
        return momentum;
    }

    /** Whether the module has gamma and beta. */
    public boolean affine() {
        return affine;
    }

    /** Whether the module keeps running statistics. */
    public boolean trackRunningStats() {
        return trackRunningStats;
    }

    /** The number of samples of a virtual (ghost) batch, or 0 when a batch is normalized as a whole. */
    public int virtualBatchSize() {
        return virtualBatchSize;
    }

    /** The kernels it runs on. */
    public BatchNormKernels kernels() {
        return kernels;
    }

    /** gamma, (C,), or null without affine. */
    public Parameter weight() {
        return weight;
    }

    /** beta, (C,), or null without affine. */
    public Parameter bias() {
        return bias;
    }

    /** The running mean, (C,), or null without trackRunningStats; the module's own tensor (do not close). */
    public Tensor runningMean() {
        return runningMean;
    }

    /** The running (unbiased) variance, (C,), or null without trackRunningStats; the module's own tensor (do not close). */
    public Tensor runningVar() {
        return runningVar;
    }

    /** The number of training forwards with tracking, or 0 without trackRunningStats. */
    public long numBatchesTracked() {
        return numBatchesTracked == null ? 0 : numBatchesTracked.get();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "(" + numFeatures + ", eps=" + eps + ", momentum=" + momentum
                + ", affine=" + affine + ", trackRunningStats=" + trackRunningStats
                + (virtualBatchSize == 0 ? "" : ", virtualBatchSize=" + virtualBatchSize) + (relu ? ", relu=true" : "")
                + ", kernels=" + kernels.name()
                + ", formats=" + Arrays.toString(formats) + ")";
    }

    /**
     * Options of a {@link BatchNorm1d} or {@link BatchNorm2d}; each setter checks its argument.
     *
     * @param <T> the module built
     */
    public static final class Builder<T extends BatchNorm> {
        private final int numFeatures;
        private final Function<Builder<T>, T> factory;
        private double eps = 1e-5;
        private Double momentum = 0.1;
        private boolean affine = true;
        private boolean trackRunningStats = true;
        private int virtualBatchSize;
        private boolean relu;
        private BatchNormKernels kernels;

        Builder(int numFeatures, Function<Builder<T>, T> factory) {
            if (numFeatures < 1) {
                throw new IllegalArgumentException("numFeatures: expected at least 1, got " + numFeatures);
            }
            this.numFeatures = numFeatures;
            this.factory = factory;
        }

        /** Added to the variance before the square root; finite and &gt; 0. Default 1e-5. */
        public Builder<T> eps(double eps) {
            if (!(Double.isFinite(eps) && eps > 0)) {
                throw new IllegalArgumentException("eps: expected a finite number > 0, got " + eps);
            }
            this.eps = eps;
            return this;
        }

        /**
         * Weight of the new batch in the running statistics, in [0, 1] (PyTorch's convention), or
         * null for the cumulative average (factor 1/num_batches_tracked). Default 0.1.
         */
        public Builder<T> momentum(Double momentum) {
            if (momentum != null && !(momentum >= 0 && momentum <= 1)) {
                throw new IllegalArgumentException("momentum: expected null or a number in [0, 1], got " + momentum);
            }
            this.momentum = momentum;
            return this;
        }

        /** Whether to learn gamma (weight) and beta (bias). Default true. */
        public Builder<T> affine(boolean affine) {
            this.affine = affine;
            return this;
        }

        /** Whether to keep running statistics for evaluation mode. Default true. */
        public Builder<T> trackRunningStats(boolean trackRunningStats) {
            this.trackRunningStats = trackRunningStats;
            return this;
        }

        /**
         * Ghost Batch Normalization: in training, a batch is split into consecutive virtual batches
         * of this many samples, each normalized with its own statistics (see {@link BatchNorm}); at
         * least 2, or 0 (the default) for none. Not for a {@link SyncBatchNorm}.
         */
        public Builder<T> virtualBatchSize(int virtualBatchSize) {
            if (virtualBatchSize != 0 && virtualBatchSize < 2) {
                throw new IllegalArgumentException("virtualBatchSize: expected 0 (none) or at least 2, got "
                        + virtualBatchSize);
            }
            this.virtualBatchSize = virtualBatchSize;
            return this;
        }

        /**
         * Whether the output is {@code relu(bn(inp))} (or {@code relu(bn(inp) + residual)}),
         * computed in the same pass as the normalization, forward and backward. Default false.
         */
        public Builder<T> relu(boolean relu) {
            this.relu = relu;
            return this;
        }

        /** The kernels to run on, e.g. {@code Kernels.named("java")}. Default {@link Kernels#best()}. */
        public Builder<T> kernels(BatchNormKernels kernels) {
            if (kernels == null) {
                throw new IllegalArgumentException("kernels: expected a BatchNormKernels, got null");
            }
            this.kernels = kernels;
            return this;
        }

        /** A new module in training mode, confined to this thread. */
        public T build() {
            return factory.apply(this);
        }
    }
}
