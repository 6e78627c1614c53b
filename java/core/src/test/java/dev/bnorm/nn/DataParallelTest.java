package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.dist.Collective;
import dev.bnorm.dist.CollectiveException;
import dev.bnorm.dist.InProcessCollective;
import dev.bnorm.kernel.Compare;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Data-parallel training of a BN MLP with SyncBatchNorm on in-process ranks with even and uneven
 * batches (a rank may have none) against one process on the concatenated batch: the same losses
 * and parameters within tolerance, and bit-identical replicas.
 */
class DataParallelTest {

    static final int IN = 12, HIDDEN = 16, CLASSES = 4, STEPS = 5;
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    /** Losses (the mean over the whole batch) of every step, and the final state. */
    record Trained(float[] losses, Map<String, float[]> state) {
    }

    static Sequential mlp(long seed) {
        return new Sequential(new Linear(IN, HIDDEN, false, seed), BatchNorm1d.builder(HIDDEN).build(), new ReLU(),
                new Linear(HIDDEN, CLASSES, true, seed + 1));
    }

    static float[] batch(int step, int n) {
        Random r = new Random(100 + step % 2);
        float[] x = new float[n * IN];
        for (int i = 0; i < x.length; i++) x[i] = (float) (1 + r.nextGaussian());
        return x;
    }

    /** A learnable task: the class is the largest of the first CLASSES features. */
    static int[] labels(int step, int n) {
        float[] x = batch(step, n);
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            for (int k = 1; k < CLASSES; k++) {
                if (x[i * IN + k] > x[i * IN + y[i]]) y[i] = k;
            }
        }
        return y;
    }

    static Map<String, float[]> snapshot(Module m) {
        Map<String, float[]> s = new java.util.LinkedHashMap<>();
        m.stateDict().forEach((k, t) -> s.put(k, t.toArray()));
        m.counters().forEach((k, c) -> s.put(k, new float[] {c.get()}));
        return s;
    }

    static Trained single(int n) {
        float[] losses = new float[STEPS];
        try (Sequential model = mlp(7); SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             SGD sgd = new SGD(model.parameters(), 0.2, 0.9, 0)) {
            for (int step = 0; step < STEPS; step++) {
                try (Tensor x = Tensor.of(Format.NC, batch(step, n), n, IN)) {
                    sgd.zeroGrad();
                    losses[step] = loss.forward(model.forward(x), labels(step, n));
                    model.backward(loss.backward());
                    sgd.step();
                }
            }
            return new Trained(losses, snapshot(model));
        }
    }

    /** Rank r's samples are [from, from + np[r]) of each batch; a model with a different seed on ranks > 0. */
    static List<Trained> parallel(long[] np) {
        return InProcessCollective.run(np.length, TIMEOUT, col -> rank(col, np));
    }

    /** This rank's part of {@link #parallel}: the losses are those of the whole batch, the state this replica's. */
    static Trained rank(Collective col, long[] np) {
        int n = (int) Arrays.stream(np).sum();
        {
            int from = 0;
            for (int r = 0; r < col.rank(); r++) from += (int) np[r];
            int mine = (int) np[col.rank()];
            float[] losses = new float[STEPS];
            try (DataParallel dp = new DataParallel(SyncBatchNorm.convert(mlp(7 + 31L * col.rank()), col), col);
                 SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
                 SGD sgd = new SGD(dp.parameters(), 0.2, 0.9, 0)) {
                for (int step = 0; step < STEPS; step++) {
                    sgd.zeroGrad();
                    double part = 0;
                    if (mine == 0) {
                        dp.forwardNothing();
                        dp.backwardNothing();
                    } else {
                        float[] x = Arrays.copyOfRange(batch(step, n), from * IN, (from + mine) * IN);
                        int[] y = Arrays.copyOfRange(labels(step, n), from, from + mine);
                        try (Tensor t = Tensor.of(Format.NC, x, mine, IN)) {
                            part = loss.forward(dp.forward(t), y) * (double) mine;
                            dp.backward(loss.backward());
                        }
                    }
                    sgd.step();
                    losses[step] = (float) (col.allReduceSum(new double[] {part})[0] / n);
                }
                Map<String, float[]> state = new java.util.LinkedHashMap<>();
                snapshot(dp).forEach((k, v) -> state.put(k.substring("module.".length()), v));
                return new Trained(losses, state);
            }
        }
    }

    @Test
    void twoRanksOfThirtyTrainLikeOneProcessOfSixtyAndStayBitIdentical() {
        check(new long[] {30, 30});
    }

    @Test
    void unevenRanksOneOfThemEmptyTrainLikeOneProcessOnTheConcatenatedBatch() {
        check(new long[] {7, 0, 20, 3});
    }

    @Test
    void oneRankIsOneProcess() {
        check(new long[] {24});
    }

    static void check(long[] np) {
        int n = (int) Arrays.stream(np).sum();
        Trained one = single(n);
        List<Trained> ranks = parallel(np);
        double tol = 20 * Compare.tol(n);
        for (int r = 0; r < np.length; r++) {
            Trained t = ranks.get(r);
            String what = Arrays.toString(np) + " rank " + r;
            Compare.assertClose(one.losses, t.losses, tol, tol, what + " losses");
            assertEquals(one.state.keySet(), t.state.keySet());
            for (String k : one.state.keySet()) {
                Compare.assertClose(one.state.get(k), t.state.get(k), tol, tol, what + " " + k);
                Compare.assertSameBits(ranks.get(0).state.get(k), t.state.get(k), what + " " + k + " across ranks");
            }
        }
        assertTrue(one.losses[STEPS - 1] < one.losses[0], "the reference does not train: " + Arrays.toString(one.losses));
    }

    @Test
    void aFailureInOneRanksForwardEndsEveryRank() {
        long start = System.nanoTime();
        var e = assertThrows(CollectiveException.class, () -> InProcessCollective.run(2, TIMEOUT, col -> {
            try (DataParallel dp = new DataParallel(SyncBatchNorm.convert(mlp(7), col), col);
                 Tensor x = Tensor.zeros(Format.NC, 4, col.rank() == 0 ? IN : IN + 1)) {
                dp.forward(x);
                return null;
            }
        }));
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(10).toNanos());
        assertTrue(e.getMessage().startsWith("rank 1 of 2 failed: java.lang.IllegalArgumentException"), e.getMessage());
    }
}
