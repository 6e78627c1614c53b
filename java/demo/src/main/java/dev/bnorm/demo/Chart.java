package dev.bnorm.demo;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;
import javax.imageio.ImageIO;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The PNG: held-out accuracy and training loss against steps, one line per run, side by side, one
 * legend for both. Colour by normalization (the CNN's in colours of its own), dashed lines for the
 * badly initialized runs.
 */
final class Chart {

    static final int PANEL_WIDTH = 720;
    static final int PANEL_HEIGHT = 520;
    static final int TITLE_HEIGHT = 44;
    /** The loss axis stops here (a little above ln 10, the loss of a uniform guess over 10 classes). */
    static final double LOSS_AXIS_MAX = 3.0;
    private static final Color BN = new Color(0x1f77b4);
    private static final Color NO_BN = new Color(0xd62728);
    private static final Color RENORM = new Color(0x2ca02c);
    private static final Color GHOST = new Color(0xff7f0e);
    private static final Color CNN_BN = new Color(0x9467bd);
    private static final Color CNN_NO_BN = new Color(0x8c564b);

    private Chart() {}

    /** Draws the two panels under {@code title}. */
    static BufferedImage render(String title, List<Run.Result> runs, String accuracyAxis) {
        XYChart accuracy = panel("Held-out accuracy (eval mode)", accuracyAxis, runs, Run.Point::testAccuracy);
        accuracy.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        double maxLoss = runs.stream().flatMap(r -> r.curve().stream()).mapToDouble(Run.Point::trainLoss)
                .filter(Double::isFinite).max().orElse(0);
        boolean cut = maxLoss > LOSS_AXIS_MAX;
        XYChart loss = panel("Training loss", "cross-entropy (mean since the previous point)"
                + (cut ? ", axis cut at " + LOSS_AXIS_MAX : ""), runs, Run.Point::trainLoss);
        loss.getStyler().setYAxisMin(0.0).setYAxisMax(cut ? LOSS_AXIS_MAX : null)
                .setLegendPosition(Styler.LegendPosition.OutsideE).setLegendLayout(Styler.LegendLayout.Vertical);
        accuracy.getStyler().setLegendVisible(false);

        BufferedImage img = new BufferedImage(2 * PANEL_WIDTH, TITLE_HEIGHT + PANEL_HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, img.getWidth(), img.getHeight());
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
            int w = g.getFontMetrics().stringWidth(title);
            g.drawString(title, Math.max(8, (img.getWidth() - w) / 2), 30);
            g.translate(0, TITLE_HEIGHT);
            accuracy.paint(g, PANEL_WIDTH, PANEL_HEIGHT);
            g.translate(PANEL_WIDTH, 0);
            loss.paint(g, PANEL_WIDTH, PANEL_HEIGHT);
        } finally {
            g.dispose();
        }
        return img;
    }

    /** Renders and writes the PNG. */
    static void write(Path file, String title, List<Run.Result> runs, String accuracyAxis) {
        BufferedImage img = render(title, runs, accuracyAxis);
        try (OutputStream os = Files.newOutputStream(file)) {
            if (!ImageIO.write(img, "png", os)) throw new IOException("no PNG writer");
        } catch (IOException e) {
            throw new DemoException("cannot write the chart " + file + ": " + DataFiles.describe(e), e);
        }
    }

    private static XYChart panel(String title, String yTitle, List<Run.Result> runs, ToDoubleFunction<Run.Point> y) {
        XYChart chart = new XYChartBuilder().width(PANEL_WIDTH).height(PANEL_HEIGHT)
                .title(title).xAxisTitle("training step").yAxisTitle(yTitle).build();
        chart.getStyler().setPlotGridLinesColor(new Color(0xdddddd)).setChartBackgroundColor(Color.WHITE)
                .setLegendBorderColor(Color.WHITE).setMarkerSize(0);
        for (Run.Result r : runs) {
            List<Double> xs = new ArrayList<>();
            List<Double> ys = new ArrayList<>();
            for (Run.Point p : r.curve()) {
                double v = y.applyAsDouble(p);
                if (Double.isFinite(v)) {
                    xs.add((double) p.step());
                    ys.add(v);
                }
            }
            if (xs.isEmpty()) continue;
            XYSeries s = chart.addSeries(r.spec().name(), xs, ys);
            s.setMarker(SeriesMarkers.NONE);
            s.setLineColor(r.spec().cnn() ? (r.spec().batchNorm() ? CNN_BN : CNN_NO_BN) : switch (r.spec().norm()) {
                case BN -> BN;
                case RENORM -> RENORM;
                case GHOST -> GHOST;
                case NONE -> NO_BN;
            });
            s.setLineStyle(r.spec().badInit() ? SeriesLines.DASH_DASH : SeriesLines.SOLID);
        }
        return chart;
    }
}
