package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Compare;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * SyncBatchNorm and DataParallel over MPI: {@code mpirun --oversubscribe -np P} (loopback only:
 * shared memory and self transports) runs {@link MpiRankMain} in P child JVMs, whose results
 * must equal one process on the concatenated batch and be bit-identical across ranks; a rank
 * that throws ends the job on every rank within seconds. Skipped with a message only when
 * mpirun is not installed and the environment variable CI is not "true" (on CI a missing
 * mpirun fails, so that these tests cannot be skipped silently).
 */
class MpiTest {

    static String mpirun;

    @BeforeAll
    static void findMpirun() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(dir, "mpirun");
            if (Files.isExecutable(p)) {
                mpirun = p.toString();
                return;
            }
        }
        String why = "mpirun is not on the PATH: install Open MPI (apt-get install openmpi-bin libopenmpi-dev)";
        if ("true".equals(System.getenv("CI"))) {
            fail(why + " (CI=true: the MPI tests must run)");
        }
        Assumptions.abort(why + "; skipping the MPI tests");
    }

    record Job(int exit, String output, Map<Integer, Map<String, float[]>> results) {
    }

    static Job launch(int np, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(mpirun));
        if (runningAsRoot()) {
            cmd.add("--allow-run-as-root"); // Open MPI refuses root otherwise (CI runs as root)
        }
        cmd.addAll(List.of("--oversubscribe", "-np", Integer.toString(np), "--mca", "btl", "self,vader",
                "--mca", "btl_vader_single_copy_mechanism", "none",
                ProcessHandle.current().info().command().orElseThrow(), "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), MpiRankMain.class.getName()));
        Path dir = Files.createTempDirectory("bnorm-mpi");
        cmd.add(dir.toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("BNORM_NUM_THREADS", "1"); // P JVMs on 2 cores
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("mpirun did not finish within 120 s");
        }
        String output = new String(out, StandardCharsets.UTF_8);
        Map<Integer, Map<String, float[]>> results = new HashMap<>();
        for (int r = 0; r < np; r++) {
            Path file = dir.resolve("rank-" + r + ".txt");
            if (!Files.exists(file)) {
                continue;
            }
            Map<String, float[]> mine = new HashMap<>();
            for (String l : Files.readAllLines(file)) {
                String[] w = l.split(" ");
                float[] v = new float[w.length - 1];
                for (int i = 0; i < v.length; i++) v[i] = Float.intBitsToFloat(Integer.parseUnsignedInt(w[i + 1], 16));
                mine.put(w[0], v);
            }
            results.put(r, mine);
            Files.delete(file);
        }
        Files.delete(dir);
        return new Job(p.exitValue(), output, results);
    }

    static boolean runningAsRoot() throws IOException, InterruptedException {
        Process id = new ProcessBuilder("id", "-u").redirectErrorStream(true).start();
        String uid = new String(id.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        return id.waitFor() == 0 && uid.equals("0");
    }

    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4})
    void syncBatchNormOverMpiEqualsOneProcessAndIsBitIdenticalAcrossRanks(int ranks) throws Exception {
        long[] np = Arrays.copyOf(new long[] {5, 1, 0, 3}, ranks);
        if (ranks == 2) np = new long[] {5, 4};
        Format f = ranks == 3 ? Format.NHWC : Format.NC;
        int c = 6;
        List<String> args = new ArrayList<>(List.of("syncbn", f.name()));
        for (long v : np) args.add(Long.toString(v));
        Job job = launch(ranks, args.toArray(String[]::new));
        assertEquals(0, job.exit, job.output);
        Job again = launch(ranks, args.toArray(String[]::new));
        SyncBatchNormTest.Step one = SyncBatchNormTest.single(f, c, np, "native");
        long per = SyncBatchNormTest.per(f, c);
        long n = Arrays.stream(np).sum();
        double tol = Compare.tol(n * per / c);
        float[] dgamma = new float[c];
        long from = 0;
        for (int r = 0; r < ranks; r++) {
            Map<String, float[]> got = job.results.get(r);
            assertTrue(got != null, "no results from rank " + r + ":\n" + job.output);
            String what = ranks + " ranks " + Arrays.toString(np) + " rank " + r;
            float[] out = Arrays.copyOfRange(one.out(), (int) (from * per), (int) ((from + np[r]) * per));
            float[] dinp = Arrays.copyOfRange(one.dinp(), (int) (from * per), (int) ((from + np[r]) * per));
            Compare.assertClose(out, got.get("out"), tol, tol, what + " out");
            Compare.assertCloseToScale(SyncBatchNormTest.toDouble(dinp), got.get("dinp"), tol, what + " dinp");
            Compare.assertClose(one.runningMean(), got.get("running_mean"), tol, tol, what + " running_mean");
            Compare.assertClose(one.runningVar(), got.get("running_var"), tol, tol, what + " running_var");
            Compare.assertSameBits(job.results.get(0).get("running_var"), got.get("running_var"), what + " across ranks");
            for (String k : got.keySet()) {
                Compare.assertSameBits(got.get(k), again.results.get(r).get(k), what + " " + k + " repeated");
            }
            for (int i = 0; i < c; i++) dgamma[i] += got.get("dgamma")[i];
            from += np[r];
        }
        Compare.assertClose(one.dgamma(), dgamma, Compare.sumTol(n * per / c), tol, "dgamma summed over ranks");
    }

    @Test
    void dataParallelTrainingOnTwoRanksOfThirtyMatchesOneProcessOfSixty() throws Exception {
        Job job = launch(2, "train", "30", "30");
        assertEquals(0, job.exit, job.output);
        DataParallelTest.Trained one = DataParallelTest.single(60);
        double tol = 20 * Compare.tol(60);
        for (int r = 0; r < 2; r++) {
            Map<String, float[]> got = job.results.get(r);
            assertTrue(got != null, "no results from rank " + r + ":\n" + job.output);
            Compare.assertClose(one.losses(), got.get("losses"), tol, tol, "rank " + r + " losses");
            for (var e : one.state().entrySet()) {
                Compare.assertClose(e.getValue(), got.get(e.getKey()), tol, tol, "rank " + r + " " + e.getKey());
                Compare.assertSameBits(job.results.get(0).get(e.getKey()), got.get(e.getKey()), e.getKey() + " across ranks");
            }
        }
    }

    @Test
    void aRankThatThrowsEndsTheJobWithAMessageWithinSeconds() throws Exception {
        long start = System.nanoTime();
        Job job = launch(3, "fail");
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
        assertNotEquals(0, job.exit, job.output);
        assertTrue(job.output.contains("bnorm: rank 1 of 3 aborts the MPI job: java.lang.IllegalArgumentException: inp:"
                + " expected C = 4 channels"), job.output);
        assertTrue(seconds < 30, "took " + seconds + " s");
    }
}
