package dev.bnorm.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * NativeKernels promises that a critical downcall (at most {@link NativeKernels#CRITICAL_MAX}
 * elements) never uses the library's threads, which a critical downcall must not wait for. Seen
 * from outside: the library starts its workers at the first call that wants them, as threads
 * created by the calling thread, whose name they inherit on Linux. In a fresh JVM, the largest
 * critical call of each kernel (backward with dinp and dgamma is the heaviest) must leave the
 * calling thread alone; one element more, in backward, must start workers (which shows that the
 * probe sees them).
 */
class CriticalThresholdTest {

    static final String PROBE = "bnorm-probe";

    @Test
    void theLargestCriticalCallsStartNoThreadAndOneElementMoreDoes() throws Exception {
        assumeTrue(Files.isDirectory(Path.of("/proc/self/task")), "Linux: threads are counted in /proc/self/task");
        String classes = Path.of(NativeKernels.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        String tests = Path.of(getClass().getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        String resources = Path.of(System.getProperty("bnorm.test.native.dir")).getParent().getParent().getParent().toString();
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED", "-cp", String.join(File.pathSeparator, classes, tests, resources),
                Probe.class.getName()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("BNORM_NUM_THREADS");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "probe JVM did not finish");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("critical calls: 1 thread named " + PROBE), out);
        assertTrue(out.matches("(?s).*one element more: ([2-9]|\\d\\d+) threads named " + PROBE + ".*"), out);
    }

    /** Runs the calls on a thread named {@value #PROBE} and counts the process's threads of that name. */
    /**
     * A fused backward also reads out and writes dres: 24 bytes per element against the library's
     * 256 KiB threshold, so its critical limit is 10,922 elements, not CRITICAL_MAX.
     */
    @Test
    void fusedBackwardHasALowerCriticalLimit() {
        int fuse = BatchNormKernels.FUSE_RELU | BatchNormKernels.FUSE_ADD;
        int mask = BatchNormKernels.DIFF_INP | BatchNormKernels.DIFF_RES;
        assertTrue(24 * 10_922 < 256 * 1024 && 24 * 10_923 >= 256 * 1024);
        assertTrue(NativeKernels.critical(10_922, fuse, mask));
        assertTrue(!NativeKernels.critical(10_923, fuse, mask));
        assertTrue(!NativeKernels.critical(NativeKernels.CRITICAL_MAX, fuse, mask));
        assertTrue(NativeKernels.critical(NativeKernels.CRITICAL_MAX, BatchNormKernels.USE_SCALE, BatchNormKernels.DIFF_INP));
    }

    /** 16-bit activations move half the bytes per element: the critical limits in elements double. */
    @Test
    void halfActivationsHaveTwiceTheCriticalLimit() {
        int fuse = BatchNormKernels.FUSE_RELU | BatchNormKernels.FUSE_ADD;
        int mask = BatchNormKernels.DIFF_INP | BatchNormKernels.DIFF_RES;
        for (int data : new int[] {BatchNormKernels.DATA_BF16, BatchNormKernels.DATA_F16}) {
            assertTrue(NativeKernels.critical(2 * 10_922, fuse | data, mask));
            assertTrue(!NativeKernels.critical(2 * 10_922 + 2, fuse | data, mask));
            assertTrue(NativeKernels.critical(2 * NativeKernels.CRITICAL_MAX, data, BatchNormKernels.DIFF_INP));
            assertTrue(!NativeKernels.critical(2 * NativeKernels.CRITICAL_MAX + 1, data, BatchNormKernels.DIFF_INP));
            assertTrue(NativeKernels.critical(2 * NativeKernels.CRITICAL_MAX, data));
            assertTrue(!NativeKernels.critical(2 * NativeKernels.CRITICAL_MAX + 1, data));
        }
        assertTrue(NativeKernels.critical(NativeKernels.CRITICAL_MAX, 0));
        assertTrue(!NativeKernels.critical(NativeKernels.CRITICAL_MAX + 1, 0));
    }

    public static final class Probe {
        public static void main(String[] args) throws Exception {
            Thread t = new Thread(Probe::calls, PROBE);
            t.start();
            t.join();
        }

        static void calls() {
            NativeKernels k = NativeKernels.get();
            NativeKernels.setNumThreads(4);
            int flags = BatchNormKernels.USE_SCALE | BatchNormKernels.USE_SHIFT;
            int all = BatchNormKernels.DIFF_INP | BatchNormKernels.DIFF_SCALE | BatchNormKernels.DIFF_SHIFT;
            try (Arena arena = Arena.ofConfined()) {
                // 43 * 381 = 16,383 = CRITICAL_MAX elements; 32 * 512 = 16,384. C > 256: two units of
                // columns (BN_CHUNK), so the library has two tasks to share out.
                if (43L * 381 != NativeKernels.CRITICAL_MAX) throw new AssertionError("CRITICAL_MAX changed");
                for (int[] nc : new int[][] {{43, 381}, {32, 512}}) {
                    long n = nc[0], c = nc[1];
                    MemorySegment inp = values(arena, n * c), out = values(arena, n * c), dout = values(arena, n * c);
                    MemorySegment dinp = values(arena, n * c), gamma = values(arena, c), beta = values(arena, c);
                    MemorySegment mean = values(arena, c), rstd = values(arena, c), dgamma = values(arena, c);
                    MemorySegment dbeta = values(arena, c), var = values(arena, c);
                    if (n * c <= NativeKernels.CRITICAL_MAX) {
                        k.forwardTraining(out, mean, rstd, null, null, inp, gamma, beta, 1e-5, 0.1, flags, Layout.NC, n, c, 1);
                        k.forwardInference(out, inp, mean, var, gamma, beta, 1e-5, flags, Layout.NC, n, c, 1);
                        k.backward(dinp, dgamma, dbeta, dout, inp, gamma, mean, rstd, BatchNormKernels.USE_SCALE, all,
                                Layout.NC, n, c, 1);
                        // the largest fused backward that is critical: 6 streams of 42 * 260 = 10,920 floats
                        long fn = 42, fc = 260;
                        int fuse = BatchNormKernels.FUSE_RELU | BatchNormKernels.FUSE_ADD;
                        k.backward(values(arena, fn * fc), values(arena, fn * fc), null, null, values(arena, fn * fc),
                                values(arena, fn * fc), values(arena, fn * fc), null, values(arena, fc),
                                values(arena, fc), fuse, BatchNormKernels.DIFF_INP | BatchNormKernels.DIFF_RES,
                                Layout.NC, fn, fc, 1);
                        System.out.println("critical calls: " + probeThreads() + " thread named " + PROBE);
                    } else {
                        k.forwardTraining(out, mean, rstd, null, null, inp, gamma, beta, 1e-5, 0.1, flags, Layout.NC, n, c, 1);
                        k.backward(dinp, dgamma, dbeta, dout, inp, gamma, mean, rstd, BatchNormKernels.USE_SCALE, all,
                                Layout.NC, n, c, 1);
                        System.out.println("one element more: " + probeThreads() + " threads named " + PROBE);
                    }
                }
            }
        }

        static MemorySegment values(Arena arena, long count) {
            MemorySegment s = arena.allocate(count * 4, 64);
            for (long i = 0; i < count; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, 0.5f + (i * 7919 % 101) / 101f);
            return s;
        }

        static long probeThreads() {
            try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
                return tasks.filter(task -> {
                    try {
                        return Files.readString(task.resolve("comm")).strip().equals(PROBE);
                    } catch (java.io.IOException e) {
                        return false; // the thread ended
                    }
                }).count();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }
}
