package dev.bnorm.demo;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The summary table printed after the runs. */
final class Table {

    /** Fractions of the run at which the table shows the held-out accuracy (before the final column). */
    static final double[] FRACTIONS = {0.05, 0.2, 0.5};

    private Table() {}

    /** The measured steps nearest to {@link #FRACTIONS} of {@code steps}, distinct, ascending, excluding 0. */
    static int[] checkpoints(List<Run.Point> curve, int steps) {
        List<Integer> picked = new ArrayList<>();
        for (double f : FRACTIONS) {
            int best = -1;
            for (Run.Point p : curve) {
                if (p.step() == 0 || p.step() == steps) continue;
                if (best < 0 || Math.abs(p.step() - f * steps) < Math.abs(best - f * steps)) best = p.step();
            }
            if (best > 0 && !picked.contains(best)) picked.add(best);
        }
        return picked.stream().mapToInt(Integer::intValue).sorted().toArray();
    }

    /** One header line, one line per run; accuracies in percent. */
    static String format(List<Run.Result> runs, int[] checkpoints, int steps) {
        int nameWidth = "run".length();
        for (Run.Result r : runs) nameWidth = Math.max(nameWidth, r.spec().name().length());
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-" + nameWidth + "s", "run"));
        for (int s : checkpoints) sb.append(String.format(Locale.ROOT, " %10s", "acc@" + s));
        sb.append(String.format(Locale.ROOT, " %15s %8s  %s%n", "final@" + steps + " (eval)", "ms/step", "BN kernels"));
        for (Run.Result r : runs) {
            sb.append(String.format(Locale.ROOT, "%-" + nameWidth + "s", r.spec().name()));
            for (int s : checkpoints) sb.append(String.format(Locale.ROOT, " %9.1f%%", 100 * r.accuracyAt(s)));
            sb.append(String.format(Locale.ROOT, " %14.1f%% %8.3f  %s%n",
                    100 * r.finalAccuracy(), r.msPerStep(), r.kernels()));
        }
        return sb.toString();
    }
}
