package dev.bnorm.nn;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.dist.Collective;
import dev.bnorm.dist.MpiCollective;
import dev.bnorm.kernel.Kernels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * One rank of the MPI tests ({@link MpiTest}), launched by mpirun with the arguments DIR MODE ...:
 * writes this rank's results to DIR/rank-R.txt as lines "key hex-bits..." (floats as their bits),
 * then finalizes MPI. A rank that throws aborts the job (MPI_Abort) with its message. Modes:
 * <ul>
 * <li>{@code syncbn FORMAT N_0 N_1 ...}: two SyncBatchNorm steps of SyncBatchNormTest's data;</li>
 * <li>{@code train N_0 N_1 ...}: DataParallelTest's MLP training;</li>
 * <li>{@code fail}: rank 1 throws in its first step, the others wait in a collective.</li>
 * </ul>
 */
public final class MpiRankMain {

    private MpiRankMain() {
    }

    private static final StringBuilder RESULTS = new StringBuilder();

    public static void main(String[] args) {
        MpiCollective col = MpiCollective.init();
        try {
            switch (args[1]) {
                case "syncbn" -> syncbn(col, Format.valueOf(args[2]), counts(args, 3));
                case "train" -> train(col, counts(args, 2));
                case "fail" -> fail(col);
                default -> throw new IllegalArgumentException("mode: expected syncbn, train or fail, got " + args[1]);
            }
            Files.writeString(Path.of(args[0], "rank-" + col.rank() + ".txt"), RESULTS);
        } catch (Throwable t) {
            col.abort(t.toString());
        }
        col.close();
    }

    static long[] counts(String[] args, int from) {
        return Arrays.stream(args, from, args.length).mapToLong(Long::parseLong).toArray();
    }

    static void syncbn(Collective col, Format f, long[] np) {
        int c = 6;
        float[][][] data = SyncBatchNormTest.data(f, c, np);
        long from = 0;
        for (int r = 0; r < col.rank(); r++) from += np[r];
        try (SyncBatchNorm bn = SyncBatchNorm.builder(c, col).momentum(null).kernels(Kernels.named("native")).build()) {
            SyncBatchNormTest.Step s = SyncBatchNormTest.steps(bn, f, c, data[0], data[1], from, np[col.rank()]);
            print(col, "out", s.out());
            print(col, "dinp", s.dinp());
            print(col, "dgamma", s.dgamma());
            print(col, "dbeta", s.dbeta());
            print(col, "running_mean", s.runningMean());
            print(col, "running_var", s.runningVar());
        }
    }

    static void train(Collective col, long[] np) {
        DataParallelTest.Trained t = DataParallelTest.rank(col, np);
        print(col, "losses", t.losses());
        for (Map.Entry<String, float[]> e : t.state().entrySet()) {
            print(col, e.getKey(), e.getValue());
        }
    }

    static void fail(Collective col) {
        try (SyncBatchNorm bn = SyncBatchNorm.builder(4, col).build();
             Tensor x = Tensor.zeros(Format.NC, 5, col.rank() == 1 ? 3 : 4)) {
            bn.forward(x); // rank 1: wrong channel count, before its collective
        }
    }

    static void print(Collective col, String key, float[] v) { // col: the rank whose results these are
        RESULTS.append(key);
        for (float x : v) RESULTS.append(' ').append(Integer.toHexString(Float.floatToRawIntBits(x)));
        RESULTS.append('\n');
    }

}
