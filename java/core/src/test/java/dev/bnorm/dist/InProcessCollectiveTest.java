package dev.bnorm.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The in-process collective: results in rank order and equal on every rank; failures end every rank quickly. */
class InProcessCollectiveTest {

    static final Duration TIMEOUT = Duration.ofSeconds(20);

    @Test
    void allGatherConcatenatesInRankOrderOnEveryRank() {
        for (int p = 1; p <= 4; p++) {
            int size = p;
            List<double[]> got = InProcessCollective.run(p, TIMEOUT, c -> c.allGather(new double[] {c.rank(), 10 + c.rank()}));
            double[] want = new double[2 * size];
            for (int r = 0; r < size; r++) {
                want[2 * r] = r;
                want[2 * r + 1] = 10 + r;
            }
            for (double[] g : got) assertArrayEquals(want, g);
        }
    }

    @Test
    void allReduceSumAddsInRankOrderWithTheSameBitsEverywhere() {
        // 1e16 + 1 + (-1e16) + 1 in rank order is 2 (not 1 or 0, as other orders give)
        double[] v = {1e16, 1, -1e16, 1};
        List<double[]> got = InProcessCollective.run(4, TIMEOUT, c -> c.allReduceSum(new double[] {v[c.rank()], c.rank()}));
        for (double[] g : got) assertArrayEquals(new double[] {((1e16 + 1) - 1e16) + 1, 6}, g);
    }

    @Test
    void broadcastCopiesTheRootsBytesAndBarrierReturns() {
        List<float[]> got = InProcessCollective.run(3, TIMEOUT, c -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment s = arena.allocate(12);
                for (int i = 0; i < 3; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, c.rank() * 10 + i);
                c.broadcast(s, 2);
                c.barrier();
                return s.toArray(ValueLayout.JAVA_FLOAT);
            }
        });
        for (float[] g : got) assertArrayEquals(new float[] {20, 21, 22}, g);
    }

    @Test
    void disagreeingSizesFailOnEveryRank() {
        var e = assertThrows(CollectiveException.class, () -> InProcessCollective.run(2, TIMEOUT,
                c -> c.allGather(new double[c.rank() + 1])));
        assertTrue(e.getMessage().contains("allGather: rank 1 passed 16 bytes, rank 0 8")
                || e.getMessage().contains("allGather: rank 0 passed 8 bytes, rank 1 16"), e.getMessage());
    }

    @Test
    void aRankThatNeverArrivesTimesOutEveryRank() {
        long start = System.nanoTime();
        var e = assertThrows(CollectiveException.class, () -> InProcessCollective.run(3, Duration.ofMillis(300), c -> {
            if (c.rank() != 2) {
                c.barrier();
            }
            return null;
        }));
        assertTrue(e.getMessage().contains("barrier: timed out after 300 ms waiting for the other ranks"), e.getMessage());
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(5).toNanos());
    }

    @Test
    void anAbortEndsTheWaitingRanksWithItsMessage() {
        var e = assertThrows(CollectiveException.class, () -> InProcessCollective.run(3, TIMEOUT, c -> {
            if (c.rank() == 1) {
                throw new IllegalStateException("boom");
            }
            c.barrier();
            return null;
        }));
        assertEquals("rank 1 of 3 failed: java.lang.IllegalStateException: boom", e.getMessage());
        List<Collective> ranks = InProcessCollective.create(2, TIMEOUT);
        ranks.get(0).abort("stop");
        var later = assertThrows(CollectiveException.class, () -> ranks.get(1).barrier());
        assertEquals("rank 0 of 2: aborted: stop", later.getMessage());
    }
}
