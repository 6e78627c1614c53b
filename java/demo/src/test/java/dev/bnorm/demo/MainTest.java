package dev.bnorm.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line through {@link Main#run}: exit codes, one-line errors, what a run prints and writes. */
class MainTest {

    @TempDir
    Path dir;

    record Outcome(int code, String out, String err) {}

    static Outcome run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            code = Main.run(o, e, args);
        }
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** Exit code {@code code} and exactly one line on stderr containing {@code expected}. */
    static void assertOneLineError(int code, String expected, String... args) {
        Outcome r = run(args);
        assertEquals(code, r.code(), "exit code; stderr: " + r.err());
        assertTrue(r.err().startsWith("bnorm-demo: "), r.err());
        assertEquals(1, r.err().lines().count(), "one line, no stack trace: " + r.err());
        assertTrue(r.err().contains(expected), "expected \"" + expected + "\" in: " + r.err());
    }

    @Test
    void helpListsTheOptions() {
        Outcome r = run("--help");
        assertEquals(0, r.code());
        for (String o : new String[] {"--steps", "--epochs", "--batch-size", "--lr", "--cnn-lr", "--activation", "--seed",
                "--kernels", "--data", "--out", "--eval-every", "--init-std", "--no-progress", "--experiment", "--norm",
                "--virtual-batch-size"}) {
            assertTrue(r.out().contains(o), o + " missing from:\n" + r.out());
        }
    }

    @Test
    void badOptionsExitWith2AndOneLine() {
        assertOneLineError(2, "Unknown option: '--bogus'", "--bogus");
        assertOneLineError(2, "'abc' is not an int", "--steps", "abc");
        assertOneLineError(2, "--steps: expected a positive count, got 0", "--steps", "0");
        assertOneLineError(2, "use either --steps or --epochs", "--steps", "5", "--epochs", "1");
        assertOneLineError(2, "--batch-size: expected in [2, 1497]", "--batch-size", "1");
        assertOneLineError(2, "--batch-size: expected in [2, 1497]", "--batch-size", "0", "--epochs", "1");
        assertOneLineError(2, "--epochs: expected a positive count, got -1", "--epochs", "-1");
        assertOneLineError(2, "--lr: expected a finite value > 0, got -1.0", "--lr", "-1");
        assertOneLineError(2, "--activation: expected sigmoid or relu, got \"tanh\"", "--activation", "tanh");
        assertOneLineError(2, "--kernels: expected auto, native or java, got \"gpu\"", "--kernels", "gpu");
        assertOneLineError(2, "expected digits, digits:<file> or mnist:<dir>, got \"cifar\"", "--data", "cifar");
        assertOneLineError(2, "--eval-every: expected >= 1, got 0", "--eval-every", "0");
        assertOneLineError(2, "--cnn-lr: expected a finite value > 0, got 0.0", "--cnn-lr", "0");
        assertOneLineError(2, "--experiment: expected figure1a or small-batch, got \"big\"", "--experiment", "big");
        assertOneLineError(2, "--cnn-lr: only for --experiment figure1a", "--experiment", "small-batch", "--cnn-lr", "0.1");
        assertOneLineError(2, "--norm: expected bn, renorm or ghost, got \"ln\"", "--norm", "ln");
        assertOneLineError(2, "--norm: only for --experiment figure1a", "--experiment", "small-batch", "--norm", "bn");
        assertOneLineError(2, "--virtual-batch-size: expected in [2, 3] (below the batch size 4), got 4",
                "--experiment", "small-batch", "--virtual-batch-size", "4");
        assertOneLineError(2, "--virtual-batch-size: expected in [2, 59] (below the batch size 60), got 1",
                "--norm", "ghost", "--virtual-batch-size", "1");
    }

    @Test
    void unreadableOrCorruptDataExitsWith1AndOneLine() throws IOException {
        Path missing = dir.resolve("missing.csv");
        assertOneLineError(1, missing + ": cannot read: no such file", "--data", "digits:" + missing);
        Path corrupt = Files.write(dir.resolve("corrupt.csv.gz"), new byte[] {0x1f, (byte) 0x8b, 8, 0, 1, 2});
        assertOneLineError(1, corrupt + ": cannot read: ", "--data", "digits:" + corrupt);
        Path text = Files.writeString(dir.resolve("short.csv"), "1,2,3\n");
        assertOneLineError(1, text + " line 1: expected 65 comma-separated integers", "--data", "digits:" + text);
        assertOneLineError(1, "mnist: " + dir + ": no train-images-idx3-ubyte", "--data", "mnist:" + dir);
    }

    @Test
    void unwritableOutputDirectoryExitsWith1AndOneLine() throws IOException {
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        assertOneLineError(1, "output directory " + file + ": exists and is not a directory", "--out", file.toString());
        assertOneLineError(1, "output directory " + file.resolve("sub") + ": cannot write: ",
                "--out", file.resolve("sub").toString());
    }

    @Test
    void aShortRunPrintsTheTableAndWritesTheChart() throws IOException {
        Path out = dir.resolve("out");
        Outcome r = run("--steps", "40", "--eval-every", "10", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().split("\n");
        int header = -1;
        for (int i = 0; i < lines.length; i++) if (lines[i].startsWith("run ")) header = i;
        assertTrue(header > 0, "table header missing:\n" + r.out());
        assertTrue(lines[header].matches("run\\s+acc@10\\s+acc@20\\s+final@40 \\(eval\\)\\s+ms/step\\s+BN kernels"), lines[header]);
        // the MLP's four runs, then the CNN's two, each a row of percentages, a time and the BN kernels
        assertEquals(6, Run.specs(0.01).size());
        for (Run.Spec s : Run.specs(0.01)) {
            String row = "\n" + Pattern.quote(s.name()) + "(\\s+\\d{1,3}\\.\\d%){3}\\s+\\d+\\.\\d{3}  (native|java|-)\n";
            assertTrue(Pattern.compile(row).matcher(r.out()).find(), s.name() + " missing:\n" + r.out());
        }
        assertTrue(r.out().contains("\nCNN, BN ") && r.out().contains("\nCNN, no BN "), r.out());
        assertTrue(r.out().contains("  CNN:      1x8x8 images (NCHW) -> conv3x3(1->16) -> BN"), r.out());
        assertTrue(r.out().contains("lr 2.0 (CNN: 0.1), seed 1"), r.out());
        // one progress bar per run (redrawn after \r, ended by \n), each finished
        String[] bars = r.err().split("\n");
        assertEquals(6, bars.length, r.err());
        for (int i = 0; i < 6; i++) {
            String last = bars[i].substring(bars[i].lastIndexOf('\r') + 1);
            assertTrue(last.startsWith(Run.specs(0.01).get(i).name()) && last.contains("100%"), last);
        }
        Path png = out.resolve("bn-vs-no-bn.png");
        assertTrue(r.out().contains("chart: " + png.toAbsolutePath()), r.out());
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(2 * Chart.PANEL_WIDTH, img.getWidth());
    }

    /**
     * --cnn-lr trains the CNN runs with its rate and leaves the MLP runs alone (--lr is theirs). The
     * CNN without BN is not compared: at either rate it can stay at one class for 20 steps.
     */
    @Test
    void cnnLrIsTheLearningRateOfTheCnnRunsOnly() {
        String[] common = {"--steps", "20", "--eval-every", "10", "--no-progress", "--out", dir.toString()};
        Outcome slow = run(Stream.concat(Stream.of(common), Stream.of("--cnn-lr", "0.01")).toArray(String[]::new));
        Outcome fast = run(Stream.concat(Stream.of(common), Stream.of("--cnn-lr", "0.5")).toArray(String[]::new));
        assertEquals(0, slow.code(), slow.err());
        assertEquals(0, fast.code(), fast.err());
        for (Run.Spec s : Run.specs(0.01)) {
            if (s.cnn() && !s.batchNorm()) continue;
            String a = accuracies(slow.out(), s.name());
            String b = accuracies(fast.out(), s.name());
            assertEquals(!s.cnn(), a.equals(b), s.name() + ": " + a + " vs " + b);
        }
    }

    /** The accuracy columns of the table row of run {@code name} (without the time, which varies). */
    private static String accuracies(String out, String name) {
        String row = out.lines().filter(l -> l.startsWith(name + "  ")).findFirst()
                .orElseThrow(() -> new AssertionError(name + " missing:\n" + out));
        return row.substring(0, row.lastIndexOf('%') + 1);
    }

    @Test
    void theSmallBatchExperimentRunsEveryNormalizationWithBatch4() throws IOException {
        Path out = dir.resolve("small");
        Outcome r = run("--experiment", "small-batch", "--steps", "12", "--eval-every", "6", "--no-progress",
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("training: 12 steps (0.0 epochs) of SGD, batch 4, lr 0.15"), r.out());
        assertTrue(r.out().contains("BatchNorm1d(virtualBatchSize=2)"), r.out());
        for (Run.Spec s : Run.smallBatchSpecs(2)) {
            assertTrue(r.out().contains("\n" + s.name() + " "), s.name() + " missing:\n" + r.out());
        }
        assertEquals(2 * Chart.PANEL_WIDTH, ImageIO.read(out.resolve("small-batch.png").toFile()).getWidth());
    }

    @Test
    void normChoosesTheNormalizationOfFigure1a() {
        for (String[] norm : new String[][] {{"renorm", "Batch Renorm", "BatchRenorm1d"},
                                             {"ghost", "Ghost BN", "BatchNorm1d(virtualBatchSize=30)"}}) {
            Outcome r = run("--norm", norm[0], "--steps", "4", "--eval-every", "2", "--no-progress", "--out", dir.toString());
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("-> " + norm[2] + " ->"), r.out());
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith(norm[1] + ", default init")), r.out());
        }
    }

    @Test
    void epochsAreConvertedToSteps() {
        Outcome r = run("--epochs", "1", "--batch-size", "100", "--eval-every", "7", "--no-progress", "--out", dir.toString());
        assertEquals(0, r.code(), r.err());
        // 1,497 training samples in batches of 100: 14 full batches per epoch
        assertTrue(r.out().contains("training: 14 steps (1.0 epochs) of SGD, batch 100"), r.out());
        assertTrue(r.out().contains("final@14 (eval)"), r.out());
    }

    @Test
    void javaKernelsAreReportedInTheTable() {
        Outcome r = run("--steps", "4", "--eval-every", "2", "--kernels", "java", "--no-progress",
                "--out", dir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("BN, default init") && l.endsWith(" java")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("no BN, default init") && l.endsWith(" -")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("CNN, BN ") && l.endsWith(" java")), r.out());
        assertTrue(r.err().isEmpty(), r.err());
    }
}
