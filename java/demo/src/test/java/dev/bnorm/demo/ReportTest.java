package dev.bnorm.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The summary table and the chart, on made-up curves. */
class ReportTest {

    @TempDir
    Path dir;

    /** Curves from 0 to 100 steps every 10; accuracy rises linearly to {@code top}. */
    static Run.Result fake(Run.Spec spec, double top) {
        List<Run.Point> curve = new ArrayList<>();
        for (int s = 0; s <= 100; s += 10) curve.add(new Run.Point(s, top * s / 100, s == 0 ? Double.NaN : (1 - top) * 20.0 / (10 + s)));
        return new Run.Result(spec, curve, top, 0.25, spec.batchNorm() ? "native" : "-");
    }

    static List<Run.Result> runs() {
        List<Run.Spec> specs = Run.specs(0.01);
        return List.of(fake(specs.get(0), 0.9), fake(specs.get(1), 0.5), fake(specs.get(2), 0.8), fake(specs.get(3), 0.1));
    }

    @Test
    void checkpointsAreMeasuredStepsNearFractionsOfTheRun() {
        // fractions 0.05, 0.2, 0.5 of 100 steps -> nearest measured steps 10 (5 is a tie 0/10, 0 excluded), 20, 50
        assertArrayEquals(new int[] {10, 20, 50}, Table.checkpoints(runs().getFirst().curve(), 100));
    }

    @Test
    void tableHasOneLinePerRunWithPercentages() {
        String t = Table.format(runs(), new int[] {10, 50}, 100);
        String[] lines = t.split("\n");
        assertEquals(5, lines.length, t);
        assertTrue(lines[0].matches("run\\s+acc@10\\s+acc@50\\s+final@100 \\(eval\\)\\s+ms/step\\s+BN kernels"), lines[0]);
        assertTrue(lines[1].matches("BN, default init\\s+9\\.0%\\s+45\\.0%\\s+90\\.0%\\s+0\\.250\\s+native"), lines[1]);
        assertTrue(lines[4].matches("no BN, init N\\(0, 0\\.01²\\)\\s+1\\.0%\\s+5\\.0%\\s+10\\.0%\\s+0\\.250\\s+-"), lines[4]);
    }

    @Test
    void accuracyAtAnUnmeasuredStepIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> runs().getFirst().accuracyAt(15));
    }

    @Test
    void chartIsAPngWithBothPanelsDrawn() throws IOException {
        Path png = dir.resolve("c.png");
        Chart.write(png, "title", runs(), "accuracy");
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(2 * Chart.PANEL_WIDTH, img.getWidth());
        assertEquals(Chart.TITLE_HEIGHT + Chart.PANEL_HEIGHT, img.getHeight());
        // Both panels contain the series colours (blue for BN, red without).
        for (int panel = 0; panel < 2; panel++) {
            assertTrue(countColour(img, panel, 0x1f77b4) > 100, "blue lines in panel " + panel);
            assertTrue(countColour(img, panel, 0xd62728) > 100, "red lines in panel " + panel);
        }
    }

    @Test
    void unwritableChartFailsWithOneLine() throws IOException {
        Path file = Files.writeString(dir.resolve("f"), "x");
        DemoException e = assertThrows(DemoException.class, () -> Chart.write(file.resolve("c.png"), "t", runs(), "a"));
        assertTrue(e.getMessage().startsWith("cannot write the chart " + file.resolve("c.png")), e.getMessage());
    }

    private static int countColour(BufferedImage img, int panel, int rgb) {
        int n = 0;
        for (int y = Chart.TITLE_HEIGHT; y < img.getHeight(); y++) {
            for (int x = panel * Chart.PANEL_WIDTH; x < (panel + 1) * Chart.PANEL_WIDTH; x++) {
                if ((img.getRGB(x, y) & 0xffffff) == rgb) n++;
            }
        }
        return n;
    }
}
