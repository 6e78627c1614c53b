package dev.bnorm.bench;

import dev.bnorm.Tensor;
import dev.bnorm.dist.Collective;
import dev.bnorm.dist.InProcessCollective;
import dev.bnorm.kernel.Layout;
import dev.bnorm.nn.BatchNorm;
import dev.bnorm.nn.BatchNorm1d;
import dev.bnorm.nn.BatchNorm2d;
import dev.bnorm.nn.SyncBatchNorm;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One training forward + backward of Batch Normalization per rank: {@code local} is one
 * BatchNorm1d/2d on the shape (what each rank would do without synchronization);
 * {@code sync2} is SyncBatchNorm on 2 in-process ranks, each with that shape (so 2x the batch in
 * all), timed from rank 0's start to both ranks' end; {@code collective2} is only the
 * communication of sync2 (two all-gathers of 3*C doubles per rank, the forward's statistics and
 * the backward's sums) on the same 2 ranks, so collective2/sync2 is the collective's share.
 *
 * <p>Rank 0 runs on the JMH thread, rank 1 on a helper thread started in {@code @Setup} that
 * creates its own modules (they are confined to their thread) and runs one operation per
 * benchmark call, handed over through semaphores (their cost is in sync2 and collective2 alike).
 * bnorm's thread team serves one call at a time: when both ranks call the kernels at once, one
 * of them runs on its own thread (BNORM_NUM_THREADS=1 makes all modes single-threaded per rank).
 * MPI is not measured here: ranks in separate processes cannot be timed by one JMH fork.
 * Settings as {@link KernelBench}'s (one fork, AverageTime, median of the iterations).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Threads(1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 5, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 6, time = 500, timeUnit = TimeUnit.MILLISECONDS)
public class SyncBench {

    /** Per rank: NC 256x1024 (an MLP layer), NCHW 32x64x56x56 (ResNet-50's first BN). */
    @Param({"NC:256x1024", "NCHW:32x64x56x56"})
    public String shape;

    /** local, sync2 or collective2 (see the class comment). */
    @Param({"local", "sync2", "collective2"})
    public String mode;

    private Rank rank0;
    private Thread helper;
    private final Semaphore go = new Semaphore(0);
    private final Semaphore done = new Semaphore(0);
    private volatile boolean stop;
    private volatile Throwable helperFailure;

    /** One rank's module, tensors and collective, on the thread that made them. */
    static final class Rank implements AutoCloseable {
        final Collective collective;
        final BatchNorm bn;
        final Tensor inp;
        final Tensor dout;
        final Arena arena = Arena.ofConfined();
        final MemorySegment local;
        final MemorySegment all;

        Rank(Shape s, Collective c, long seed) {
            this.collective = c;
            int channels = (int) s.c();
            bn = c == null ? (s.layout() == Layout.NC ? BatchNorm1d.builder(channels).build()
                    : BatchNorm2d.builder(channels).build()) : SyncBatchNorm.builder(channels, c).build();
            long[] dims = Shape.dims(s.dims());
            Tensor.Format f = s.layout() == Layout.NC ? Tensor.Format.NC : Tensor.Format.NCHW;
            inp = Tensor.zeros(f, dims);
            dout = Tensor.zeros(f, dims);
            Random r = new Random(seed);
            float[] x = new float[(int) inp.size()];
            for (int i = 0; i < x.length; i++) x[i] = (float) (1 + r.nextGaussian());
            inp.copyFrom(x);
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            dout.copyFrom(x);
            local = arena.allocate(24L * channels, 8);
            all = arena.allocate(24L * channels * (c == null ? 1 : c.size()), 8);
        }

        void step(boolean collectiveOnly) {
            if (collectiveOnly) {
                collective.allGather(local, all); // the forward's statistics
                collective.allGather(local, all); // the backward's sums
            } else {
                bn.forward(inp);
                bn.backward(dout);
            }
        }

        @Override
        public void close() {
            bn.close();
            inp.close();
            dout.close();
            arena.close();
        }
    }

    @Setup(Level.Trial)
    public void setup() throws InterruptedException {
        Shape s = Shape.parse(shape);
        if (mode.equals("local")) {
            rank0 = new Rank(s, null, 1);
            return;
        }
        List<Collective> ranks = InProcessCollective.create(2, Duration.ofSeconds(60));
        Semaphore ready = new Semaphore(0);
        boolean collectiveOnly = mode.equals("collective2");
        helper = new Thread(() -> {
            try (Rank r1 = new Rank(s, ranks.get(1), 2)) {
                ready.release();
                while (true) {
                    go.acquire();
                    if (stop) return;
                    r1.step(collectiveOnly);
                    done.release();
                }
            } catch (Throwable t) {
                helperFailure = t;
                ready.release();
                done.release();
            }
        }, "rank-1");
        helper.start();
        ready.acquire();
        rank0 = new Rank(s, ranks.get(0), 1);
        step(); // both ranks run once before the measurement: a failing setup fails here
    }

    @Benchmark
    public void step() throws InterruptedException {
        if (helper == null) {
            rank0.step(false);
            return;
        }
        go.release();
        rank0.step(mode.equals("collective2"));
        done.acquire();
        if (helperFailure != null) {
            throw new IllegalStateException("rank 1 failed", helperFailure);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        if (helper != null) {
            stop = true;
            go.release();
            helper.join();
        }
        rank0.close();
    }
}
