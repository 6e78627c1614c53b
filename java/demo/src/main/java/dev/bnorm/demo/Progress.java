package dev.bnorm.demo;

import java.io.PrintStream;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** A progress bar per run (me.tongfei:progressbar), or nothing when disabled. */
interface Progress extends AutoCloseable {

    /** After each training step. */
    void step(double loss);

    /** After each evaluation on the held-out set. */
    void evaluated(double accuracy);

    @Override
    void close();

    /** Line length when the output is not a terminal (whose width the bar would take). */
    int NON_TERMINAL_WIDTH = 120;

    /** True when the JVM runs in a terminal. */
    private static boolean interactive() {
        java.io.Console c = System.console();
        return c != null && c.isTerminal();
    }

    /** Draws nothing. */
    Progress NONE = new Progress() {
        @Override public void step(double loss) {}
        @Override public void evaluated(double accuracy) {}
        @Override public void close() {}
    };

    /**
     * The console consumer, ended once. The library's close() cancels the periodic redraw without
     * waiting for a run in progress and schedules a final one; a periodic run that sees the bar
     * finished also draws it and ends the line, so without this a bar could end twice (an extra
     * line) when the machine is busy.
     */
    final class OnceClosed extends ConsoleProgressBarConsumer {
        private boolean closed;

        OnceClosed(PrintStream out, int width) {
            super(out, width);
        }

        @Override
        public synchronized void accept(String rendered) {
            if (!closed) {
                super.accept(rendered);
            }
        }

        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                super.close();
            }
        }
    }

    /** A bar of {@code steps} steps on {@code out}, showing the latest loss and held-out accuracy. */
    static Progress bar(PrintStream out, String task, int steps) {
        ProgressBar bar = new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax(steps)
                .setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(100)
                .setConsumer(new OnceClosed(out, interactive() ? -1 : NON_TERMINAL_WIDTH))
                .setUnit(" steps", 1)
                .build();
        return new Progress() {
            private double loss = Double.NaN;
            private double accuracy = Double.NaN;

            @Override
            public void step(double l) {
                loss = l;
                bar.step();
                show();
            }

            @Override
            public void evaluated(double acc) {
                accuracy = acc;
                show();
            }

            private void show() {
                bar.setExtraMessage(String.format(Locale.ROOT, "loss %.3f  held-out acc %.1f%%", loss, 100 * accuracy));
            }

            @Override
            public void close() {
                bar.close();
            }
        };
    }
}
