package dev.bnorm.nn;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.kernel.Layout;
import dev.bnorm.kernel.SplitKernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.function.Function;

/**
 * Batch Renormalization (Ioffe 2017); the common part of {@link BatchRenorm1d} and
 * {@link BatchRenorm2d}. In training, per channel over the M = N*S values of the batch, with the
 * running statistics mu = running_mean and sigma = sqrt(running_var + eps) as they were before
 * this batch:
 * <pre>
 *   mean_B = sum(x)/M,  var_B = sum((x - mean_B)^2)/M,  sigma_B = sqrt(var_B + eps)
 *   xhat = (x - mean_B)/sigma_B
 *   r = clip(sigma_B/sigma, 1/rmax, rmax),  d = clip((mean_B - mu)/sigma, -dmax, dmax)
 *   out = gamma * (xhat*r + d) + beta
 *   running_mean = (1 - f) * running_mean + f * mean_B
 *   running_var  = (1 - f) * running_var  + f * var_B * M/(M-1)            unbiased, as BatchNorm
 * </pre>
 * r and d are constants for backward (the paper's stop-gradient); with T1 = sum(dout) and
 * T2 = sum(dout*(x - mean_B)), differentiating through mean_B and sigma_B only:
 * <pre>
 *   dxhat = dout*gamma*r
 *   dinp   = gamma*r/sigma_B * ((dout - T1/M) - (x - mean_B)/sigma_B^2 * T2/M)
 *   dgamma = sum(dout*(xhat*r + d)) = r*T2/sigma_B + d*T1,    dbeta = T1
 * </pre>
 * Evaluation is plain Batch Normalization with the running statistics (as {@link BatchNorm}).
 * With rmax = 1 and dmax = 0, r = 1 and d = 0: training is {@link BatchNorm}'s, bit for bit on the
 * same kernels (outputs, gradients, running statistics).
 *
 * <p>Shape on the kernels: the split-phase kernels ({@link SplitKernels}) give mean_B and
 * 1/sigma_B in double; r and d are computed here in double and folded, also in double, into the
 * mean and rstd that the forward apply takes: gamma*(xhat*r + d) + beta = gamma*(x - m')*s' + beta
 * with s' = r/sigma_B and m' = mean_B - d/s'. That needs no new kernel and no rounding of r or d
 * to float, and with r = 1, d = 0 it passes mean_B and 1/sigma_B unchanged. Backward runs the
 * split backward with mean_B, 1/sigma_B and the float scale gamma*r (rounded once; exactly gamma
 * when r = 1).
 *
 * <p>The limits come from a {@link Schedule}, evaluated at step t = {@code num_batches_tracked}
 * before the forward; {@link #schedule(Schedule)} replaces it at any step (a constant schedule sets
 * rmax and dmax for the next steps).
 *
 * <p>State, with the keys of torchrl's {@code BatchRenorm1d} (the PyTorch implementation in use;
 * also PyTorch BatchNorm's, so a state dict loads into a {@link BatchNorm} for inference):
 * {@code weight}, {@code bias} (with affine), {@code running_mean}, {@code running_var} (the
 * variance: sigma is sqrt(running_var + eps), as in torchrl; the paper keeps sigma) and
 * {@code num_batches_tracked}. Differences from torchrl: the unbiased factor is M/(M-1) with
 * M = N*S, as PyTorch's BatchNorm (torchrl uses N/(N-1) from the batch dimension alone, wrong for
 * (N, C, L) inputs); the warm-up relaxes the limits linearly as in the paper (torchrl multiplies
 * r - 1 and d by num_batches_tracked // warmup_steps, or / with smooth, a factor not capped at 1:
 * the result of its clamp_max is discarded); torchrl always has weight and bias; defaults are
 * PyTorch BatchNorm's momentum 0.1 (torchrl: 0.01) and no warm-up (torchrl: 10000 steps).
 *
 * <p>Defaults: eps 1e-5, momentum 0.1, affine true, schedule {@code Schedule.constant(3, 5)},
 * kernels {@link Kernels#best()}. A training forward needs M &gt; 1.
 */
public abstract sealed class BatchRenorm extends Module permits BatchRenorm1d, BatchRenorm2d {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE;

    /**
     * The limits rmax(t) and dmax(t) at step t: 1 and 0 for t &lt; warmup, then relaxed linearly to
     * {@code rmax} over {@code rmaxSteps} steps and to {@code dmax} over {@code dmaxSteps} steps
     * (0 steps: at once). The paper's: {@code new Schedule(3, 5, 5000, 35000, 20000)}.
     */
    public record Schedule(double rmax, double dmax, long warmup, long rmaxSteps, long dmaxSteps) {

        /** Checks rmax finite &gt;= 1, dmax finite &gt;= 0 and the step counts &gt;= 0. */
        public Schedule {
            if (!(Double.isFinite(rmax) && rmax >= 1)) {
                throw new IllegalArgumentException("rmax: expected a finite number >= 1, got " + rmax);
            }
            if (!(Double.isFinite(dmax) && dmax >= 0)) {
                throw new IllegalArgumentException("dmax: expected a finite number >= 0, got " + dmax);
            }
            if (warmup < 0 || rmaxSteps < 0 || dmaxSteps < 0) {
                throw new IllegalArgumentException("warmup, rmaxSteps, dmaxSteps: expected >= 0, got " + warmup
                        + ", " + rmaxSteps + ", " + dmaxSteps);
            }
        }

        /** rmax and dmax at every step. */
        public static Schedule constant(double rmax, double dmax) {
            return new Schedule(rmax, dmax, 0, 0, 0);
        }

        /** rmax at step t. */
        public double rmaxAt(long t) {
            return 1 + (rmax - 1) * progress(t, rmaxSteps);
        }

        /** dmax at step t. */
        public double dmaxAt(long t) {
            return dmax * progress(t, dmaxSteps);
        }

        private double progress(long t, long steps) {
            if (t < warmup) {
                return 0;
            }
            return steps == 0 ? 1 : Math.min(1.0, (double) (t - warmup) / steps);
        }
    }

    private final int numFeatures;
    private final double eps;
    private final double momentum;
    private final boolean affine;
    private final BatchNormKernels kernels;
    private final SplitKernels split;
    private final Format[] formats;
    private Schedule schedule;

    private final Parameter weight;          // (C,) gamma, or null
    private final Parameter bias;            // (C,) beta, or null
    private final Tensor runningMean;        // (C,)
    private final Tensor runningVar;         // (C,)
    private final Counter numBatchesTracked;
    private final Tensor stats;              // (3, C) doubles: partial statistics, then backward sums
    private final Tensor batch;              // (6, C) doubles: mean_B | rstd_B | m' | s' | r | d
    private final Tensor scale;              // (C,) gamma*r for backward
    private final Tensor saveMean;           // (C,) running mean used by an evaluation forward
    private final Tensor saveRstd;           // (C,) its rstd
    private final Tensor dgamma;             // (C,) kernel output, added into weight.grad
    private final Tensor dbeta;              // (C,)
    private final Workspace output = workspace();
    private final Workspace inputGrad = workspace();
    private Tensor savedInp;
    private boolean savedGlobalStats;

    BatchRenorm(Builder<?> b, Format... formats) {
        this.numFeatures = b.numFeatures;
        this.eps = b.eps;
        this.momentum = b.momentum;
        this.affine = b.affine;
        this.kernels = b.kernels != null ? b.kernels : Kernels.best();
        this.split = SplitKernels.of(kernels);
        this.formats = formats;
        this.schedule = b.schedule;
        int c = numFeatures;
        if (affine) {
            weight = registerParameter("weight", Format.C, c);
            weight.value().fill(1f);
            bias = registerParameter("bias", Format.C, c);
        } else {
            weight = null;
            bias = null;
        }
        runningMean = registerBuffer("running_mean", Tensor.zeros(Format.C, c));
        runningVar = registerBuffer("running_var", Tensor.zeros(Format.C, c));
        runningVar.fill(1f);
        numBatchesTracked = registerCounter("num_batches_tracked");
        stats = workspace().get(Format.C, 6L * c);
        batch = workspace().get(Format.C, 12L * c);
        scale = workspace().get(Format.C, c);
        saveMean = workspace().get(Format.C, c);
        saveRstd = workspace().get(Format.C, c);
        dgamma = affine ? workspace().get(Format.C, c) : null;
        dbeta = affine ? workspace().get(Format.C, c) : null;
    }

    @Override
    final void checkInput(Input inp) {
        checkFormat("inp", inp.format(), inp, formats);
        if (isTraining() && inp.n() * inp.s() == 1) {
            throw new IllegalArgumentException("inp: expected more than 1 value per channel when training, got N="
                    + inp.n() + ", S=" + inp.s() + " (M = N*S = 1)");
        }
        if (inp.c() != numFeatures) {
            throw new IllegalArgumentException("inp: expected C = " + numFeatures + " channels (numFeatures), got "
                    + inp.c() + " in " + inp);
        }
        if (inp.tensor() != null && inp.tensor() == output.current()) {
            throw new IllegalArgumentException("inp: expected a tensor other than this module's own output");
        }
    }

    @Override
    final Input output(Input inp) {
        return Input.output(this, null, inp.format(), inp.shape());
    }

    /**
     * @param inp N x C x S in one of this module's formats, with C = {@code numFeatures}
     * @throws IllegalArgumentException for the wrong format or channel count, and for M = N*S = 1
     *                                  in training
     */
    @Override
    public Tensor forward(Tensor inp) {
        checkUsable();
        checkOpen("inp", inp);
        checkInput(Input.of(inp));
        savedInp = null;
        Tensor out = output.like(inp);
        int flags = affine ? USE_SCALE | USE_SHIFT : 0;
        Layout layout = inp.format().layout();
        if (!isTraining()) {
            kernels.forwardInference(out.segment(), inp.segment(), runningMean.segment(), runningVar.segment(),
                    seg(weight), seg(bias), eps, flags, layout, inp.n(), inp.c(), inp.s());
            MemorySegment rv = runningVar.segment();
            saveMean.copyFrom(runningMean);
            for (long c = 0; c < numFeatures; c++) {
                saveRstd.segment().setAtIndex(F, c, (float) (1.0 / Math.sqrt(rv.getAtIndex(F, c) + eps)));
            }
        } else {
            long t = numBatchesTracked.get();
            double rmax = schedule.rmaxAt(t);
            double dmax = schedule.dmaxAt(t);
            MemorySegment bs = batch.segment();
            MemorySegment rm = runningMean.segment();
            MemorySegment rv = runningVar.segment();
            for (long c = 0; c < numFeatures; c++) { // mu and sigma before the update, kept in r and d's places
                bs.setAtIndex(D, 4L * numFeatures + c, rm.getAtIndex(F, c));
                bs.setAtIndex(D, 5L * numFeatures + c, Math.sqrt(rv.getAtIndex(F, c) + eps));
            }
            split.statsLocal(stats.segment(), inp.segment(), layout, inp.n(), inp.c(), inp.s());
            split.statsMerge(part(0), part(1), rm, rv, stats.segment(), eps, momentum, UPDATE_RUNNING, numFeatures, 1);
            numBatchesTracked.increment();
            for (long c = 0; c < numFeatures; c++) {
                double mean = bs.getAtIndex(D, c);
                double rstd = bs.getAtIndex(D, numFeatures + c);
                double mu = bs.getAtIndex(D, 4L * numFeatures + c);
                double sigma = bs.getAtIndex(D, 5L * numFeatures + c);
                double r = Math.min(Math.max(1 / rstd / sigma, 1 / rmax), rmax);
                double d = Math.min(Math.max((mean - mu) / sigma, -dmax), dmax);
                double s = rstd * r;
                bs.setAtIndex(D, 2L * numFeatures + c, mean - d / s);
                bs.setAtIndex(D, 3L * numFeatures + c, s);
                bs.setAtIndex(D, 4L * numFeatures + c, r);
                bs.setAtIndex(D, 5L * numFeatures + c, d);
                double g = affine ? weight.value().segment().getAtIndex(F, c) : 1.0;
                scale.segment().setAtIndex(F, c, (float) (g * r));
            }
            split.forwardApply(out.segment(), inp.segment(), part(2), part(3), seg(weight), seg(bias), flags,
                    layout, inp.n(), inp.c(), inp.s());
        }
        savedInp = inp;
        savedGlobalStats = !isTraining();
        return out;
    }

    /** Row k of the (6, C) doubles of the last training forward. */
    private MemorySegment part(int k) {
        return batch.segment().asSlice(8L * numFeatures * k, 8L * numFeatures);
    }

    @Override
    public Tensor backward(Tensor dout) {
        checkUsable();
        checkBackward(dout, output.current(), savedInp);
        Tensor dinp = inputGrad.like(dout);
        Layout layout = dout.format().layout();
        if (savedGlobalStats) {
            int flags = (affine ? USE_SCALE : 0) | USE_GLOBAL_STATS;
            int mask = DIFF_INP | (affine ? DIFF_SCALE | DIFF_SHIFT : 0);
            kernels.backward(dinp.segment(), affine ? dgamma.segment() : null, affine ? dbeta.segment() : null,
                    dout.segment(), savedInp.segment(), seg(weight), saveMean.segment(), saveRstd.segment(),
                    flags, mask, layout, dout.n(), dout.c(), dout.s());
        } else {
            MemorySegment sums = stats.segment();
            MemorySegment bs = batch.segment();
            split.backwardReduce(sums, dout.segment(), savedInp.segment(), part(0), layout, dout.n(), dout.c(), dout.s());
            if (affine) {
                for (long c = 0; c < numFeatures; c++) {
                    double t1 = sums.getAtIndex(D, numFeatures + c);
                    double t2 = sums.getAtIndex(D, 2L * numFeatures + c);
                    double r = bs.getAtIndex(D, 4L * numFeatures + c);
                    double d = bs.getAtIndex(D, 5L * numFeatures + c);
                    double dg = r * bs.getAtIndex(D, numFeatures + c) * t2;
                    dbeta.segment().setAtIndex(F, c, (float) t1);
                    dgamma.segment().setAtIndex(F, c, (float) (d == 0 ? dg : dg + d * t1));
                }
            }
            split.backwardApply(dinp.segment(), null, null, dout.segment(), savedInp.segment(), scale.segment(),
                    part(0), part(1), sums, USE_SCALE, DIFF_INP, layout, dout.n(), dout.c(), dout.s(), 1);
        }
        if (affine) {
            addInto(weight.grad().segment(), dgamma.segment());
            addInto(bias.grad().segment(), dbeta.segment());
        }
        return dinp;
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

    /** The schedule of rmax and dmax. */
    public Schedule schedule() {
        return schedule;
    }

    /** Replaces the schedule of rmax and dmax from the next training forward on. */
    public void schedule(Schedule schedule) {
        checkUsable();
        if (schedule == null) {
            throw new IllegalArgumentException("schedule: expected a Schedule, got null");
        }
        this.schedule = schedule;
    }

    /** The (C,) r of the last training forward, in double. */
    public double[] lastR() {
        return part(4).toArray(D);
    }

    /** The (C,) d of the last training forward, in double. */
    public double[] lastD() {
        return part(5).toArray(D);
    }

    /** C, the number of channels (features). */
    public int numFeatures() {
        return numFeatures;
    }

    /** The eps added to the variances. */
    public double eps() {
        return eps;
    }

    /** The momentum (weight of the new batch). */
    public double momentum() {
        return momentum;
    }

    /** Whether the module has gamma and beta. */
    public boolean affine() {
        return affine;
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

    /** The running mean, (C,); the module's own tensor (do not close). */
    public Tensor runningMean() {
        return runningMean;
    }

    /** The running (unbiased) variance, (C,); the module's own tensor (do not close). */
    public Tensor runningVar() {
        return runningVar;
    }

    /** The number of training forwards: the step t of the schedule. */
    public long numBatchesTracked() {
        return numBatchesTracked.get();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "(" + numFeatures + ", eps=" + eps + ", momentum=" + momentum
                + ", affine=" + affine + ", " + schedule + ", kernels=" + kernels.name()
                + ", formats=" + Arrays.toString(formats) + ")";
    }

    /**
     * Options of a {@link BatchRenorm1d} or {@link BatchRenorm2d}; each setter checks its argument.
     *
     * @param <T> the module built
     */
    public static final class Builder<T extends BatchRenorm> {
        private final int numFeatures;
        private final Function<Builder<T>, T> factory;
        private double eps = 1e-5;
        private double momentum = 0.1;
        private boolean affine = true;
        private Schedule schedule = Schedule.constant(3, 5);
        private BatchNormKernels kernels;

        Builder(int numFeatures, Function<Builder<T>, T> factory) {
            if (numFeatures < 1) {
                throw new IllegalArgumentException("numFeatures: expected at least 1, got " + numFeatures);
            }
            this.numFeatures = numFeatures;
            this.factory = factory;
        }

        /** Added to the variances before the square root; finite and &gt; 0. Default 1e-5. */
        public Builder<T> eps(double eps) {
            if (!(Double.isFinite(eps) && eps > 0)) {
                throw new IllegalArgumentException("eps: expected a finite number > 0, got " + eps);
            }
            this.eps = eps;
            return this;
        }

        /** Weight of the new batch in the running statistics, in [0, 1]. Default 0.1. */
        public Builder<T> momentum(double momentum) {
            if (!(momentum >= 0 && momentum <= 1)) {
                throw new IllegalArgumentException("momentum: expected a number in [0, 1], got " + momentum);
            }
            this.momentum = momentum;
            return this;
        }

        /** Whether to learn gamma (weight) and beta (bias). Default true. */
        public Builder<T> affine(boolean affine) {
            this.affine = affine;
            return this;
        }

        /** The limits rmax and dmax per step. Default {@code Schedule.constant(3, 5)}. */
        public Builder<T> schedule(Schedule schedule) {
            if (schedule == null) {
                throw new IllegalArgumentException("schedule: expected a Schedule, got null");
            }
            this.schedule = schedule;
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
