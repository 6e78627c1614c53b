package dev.bnorm.demo;

import dev.bnorm.Tensor;
import dev.bnorm.dist.Collective;
import dev.bnorm.dist.InProcessCollective;
import dev.bnorm.dist.MpiCollective;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.nn.DataParallel;
import dev.bnorm.nn.Module;
import dev.bnorm.nn.SGD;
import dev.bnorm.nn.Sequential;
import dev.bnorm.nn.SoftmaxCrossEntropy;
import dev.bnorm.nn.SyncBatchNorm;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The scale-out demo: the demo's BN MLP (sigmoid, default initialization) trained data-parallel
 * with {@link SyncBatchNorm} on P ranks of B samples each, next to one process trained on the
 * concatenated batches of P*B samples: the same mini-batches, losses and final weights within
 * rounding. Ranks are threads of this JVM, or with {@code --mpi} the processes of an MPI job:
 * <pre>
 *   mpirun -np 2 java --enable-native-access=ALL-UNNAMED -cp ... dev.bnorm.demo.ScaleOut --mpi
 * </pre>
 * Exit code 0 if the two trainings match, 1 if not (or on an error), 2 for bad options.
 */
@Command(name = "bnorm-scale-out", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Trains the demo's BN MLP data-parallel with SyncBatchNorm on P ranks of B samples and one"
                + " process on batches of P*B samples, and compares them step by step.", ""})
public final class ScaleOut implements Callable<Integer> {

    @Option(names = "--ranks", paramLabel = "P", defaultValue = "2",
            description = "Ranks as threads of this JVM (default: ${DEFAULT-VALUE}); with --mpi the job's size instead.")
    int ranks;

    @Option(names = "--mpi", description = "Be one rank of an MPI job (launch with mpirun; needs Open MPI).")
    boolean mpi;

    @Option(names = {"-b", "--batch-per-rank"}, paramLabel = "B", defaultValue = "30",
            description = "Samples per rank and step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "300", description = "Training steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lr", paramLabel = "LR", defaultValue = "2", description = "SGD learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--seed", paramLabel = "SEED", defaultValue = "1", description = "Seed (default: ${DEFAULT-VALUE}).")
    long seed;

    private final PrintStream out;

    ScaleOut(PrintStream out) {
        this.out = out;
    }

    public static void main(String[] args) {
        System.exit(run(System.out, System.err, args));
    }

    static int run(PrintStream out, PrintStream err, String... args) {
        CommandLine cl = new CommandLine(new ScaleOut(out));
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setExecutionExceptionHandler((ex, c, r) -> {
            err.println("bnorm-scale-out: " + ex);
            return 1;
        });
        return cl.execute(args);
    }

    /** Losses of every step (the mean over the whole batch) and the final state of one training. */
    record Trained(double[] losses, Map<String, Tensor> state, double accuracy) {}

    @Override
    public Integer call() {
        if (batch < 1 || steps < 1 || ranks < 1 || !(lr > 0)) {
            throw new CommandLine.ParameterException(new CommandLine(this), "expected --ranks, --batch-per-rank and"
                    + " --steps >= 1 and --lr > 0");
        }
        Dataset.Split data = DataSpec.parse("digits").load();
        if (!mpi) {
            List<double[]> losses = InProcessCollective.run(ranks, c -> report(c, data));
            return losses.getFirst()[0] == 0 ? 0 : 1;
        }
        try (MpiCollective c = MpiCollective.init()) {
            try {
                return report(c, data)[0] == 0 ? 0 : 1;
            } catch (RuntimeException | Error e) {
                c.abort(e.toString());
                throw e;
            }
        }
    }

    /** Trains on this rank; rank 0 also trains the one-process reference and prints the comparison. {0} = match. */
    private double[] report(Collective c, Dataset.Split data) {
        int p = c.size();
        Experiment.Config cfg = new Experiment.Config(Experiment.Activation.SIGMOID, steps, p * batch, lr, seed,
                steps, 0.01, Kernels.best());
        Trained parallel = train(cfg, data, c);
        if (c.rank() != 0) {
            return new double[] {0};
        }
        Trained one = train(cfg, data, null);
        out.printf(Locale.ROOT, "bnorm scale-out: %s MLP with BatchNorm, %d steps of SGD (lr %s), digits data%n",
                "64-100-100-100-10", steps, lr);
        out.printf(Locale.ROOT, "  data-parallel: %d ranks (%s) x %d samples, SyncBatchNorm + DataParallel%n", p,
                mpi ? "MPI processes" : "threads", batch);
        out.printf(Locale.ROOT, "  reference:     1 process x %d samples, BatchNorm1d%n%n", p * batch);
        out.printf(Locale.ROOT, "  %6s  %14s  %14s  %10s%n", "step", "loss (P ranks)", "loss (1 proc)", "|diff|");
        double worstLoss = 0;
        for (int s = 0; s < steps; s++) {
            double d = Math.abs(parallel.losses[s] - one.losses[s]);
            worstLoss = Math.max(worstLoss, d);
            if (s == 0 || (s + 1) % Math.max(1, steps / 10) == 0) {
                out.printf(Locale.ROOT, "  %6d  %14.6f  %14.6f  %10.2e%n", s + 1, parallel.losses[s], one.losses[s], d);
            }
        }
        double worstWeight = 0;
        for (var e : one.state.entrySet()) {
            float[] a = e.getValue().toArray();
            float[] b = parallel.state.get("module." + e.getKey()).toArray();
            for (int i = 0; i < a.length; i++) worstWeight = Math.max(worstWeight, Math.abs(a[i] - b[i]));
        }
        out.printf(Locale.ROOT, "%n  held-out accuracy: %.4f (P ranks), %.4f (1 process)%n", parallel.accuracy, one.accuracy);
        out.printf(Locale.ROOT, "  worst |loss difference| %.2e, worst |weight or running-statistic difference| %.2e%n",
                worstLoss, worstWeight);
        boolean match = worstLoss <= 1e-3 && worstWeight <= 1e-2;
        out.println(match ? "  match: yes (within float rounding, which grows over the steps)" : "  match: NO");
        parallel.state.values().forEach(Tensor::close);
        one.state.values().forEach(Tensor::close);
        return new double[] {match ? 0 : 1};
    }

    /** One training: data-parallel over {@code c} (rank r takes rows [r*B, (r+1)*B) of each batch), or one process. */
    private Trained train(Experiment.Config cfg, Dataset.Split data, Collective c) {
        Dataset train = data.train();
        int f = train.features();
        int all = cfg.batchSize();
        int mine = c == null ? all : batch;
        int from = c == null ? 0 : c.rank() * batch;
        double[] losses = new double[steps];
        Sequential mlp = Experiment.mlp(new Run.Spec(true, false, "BN"), cfg, f, train.classes());
        try (Module model = c == null ? mlp : new DataParallel(SyncBatchNorm.convert(mlp, c), c);
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             Tensor x = Tensor.zeros(Tensor.Format.NC, mine, f);
             Tensor testX = Tensor.of(Tensor.Format.NC, data.test().x(), data.test().n(), f);
             SGD sgd = new SGD(model.parameters(), cfg.lr(), 0, 0)) {
            Experiment.Batches batches = new Experiment.Batches(train, all, cfg.seed());
            float[] bx = new float[all * f];
            int[] by = new int[all];
            float[] mx = new float[mine * f];
            int[] my = new int[mine];
            for (int s = 0; s < steps; s++) {
                batches.next(bx, by);
                System.arraycopy(bx, from * f, mx, 0, mine * f);
                System.arraycopy(by, from, my, 0, mine);
                x.copyFrom(mx);
                sgd.zeroGrad();
                double l = loss.forward(model.forward(x), my);
                model.backward(loss.backward());
                sgd.step();
                losses[s] = c == null ? l : c.allReduceSum(new double[] {l * mine})[0] / all;
            }
            if (c != null && c.rank() != 0) {
                return new Trained(losses, Map.of(), 0);
            }
            // the replica itself, not the wrapper: in eval mode it does not communicate
            double acc = Experiment.accuracy(model instanceof DataParallel dp ? dp.module() : model, testX, data.test());
            Map<String, Tensor> state = new java.util.LinkedHashMap<>();
            model.stateDict().forEach((k, t) -> state.put(k, copy(t)));
            return new Trained(losses, state, acc);
        }
    }

    private static Tensor copy(Tensor t) {
        Tensor c = Tensor.zeros(t.format(), t.shape());
        c.copyFrom(t);
        return c;
    }
}
