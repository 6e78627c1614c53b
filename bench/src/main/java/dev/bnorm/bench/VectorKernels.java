package dev.bnorm.bench;

import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.F2D;

import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.internal.Checks;
import dev.bnorm.kernel.Layout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Batch Normalization kernels on the JDK Vector API (incubator module
 * {@code jdk.incubator.vector}), kept in bench/ to measure how far pure Java gets. Same contract
 * and semantics as {@link dev.bnorm.kernel.JavaKernels} and {@code bn.h}, validated by
 * {@link Checks}; native (off-heap) segments only. Single-threaded.
 *
 * <p>N = batch, C = channels, S = spatial size; M = N*S values per channel. Numerics:
 * <pre>
 *   statistics: floats widened to double lanes; two passes (sum, then sum of squared deviations
 *               from the block mean) over blocks of at most BLOCK_FLOATS values, so the second
 *               pass reads the block from cache; blocks merged with Chan's formula
 *                 delta = mean_b - mean_a, n = n_a + n_b
 *                 mean  = mean_a + delta*n_b/n
 *                 M2    = M2_a + M2_b + delta^2*n_a*n_b/n,      var = M2/M (biased)
 *               never E[x^2] - E[x]^2
 *   normalize:  float lanes: out = ((x - mean_hi) - mean_lo)*scale + beta (fused multiply-add),
 *               with mean = mean_hi + mean_lo split into two floats, so x - mean keeps its
 *               accuracy when |mean| >> std; scale = gamma*rstd rounded once to float
 *   backward:   t1 = sum(dout), t2 = sum(dout*(x - mean)) in double lanes, one pass (mean is
 *               given, nothing cancels); dinp = k*((dout - a) - (x - mean)*b) in float lanes with
 *               k = gamma*rstd, a = t1/M, b = rstd^2*t2/M (so that xhat*dgamma/M = (x - mean)*b)
 * </pre>
 * Memory order: NCHW is vectorized within a channel (N runs of S contiguous floats; the
 * channel's statistics, then its normalization while it is still in cache). NC and NHWC (and
 * NCHW with S = 1, the same memory as NC) are R = N*S rows of C floats, vectorized across
 * channels, with per-channel accumulators in {@code double[C]} arrays and every row read in order.
 *
 * <p>In place ({@code out == inp}, {@code dinp == dout}, {@code dinp == inp}): all statistics of a
 * channel (NCHW) or of all channels (rows) are complete before the first element they govern is
 * written, and each element is written at the position it was read from, after it was read.
 */
public final class VectorKernels implements BatchNormKernels {

    /** The only instance; stateless and thread-safe. */
    public static final VectorKernels INSTANCE = new VectorKernels();

    /** Float lanes for normalize and dinp. */
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    /** Double lanes for sums. */
    private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
    /** Floats loaded to be widened into one DS vector (same lane count, half the bits). */
    private static final VectorSpecies<Float> WS =
            VectorSpecies.of(float.class, VectorShape.forBitSize(DS.vectorBitSize() / 2));
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** Statistics blocks: at most 64 KiB of input, read twice (the second time from L1/L2). */
    private static final long BLOCK_FLOATS = 16 * 1024;
    /** Rows layout: at least this many rows per block, so Chan's merge costs at most 1/16 of a pass. */
    private static final long MIN_BLOCK_ROWS = 16;

    private VectorKernels() {
    }

    @Override
    public String name() {
        return "vector";
    }

    @Override
    public void forwardTraining(MemorySegment out, MemorySegment saveMean, MemorySegment saveRstd,
                                MemorySegment runningMean, MemorySegment runningVar,
                                MemorySegment inp, MemorySegment res, MemorySegment gamma, MemorySegment beta,
                                double eps, double momentum, int flags,
                                Layout layout, long n, long c, long s) {
        unfused(flags);
        Checks.checkForwardTraining(out, saveMean, saveRstd, runningMean, runningVar, inp, res, gamma, beta,
                eps, momentum, flags, layout, n, c, s, true);
        int channels = channels(c);
        double unbias = (double) (n * s) / (n * s - 1);
        double[] mean = new double[channels];
        double[] var = new double[channels];
        Affine affine = new Affine(channels);
        boolean rows = layout != Layout.NCHW || s == 1;
        if (rows) {
            statsRows(mean, var, inp, n * s, channels);
        }
        for (int ch = 0; ch < channels; ch++) {
            if (!rows) {
                statsChannel(mean, var, inp, n, channels, s, ch);
            }
            double rstd = 1.0 / Math.sqrt(var[ch] + eps);
            saveMean.setAtIndex(F, ch, (float) mean[ch]);
            saveRstd.setAtIndex(F, ch, (float) rstd);
            if (runningMean != null) {
                runningMean.setAtIndex(F, ch, (float) ((1 - momentum) * runningMean.getAtIndex(F, ch) + momentum * mean[ch]));
                runningVar.setAtIndex(F, ch, (float) ((1 - momentum) * runningVar.getAtIndex(F, ch)
                        + momentum * var[ch] * unbias));
            }
            affine.set(ch, mean[ch], scale(gamma, ch) * rstd, shift(beta, ch));
            if (!rows) {
                normalizeChannel(out, inp, affine, n, channels, s, ch);
            }
        }
        if (rows) {
            normalizeRows(out, inp, affine, n * s, channels);
        }
    }

    @Override
    public void forwardInference(MemorySegment out, MemorySegment inp, MemorySegment res, MemorySegment mean,
                                 MemorySegment var,
                                 MemorySegment gamma, MemorySegment beta, double eps, int flags,
                                 Layout layout, long n, long c, long s) {
        unfused(flags);
        Checks.checkForwardInference(out, inp, res, mean, var, gamma, beta, eps, flags, layout, n, c, s, true);
        int channels = channels(c);
        Affine affine = new Affine(channels);
        for (int ch = 0; ch < channels; ch++) {
            double rstd = 1.0 / Math.sqrt(var.getAtIndex(F, ch) + eps);
            affine.set(ch, mean.getAtIndex(F, ch), scale(gamma, ch) * rstd, shift(beta, ch));
        }
        if (layout != Layout.NCHW || s == 1) {
            normalizeRows(out, inp, affine, n * s, channels);
        } else {
            for (int ch = 0; ch < channels; ch++) {
                normalizeChannel(out, inp, affine, n, channels, s, ch);
            }
        }
    }

    @Override
    public void backward(MemorySegment dinp, MemorySegment dres, MemorySegment dgamma, MemorySegment dbeta,
                         MemorySegment dout, MemorySegment out, MemorySegment inp, MemorySegment gamma,
                         MemorySegment mean, MemorySegment rstd, int flags, int mask,
                         Layout layout, long n, long c, long s) {
        unfused(flags);
        Checks.checkBackward(dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, flags, mask, layout, n, c,
                s, true);
        int channels = channels(c);
        boolean global = (flags & USE_GLOBAL_STATS) != 0;
        boolean wantInp = (mask & DIFF_INP) != 0;
        boolean wantGamma = (mask & DIFF_SCALE) != 0;
        boolean wantBeta = (mask & DIFF_SHIFT) != 0;
        // t2 (needs inp) for dgamma, and for dinp with batch statistics; t1 for any of them but global dinp
        MemorySegment x = wantGamma || (wantInp && !global) ? inp : null;
        boolean needSums = wantGamma || wantBeta || (wantInp && !global);
        double m = n * s;
        double[] meanC = new double[channels];
        for (int ch = 0; ch < channels; ch++) {
            meanC[ch] = mean.getAtIndex(F, ch);
        }
        double[] t1 = new double[channels];
        double[] t2 = new double[channels];
        Grad grad = new Grad(channels);
        boolean rows = layout != Layout.NCHW || s == 1;
        if (rows && needSums) {
            sumsRows(t1, t2, dout, x, meanC, n * s, channels);
        }
        for (int ch = 0; ch < channels; ch++) {
            if (!rows && needSums) {
                sumsChannel(t1, t2, dout, x, meanC[ch], n, channels, s, ch);
            }
            double r = rstd.getAtIndex(F, ch);
            double dgammaC = r * t2[ch];
            if (wantGamma) {
                dgamma.setAtIndex(F, ch, (float) dgammaC);
            }
            if (wantBeta) {
                dbeta.setAtIndex(F, ch, (float) t1[ch]);
            }
            grad.set(ch, meanC[ch], scale(gamma, ch) * r, t1[ch] / m, r * dgammaC / m);
            if (!rows && wantInp) {
                dinpChannel(dinp, dout, inp, grad, global, n, channels, s, ch);
            }
        }
        if (rows && wantInp) {
            dinpRows(dinp, dout, inp, grad, global, n * s, channels);
        }
    }

    // ------------------------------------------------------------------------------------------
    // per-channel coefficients, as floats for the float-lane passes

    /** Each channel's mean split into two floats, mean = hi + lo, so that (x - hi) - lo is accurate. */
    private static class Centered {
        final float[] hi;
        final float[] lo;

        Centered(int channels) {
            hi = new float[channels];
            lo = new float[channels];
        }

        void mean(int ch, double mean) {
            hi[ch] = (float) mean;
            lo[ch] = (float) (mean - hi[ch]);
        }
    }

    /** out = ((x - hi) - lo)*scale + shift per channel. */
    private static final class Affine extends Centered {
        final float[] scale;
        final float[] shift;

        Affine(int channels) {
            super(channels);
            scale = new float[channels];
            shift = new float[channels];
        }

        void set(int ch, double mean, double scale, double shift) {
            mean(ch, mean);
            this.scale[ch] = (float) scale;
            this.shift[ch] = (float) shift;
        }
    }

    /** dinp = k*((dout - a) - ((x - hi) - lo)*b) per channel, or k*dout with global statistics. */
    private static final class Grad extends Centered {
        final float[] k;
        final float[] a;
        final float[] b;

        Grad(int channels) {
            super(channels);
            k = new float[channels];
            a = new float[channels];
            b = new float[channels];
        }

        void set(int ch, double mean, double k, double a, double b) {
            mean(ch, mean);
            this.k[ch] = (float) k;
            this.a[ch] = (float) a;
            this.b[ch] = (float) b;
        }
    }

    // ------------------------------------------------------------------------------------------
    // statistics

    /** Chan's merge of a block (nb values, meanB, m2B) into channel ch's (na values, mean, m2). */
    private static void merge(double[] mean, double[] m2, int ch, long na, long nb, double meanB, double m2B) {
        double total = na + nb;
        double delta = meanB - mean[ch];
        mean[ch] += delta * (nb / total);
        m2[ch] += m2B + delta * delta * ((double) na * nb / total);
    }

    /** Chan's merge of a block of nb rows (meanB[k], m2B[k]) into every channel's (na rows, mean[k], m2[k]). */
    private static void mergeRows(double[] mean, double[] m2, double[] meanB, double[] m2B, int c, long na, long nb) {
        double total = na + nb;
        DoubleVector wb = DoubleVector.broadcast(DS, nb / total);
        DoubleVector wab = DoubleVector.broadcast(DS, (double) na * nb / total);
        int k = 0;
        for (; k <= c - DS.length(); k += DS.length()) {
            DoubleVector m = DoubleVector.fromArray(DS, mean, k);
            DoubleVector delta = DoubleVector.fromArray(DS, meanB, k).sub(m);
            delta.fma(wb, m).intoArray(mean, k);
            delta.mul(delta).fma(wab, DoubleVector.fromArray(DS, m2B, k).add(DoubleVector.fromArray(DS, m2, k)))
                    .intoArray(m2, k);
        }
        for (; k < c; k++) {
            merge(mean, m2, k, na, nb, meanB[k], m2B[k]);
        }
    }

    /** NCHW: mean and biased var of channel ch, blocks within each run of S values. */
    private static void statsChannel(double[] mean, double[] var, MemorySegment inp, long n, int c, long s, int ch) {
        double[] meanC = {0};
        double[] m2 = {0};
        long count = 0;
        for (long i = 0; i < n; i++) {
            long run = ((i * c + ch) * s) * 4;
            for (long j = 0; j < s; j += BLOCK_FLOATS) {
                long len = Math.min(BLOCK_FLOATS, s - j);
                long off = run + 4 * j;
                double meanB = sum(inp, off, len) / len;                         // pass 1
                merge(meanC, m2, 0, count, len, meanB, sumSqDev(inp, off, len, meanB)); // pass 2
                count += len;
            }
        }
        mean[ch] = meanC[0];
        var[ch] = m2[0] / count;
    }

    /** Rows layout: mean and biased var of every channel, over blocks of rows. */
    private static void statsRows(double[] mean, double[] var, MemorySegment inp, long rows, int c) {
        long blockRows = Math.max(MIN_BLOCK_ROWS, BLOCK_FLOATS / c);
        double[] meanB = new double[c];
        double[] m2B = new double[c];
        double[] m2 = new double[c];
        long count = 0;
        for (long r0 = 0; r0 < rows; r0 += blockRows) {
            long nb = Math.min(blockRows, rows - r0);
            Arrays.fill(meanB, 0);
            Arrays.fill(m2B, 0);
            for (long r = r0; r < r0 + nb; r++) {                 // pass 1: block sums
                addRow(meanB, inp, r * c * 4, c);
            }
            for (int k = 0; k < c; k++) {
                meanB[k] /= nb;
            }
            for (long r = r0; r < r0 + nb; r++) {                 // pass 2: squared deviations
                addSqDevRow(m2B, meanB, inp, r * c * 4, c);
            }
            mergeRows(mean, m2, meanB, m2B, c, count, nb);
            count += nb;
        }
        for (int k = 0; k < c; k++) {
            var[k] = m2[k] / count;
        }
    }

    /** len floats at byte offset off, widened to double lanes. */
    private static DoubleVector widen(MemorySegment seg, long off) {
        return (DoubleVector) FloatVector.fromMemorySegment(WS, seg, off, ORDER).convertShape(F2D, DS, 0);
    }

    /** sum of len floats from byte offset off, in double. */
    private static double sum(MemorySegment seg, long off, long len) {
        int lanes = DS.length();
        DoubleVector a0 = DoubleVector.zero(DS);
        DoubleVector a1 = DoubleVector.zero(DS);
        long i = 0;
        for (; i + 2L * lanes <= len; i += 2L * lanes) {     // two accumulators: no add-latency chain
            a0 = a0.add(widen(seg, off + 4 * i));
            a1 = a1.add(widen(seg, off + 4 * (i + lanes)));
        }
        double sum = a0.add(a1).reduceLanes(ADD);
        for (; i < len; i++) {
            sum += seg.get(F, off + 4 * i);
        }
        return sum;
    }

    /** sum of (x - mean)^2 over len floats from byte offset off, in double. */
    private static double sumSqDev(MemorySegment seg, long off, long len, double mean) {
        int lanes = DS.length();
        DoubleVector vm = DoubleVector.broadcast(DS, mean);
        DoubleVector a0 = DoubleVector.zero(DS);
        DoubleVector a1 = DoubleVector.zero(DS);
        long i = 0;
        for (; i + 2L * lanes <= len; i += 2L * lanes) {
            DoubleVector d0 = widen(seg, off + 4 * i).sub(vm);
            DoubleVector d1 = widen(seg, off + 4 * (i + lanes)).sub(vm);
            a0 = d0.fma(d0, a0);
            a1 = d1.fma(d1, a1);
        }
        double sum = a0.add(a1).reduceLanes(ADD);
        for (; i < len; i++) {
            double d = seg.get(F, off + 4 * i) - mean;
            sum += d * d;
        }
        return sum;
    }

    /** acc[k] += x[k] for the row of c floats at byte offset off. */
    private static void addRow(double[] acc, MemorySegment seg, long off, int c) {
        int k = 0;
        for (; k <= c - DS.length(); k += DS.length()) {
            DoubleVector.fromArray(DS, acc, k).add(widen(seg, off + 4L * k)).intoArray(acc, k);
        }
        for (; k < c; k++) {
            acc[k] += seg.get(F, off + 4L * k);
        }
    }

    /** acc[k] += (x[k] - mean[k])^2 for the row of c floats at byte offset off. */
    private static void addSqDevRow(double[] acc, double[] mean, MemorySegment seg, long off, int c) {
        int k = 0;
        for (; k <= c - DS.length(); k += DS.length()) {
            DoubleVector d = widen(seg, off + 4L * k).sub(DoubleVector.fromArray(DS, mean, k));
            d.fma(d, DoubleVector.fromArray(DS, acc, k)).intoArray(acc, k);
        }
        for (; k < c; k++) {
            double d = seg.get(F, off + 4L * k) - mean[k];
            acc[k] += d * d;
        }
    }

    // ------------------------------------------------------------------------------------------
    // normalization

    private static void normalizeChannel(MemorySegment out, MemorySegment inp, Affine a, long n, int c, long s, int ch) {
        FloatVector hi = FloatVector.broadcast(FS, a.hi[ch]);
        FloatVector lo = FloatVector.broadcast(FS, a.lo[ch]);
        FloatVector scale = FloatVector.broadcast(FS, a.scale[ch]);
        FloatVector shift = FloatVector.broadcast(FS, a.shift[ch]);
        long bound = FS.loopBound(s);
        for (long i = 0; i < n; i++) {
            long run = ((i * c + ch) * s) * 4;
            long j = 0;
            for (; j < bound; j += FS.length()) {
                long off = run + 4 * j;
                FloatVector.fromMemorySegment(FS, inp, off, ORDER).sub(hi).sub(lo).fma(scale, shift)
                        .intoMemorySegment(out, off, ORDER);
            }
            for (; j < s; j++) {
                long off = run + 4 * j;
                out.set(F, off, Math.fma(inp.get(F, off) - a.hi[ch] - a.lo[ch], a.scale[ch], a.shift[ch]));
            }
        }
    }

    private static void normalizeRows(MemorySegment out, MemorySegment inp, Affine a, long rows, int c) {
        int bound = FS.loopBound(c);
        for (long r = 0; r < rows; r++) {
            long row = r * c * 4;
            int k = 0;
            for (; k < bound; k += FS.length()) {
                long off = row + 4L * k;
                FloatVector.fromMemorySegment(FS, inp, off, ORDER)
                        .sub(FloatVector.fromArray(FS, a.hi, k)).sub(FloatVector.fromArray(FS, a.lo, k))
                        .fma(FloatVector.fromArray(FS, a.scale, k), FloatVector.fromArray(FS, a.shift, k))
                        .intoMemorySegment(out, off, ORDER);
            }
            for (; k < c; k++) {
                long off = row + 4L * k;
                out.set(F, off, Math.fma(inp.get(F, off) - a.hi[k] - a.lo[k], a.scale[k], a.shift[k]));
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // backward

    /** NCHW: t1[ch] = sum(dout), t2[ch] = sum(dout*(x - mean)) (t2 only when inp != null). */
    private static void sumsChannel(double[] t1, double[] t2, MemorySegment dout, MemorySegment inp, double mean,
                                    long n, int c, long s, int ch) {
        DoubleVector vm = DoubleVector.broadcast(DS, mean);
        DoubleVector a1 = DoubleVector.zero(DS);
        DoubleVector a2 = DoubleVector.zero(DS);
        double s1 = 0;
        double s2 = 0;
        long bound = s - s % DS.length();
        for (long i = 0; i < n; i++) {
            long run = ((i * c + ch) * s) * 4;
            long j = 0;
            for (; j < bound; j += DS.length()) {
                DoubleVector dy = widen(dout, run + 4 * j);
                a1 = a1.add(dy);                                                 // term 1
                if (inp != null) {
                    a2 = dy.fma(widen(inp, run + 4 * j).sub(vm), a2);            // term 2
                }
            }
            for (; j < s; j++) {
                double dy = dout.get(F, run + 4 * j);
                s1 += dy;
                if (inp != null) {
                    s2 += dy * (inp.get(F, run + 4 * j) - mean);
                }
            }
        }
        t1[ch] = s1 + a1.reduceLanes(ADD);
        t2[ch] = s2 + a2.reduceLanes(ADD);
    }

    /** Rows layout: t1[k] = sum(dout), t2[k] = sum(dout*(x - mean)) (t2 only when inp != null). */
    private static void sumsRows(double[] t1, double[] t2, MemorySegment dout, MemorySegment inp, double[] mean,
                                 long rows, int c) {
        int lanes = DS.length();
        for (long r = 0; r < rows; r++) {
            long row = r * c * 4;
            if (inp == null) {
                addRow(t1, dout, row, c);
                continue;
            }
            int k = 0;
            for (; k <= c - lanes; k += lanes) {
                DoubleVector dy = widen(dout, row + 4L * k);
                DoubleVector.fromArray(DS, t1, k).add(dy).intoArray(t1, k);                     // term 1
                DoubleVector d = widen(inp, row + 4L * k).sub(DoubleVector.fromArray(DS, mean, k));
                dy.fma(d, DoubleVector.fromArray(DS, t2, k)).intoArray(t2, k);                   // term 2
            }
            for (; k < c; k++) {
                double dy = dout.get(F, row + 4L * k);
                t1[k] += dy;
                t2[k] += dy * (inp.get(F, row + 4L * k) - mean[k]);
            }
        }
    }

    private static void dinpChannel(MemorySegment dinp, MemorySegment dout, MemorySegment inp, Grad g,
                                    boolean global, long n, int c, long s, int ch) {
        FloatVector hi = FloatVector.broadcast(FS, g.hi[ch]);
        FloatVector lo = FloatVector.broadcast(FS, g.lo[ch]);
        FloatVector k = FloatVector.broadcast(FS, g.k[ch]);
        FloatVector a = FloatVector.broadcast(FS, g.a[ch]);
        FloatVector negB = FloatVector.broadcast(FS, -g.b[ch]);
        long bound = FS.loopBound(s);
        for (long i = 0; i < n; i++) {
            long run = ((i * c + ch) * s) * 4;
            long j = 0;
            for (; j < bound; j += FS.length()) {
                long off = run + 4 * j;
                FloatVector dy = FloatVector.fromMemorySegment(FS, dout, off, ORDER);
                FloatVector dx = global ? dy.mul(k)
                        : FloatVector.fromMemorySegment(FS, inp, off, ORDER).sub(hi).sub(lo).fma(negB, dy.sub(a)).mul(k);
                dx.intoMemorySegment(dinp, off, ORDER);
            }
            for (; j < s; j++) {
                long off = run + 4 * j;
                dinp.set(F, off, dinpScalar(dout, inp, g, global, off, ch));
            }
        }
    }

    private static void dinpRows(MemorySegment dinp, MemorySegment dout, MemorySegment inp, Grad g,
                                 boolean global, long rows, int c) {
        int bound = FS.loopBound(c);
        for (long r = 0; r < rows; r++) {
            long row = r * c * 4;
            int k = 0;
            for (; k < bound; k += FS.length()) {
                long off = row + 4L * k;
                FloatVector dy = FloatVector.fromMemorySegment(FS, dout, off, ORDER);
                FloatVector scale = FloatVector.fromArray(FS, g.k, k);
                FloatVector dx = global ? dy.mul(scale)
                        : FloatVector.fromMemorySegment(FS, inp, off, ORDER)
                                .sub(FloatVector.fromArray(FS, g.hi, k)).sub(FloatVector.fromArray(FS, g.lo, k))
                                .fma(FloatVector.fromArray(FS, g.b, k).neg(), dy.sub(FloatVector.fromArray(FS, g.a, k)))
                                .mul(scale);
                dx.intoMemorySegment(dinp, off, ORDER);
            }
            for (; k < c; k++) {
                long off = row + 4L * k;
                dinp.set(F, off, dinpScalar(dout, inp, g, global, off, k));
            }
        }
    }

    /** The tail element at byte offset off of channel ch, with the same float formula as the lanes. */
    private static float dinpScalar(MemorySegment dout, MemorySegment inp, Grad g, boolean global, long off, int ch) {
        float dy = dout.get(F, off);
        if (global) {
            return dy * g.k[ch];
        }
        float d = inp.get(F, off) - g.hi[ch] - g.lo[ch];
        return Math.fma(d, -g.b[ch], dy - g.a[ch]) * g.k[ch];
    }

    // ------------------------------------------------------------------------------------------

    private static double scale(MemorySegment gamma, long ch) {
        return gamma == null ? 1.0 : gamma.getAtIndex(F, ch);
    }

    private static double shift(MemorySegment beta, long ch) {
        return beta == null ? 0.0 : beta.getAtIndex(F, ch);
    }

    /** C as an int (per-channel arrays); Checks has validated c &gt;= 1. */
    private static int channels(long c) {
        if (c > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("c: expected at most " + (Integer.MAX_VALUE - 16)
                    + " channels for the Vector API kernels, got " + c);
        }
        return (int) c;
    }

    /** The Vector API comparator has no fused forms (FUSE_RELU, FUSE_ADD). */
    private static void unfused(int flags) {
        if ((flags & (FUSE_RELU | FUSE_ADD)) != 0) {
            throw new IllegalArgumentException("flags: expected no FUSE_RELU or FUSE_ADD (the Vector API kernels have no "
                    + "fused forms), got 0x" + Integer.toHexString(flags));
        }
        if ((flags & (DATA_BF16 | DATA_F16)) != 0) {
            throw new IllegalArgumentException("flags: expected no DATA_BF16 or DATA_F16 (the Vector API kernels "
                    + "take float32 activations only), got 0x" + Integer.toHexString(flags));
        }
    }
}
