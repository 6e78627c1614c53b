package dev.bnorm.demo;

import dev.bnorm.NativeLibraryException;
import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.kernel.ConvKernels;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.nn.BatchRenorm;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The demo: trains a 3x100 MLP with and without Batch Normalization, from a default and from a
 * badly scaled initialization, and a small CNN with and without BN, shows a progress bar per run,
 * then a summary table, and writes a chart. {@link #run} returns the exit code: 0, 1 (data or
 * output error), 2 (bad options).
 */
@Command(name = "bnorm-demo", mixinStandardHelpOptions = true, sortOptions = false,
        versionProvider = Main.Version.class, usageHelpAutoWidth = true,
        description = {
            "Batch Normalization makes training converge faster and depend less on the initialization"
                + " (Ioffe & Szegedy 2015, Figure 1a). This trains the same MLP (3 hidden layers of 100 units)"
                + " with BN (Linear(bias=false) -> BatchNorm1d -> activation) and without (Linear -> activation),"
                + " from PyTorch's default initialization and from a badly scaled one, with the same seed, steps"
                + " and learning rate, and compares held-out accuracy (eval mode) and training loss. A small CNN"
                + " (BatchNorm2d, per channel) on the same data as images runs the same comparison.",
            ""})
public final class Main implements Callable<Integer> {

    @Option(names = "--steps", paramLabel = "N", description = "Training steps (mini-batches) per run (default: ${DEFAULT-VALUE}).",
            defaultValue = "1500")
    int steps;

    @Option(names = "--epochs", paramLabel = "E", description = "Train for E passes over the training set instead of --steps.")
    Integer epochs;

    @Option(names = {"-b", "--batch-size"}, paramLabel = "B", defaultValue = "60",
            description = "Mini-batch size, as in the paper (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr", paramLabel = "LR", defaultValue = "2",
            description = "SGD learning rate of the MLP (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--cnn-lr", paramLabel = "LR", defaultValue = "0.1",
            description = "SGD learning rate of the CNN (default: ${DEFAULT-VALUE}).")
    double cnnLr;

    @Option(names = "--activation", paramLabel = "A", defaultValue = "sigmoid",
            description = "sigmoid (as in the paper) or relu (default: ${DEFAULT-VALUE}).")
    String activation;

    @Option(names = "--init-std", paramLabel = "S", defaultValue = "0.01",
            description = "Std of the Gaussian weights of the badly initialized runs (default: ${DEFAULT-VALUE}).")
    double initStd;

    @Option(names = "--seed", paramLabel = "SEED", defaultValue = "1",
            description = "Seed of the initial weights and the mini-batch order (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--kernels", paramLabel = "K", defaultValue = "auto",
            description = "BN kernels: native, java, or auto = native if libbnorm loads (default: ${DEFAULT-VALUE}).")
    String kernels;

    @Option(names = "--experiment", paramLabel = "X", defaultValue = "figure1a",
            description = "figure1a: the MLP with and without normalization, from the default and a bad initialization,"
                + " then a small CNN (two conv-BN-ReLU blocks, a residual block, global average pool, Linear) on the"
                + " images with and without BN; small-batch: the MLP with BN, Batch Renorm, Ghost BN and no BN from the"
                + " default initialization, with batch 4, 400 steps and lr 0.15 unless --batch-size, --steps or --lr say"
                + " otherwise (default: ${DEFAULT-VALUE}).")
    String experiment;

    @Option(names = "--norm", paramLabel = "NORM", defaultValue = "bn",
            description = "The normalization of figure1a's normalized MLP runs (the CNN's is BN): bn (BatchNorm1d),"
                + " renorm (Batch Renormalization, BatchRenorm1d) or ghost (Ghost BN: BatchNorm1d with"
                + " --virtual-batch-size) (default: ${DEFAULT-VALUE}).")
    String norm;

    @Option(names = "--virtual-batch-size", paramLabel = "G",
            description = "Samples per virtual batch of Ghost BN, in [2, batch size) (default: half the batch, at least 2).")
    Integer virtualBatchSize;

    @Option(names = "--data", paramLabel = "SRC", defaultValue = "digits", converter = DataSpecConverter.class,
            description = "digits (bundled: 1,797 8x8 images, 300 held out), digits:<file> (same CSV format,"
                + " optionally .gz) or mnist:<dir> (train-/t10k-images-idx3-ubyte and -labels-idx1-ubyte,"
                + " optionally .gz) (default: ${DEFAULT-VALUE}).")
    DataSpec data;

    @Option(names = {"-o", "--out"}, paramLabel = "DIR", defaultValue = "${sys:bnorm.demo.out:-bnorm-demo}",
            description = "Output directory for the chart (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--eval-every", paramLabel = "K",
            description = "Measure held-out accuracy every K steps (default: steps/60).")
    Integer evalEvery;

    @Option(names = "--no-progress", description = "No progress bars.")
    boolean noProgress;

    @Spec
    CommandSpec spec;

    private final PrintStream stdout;
    private final PrintStream stderr;

    Main(PrintStream stdout, PrintStream stderr) {
        this.stdout = stdout;
        this.stderr = stderr;
    }

    public static void main(String[] args) {
        System.exit(run(System.out, System.err, args));
    }

    /** Parses {@code args}, runs, and returns the exit code; every failure is one line on {@code err}. */
    public static int run(PrintStream out, PrintStream err, String... args) {
        CommandLine cl = new CommandLine(new Main(out, err));
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setParameterExceptionHandler((ex, a) -> {
            err.println("bnorm-demo: " + ex.getMessage() + " (see --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, c, r) -> {
            err.println("bnorm-demo: " + oneLine(ex));
            return 1;
        });
        return cl.execute(args);
    }

    private static String oneLine(Exception ex) {
        String m = ex instanceof DemoException || ex instanceof NativeLibraryException
                ? ex.getMessage() : ex.getClass().getSimpleName() + ": " + ex.getMessage();
        return m == null ? ex.getClass().getSimpleName() : m.replaceAll("\\s*\\R\\s*", " ");
    }

    @Override
    public Integer call() {
        Dataset.Split split = data.load();
        Experiment.Config cfg = config(split.train().n());
        boolean small = experiment.equals("small-batch");
        Run.Norm normalization = Run.Norm.valueOf(norm.toUpperCase(Locale.ROOT));
        List<Run.Spec> specs = small ? Run.smallBatchSpecs(cfg.virtualBatchSize()) : Run.specs(initStd, normalization);
        int perEpoch = split.train().n() / batchSize;
        Path chart = prepareOutput(out).resolve(small ? "small-batch.png" : "bn-vs-no-bn.png");

        stdout.println(small ? "bnorm demo: BN, Batch Renormalization (Ioffe 2017) and Ghost BN (Hoffer et al. 2017)"
                + " with small batches, on real data"
                : "bnorm demo: Batch Normalization (Ioffe & Szegedy 2015, Figure 1a) on real data");
        stdout.println("  data:     " + split.description());
        stdout.printf(Locale.ROOT, "  model:    %d-%d-%d-%d-%d MLP, %s; normalized: Linear(bias=false) -> %s -> %s%n",
                split.train().features(), Experiment.HIDDEN, Experiment.HIDDEN, Experiment.HIDDEN,
                split.train().classes(), activation, small ? "BatchNorm1d | BatchRenorm1d | BatchNorm1d(virtualBatchSize="
                        + cfg.virtualBatchSize() + ")" : switch (normalization) {
                            case RENORM -> "BatchRenorm1d";
                            case GHOST -> "BatchNorm1d(virtualBatchSize=" + cfg.virtualBatchSize() + ")";
                            default -> "BatchNorm1d";
                        }, activation);
        if (!small) {
            int side = Experiment.side(split.train().features());
            stdout.println("  CNN:      1x" + side + "x" + side + " images (NCHW) -> conv3x3(1->16) -> BN -> ReLU"
                    + " -> conv3x3(16->32, stride 2) -> BN -> ReLU -> BasicBlock(32) -> global avg pool -> Linear(32, "
                    + split.train().classes() + "); without BN: convolutions with bias, no BN layers");
        }
        if (small || normalization == Run.Norm.RENORM) {
            BatchRenorm.Schedule r = cfg.renorm();
            stdout.printf(Locale.ROOT, "  renorm:   rmax = 1, dmax = 0 for %d steps, then rmax -> %s over %d steps,"
                    + " dmax -> %s over %d steps%n", r.warmup(), r.rmax(), r.rmaxSteps(), r.dmax(), r.dmaxSteps());
        }
        stdout.printf(Locale.ROOT, "  training: %d steps (%.1f epochs) of SGD, batch %d, lr %s%s, seed %d; "
                        + "held-out accuracy every %d steps%n",
                cfg.steps(), (double) cfg.steps() / perEpoch, batchSize, lr, small ? "" : " (CNN: " + cnnLr + ")", seed,
                cfg.evalEvery());
        if (!small) stdout.printf(Locale.ROOT, "  init:     default = PyTorch's U(-1/sqrt(in), 1/sqrt(in)); bad = weights N(0, %s²)%n",
                initStd);
        stdout.println("  BN kernels: " + cfg.kernels().name() + (small ? "" : "; convolutions: " + ConvKernels.best().name()));
        stdout.println();

        List<Run.Result> results = new ArrayList<>();
        for (Run.Spec s : specs) {
            try (Progress p = noProgress ? Progress.NONE : Progress.bar(stderr, String.format("%-24s", s.name()), cfg.steps())) {
                results.add(Experiment.run(s, s.cnn() ? cfg.withLr(cnnLr) : cfg, split, p));
            }
        }

        stdout.println();
        stdout.print(Table.format(results, Table.checkpoints(results.getFirst().curve(), cfg.steps()), cfg.steps()));
        stdout.println("(acc@k: held-out accuracy after k steps, eval mode; ms/step: mean wall time of forward, backward"
                + " and update, JIT warm-up included: not a benchmark)");
        String title = small
                ? String.format(Locale.ROOT, "3x%d %s MLP on %s, BN vs Batch Renorm vs Ghost BN (batch %d, lr %s, seed %d)",
                        Experiment.HIDDEN, activation, data.kind(), batchSize, lr, seed)
                : String.format(Locale.ROOT, "3x%d %s MLP and small CNN on %s, with and without %s"
                        + " (batch %d, lr %s, CNN %s, seed %d)", Experiment.HIDDEN, activation, data.kind(), normalization.label, batchSize, lr, cnnLr, seed);
        Chart.write(chart, title, results, "accuracy on " + split.test().n() + " held-out samples");
        stdout.println();
        stdout.println("chart: " + chart.toAbsolutePath().normalize());
        return 0;
    }

    /** Checks the options against each other and the data; a {@link ParameterException} (exit code 2) names the bad one. */
    private Experiment.Config config(int trainCount) {
        var parsed = spec.commandLine().getParseResult();
        if (!List.of("figure1a", "small-batch").contains(experiment)) {
            throw bad("--experiment: expected figure1a or small-batch, got \"" + experiment + "\"");
        }
        if (!List.of("bn", "renorm", "ghost").contains(norm)) {
            throw bad("--norm: expected bn, renorm or ghost, got \"" + norm + "\"");
        }
        if (experiment.equals("small-batch")) {
            if (parsed.hasMatchedOption("--norm")) {
                throw bad("--norm: only for --experiment figure1a (small-batch runs every normalization)");
            }
            if (parsed.hasMatchedOption("--cnn-lr")) {
                throw bad("--cnn-lr: only for --experiment figure1a (small-batch trains no CNN)");
            }
            if (!parsed.hasMatchedOption("--batch-size")) {
                batchSize = 4;
            }
            if (!parsed.hasMatchedOption("--steps")) {
                steps = 400;
            }
            if (!parsed.hasMatchedOption("--lr")) {
                lr = 0.15; // about 2 * 4/60: Figure 1a's rate scaled down with the batch
            }
        }
        if (batchSize < 2 || batchSize > trainCount) {
            throw bad("--batch-size: expected in [2, " + trainCount + "] (BN needs 2 samples; the training set has "
                    + trainCount + "), got " + batchSize);
        }
        if (epochs != null && spec.commandLine().getParseResult().hasMatchedOption("--steps")) {
            throw bad("use either --steps or --epochs, not both");
        }
        long n = epochs != null ? (long) epochs * (trainCount / batchSize) : steps;
        if (n < 1 || n > 10_000_000) throw bad((epochs != null ? "--epochs" : "--steps") + ": expected a positive count, got "
                + (epochs != null ? epochs : steps));
        int total = (int) n;
        if (!(lr > 0) || !Double.isFinite(lr)) throw bad("--lr: expected a finite value > 0, got " + lr);
        if (!(cnnLr > 0) || !Double.isFinite(cnnLr)) throw bad("--cnn-lr: expected a finite value > 0, got " + cnnLr);
        if (!(initStd > 0) || !Double.isFinite(initStd)) throw bad("--init-std: expected a finite value > 0, got " + initStd);
        int every = evalEvery != null ? evalEvery : Math.max(1, total / 60);
        if (every < 1) throw bad("--eval-every: expected >= 1, got " + every);
        Experiment.Activation act = switch (activation) {
            case "sigmoid" -> Experiment.Activation.SIGMOID;
            case "relu" -> Experiment.Activation.RELU;
            default -> throw bad("--activation: expected sigmoid or relu, got \"" + activation + "\"");
        };
        BatchNormKernels k = switch (kernels) {
            case "auto" -> Kernels.best();
            case "native", "java" -> Kernels.named(kernels);
            default -> throw bad("--kernels: expected auto, native or java, got \"" + kernels + "\"");
        };
        int g = virtualBatchSize != null ? virtualBatchSize : Math.max(2, batchSize / 2);
        boolean ghost = experiment.equals("small-batch") || norm.equals("ghost");
        if (ghost && (g < 2 || g >= batchSize)) {
            throw bad("--virtual-batch-size: expected in [2, " + (batchSize - 1) + "] (below the batch size "
                    + batchSize + "), got " + g);
        }
        return new Experiment.Config(act, total, batchSize, lr, seed, every, initStd, k, g, Experiment.renormSchedule(total));
    }

    private ParameterException bad(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /** Creates {@code dir} if needed and checks that a file can be written there. */
    static Path prepareOutput(Path dir) {
        try {
            if (Files.exists(dir) && !Files.isDirectory(dir)) {
                throw new DemoException("output directory " + dir + ": exists and is not a directory");
            }
            Files.createDirectories(dir);
            Files.delete(Files.createTempFile(dir, ".bnorm-demo-", ".tmp"));
            return dir;
        } catch (IOException e) {
            throw new DemoException("output directory " + dir + ": cannot write: " + DataFiles.describe(e), e);
        }
    }

    static final class DataSpecConverter implements CommandLine.ITypeConverter<DataSpec> {
        @Override
        public DataSpec convert(String value) {
            try {
                return DataSpec.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"bnorm-demo " + (v == null ? "(development build)" : v)};
        }
    }
}
