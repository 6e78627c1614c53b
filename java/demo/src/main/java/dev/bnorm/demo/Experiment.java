package dev.bnorm.demo;

import dev.bnorm.Tensor;
import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.nn.AdaptiveAvgPool2d;
import dev.bnorm.nn.BasicBlock;
import dev.bnorm.nn.BatchNorm1d;
import dev.bnorm.nn.BatchNorm2d;
import dev.bnorm.nn.BatchRenorm;
import dev.bnorm.nn.BatchRenorm1d;
import dev.bnorm.nn.Conv2d;
import dev.bnorm.nn.Flatten;
import dev.bnorm.nn.Linear;
import dev.bnorm.nn.Module;
import dev.bnorm.nn.ReLU;
import dev.bnorm.nn.SGD;
import dev.bnorm.nn.Sequential;
import dev.bnorm.nn.Sigmoid;
import dev.bnorm.nn.SoftmaxCrossEntropy;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Ioffe and Szegedy (2015), Figure 1a, on small real data: the same MLP of three hidden layers of
 * 100 units trained with and without Batch Normalization, from the same initial weights, on the
 * same mini-batches, with the same learning rate.
 * <ul>
 *   <li>without BN, each hidden layer is {@code Linear(in, 100) -> activation};</li>
 *   <li>with BN, {@code Linear(in, 100, bias=false) -> BatchNorm1d(100) -> activation} (BN's beta
 *       replaces the bias);</li>
 *   <li>the output layer is {@code Linear(100, classes)} in both, trained with softmax
 *       cross-entropy and plain SGD (no momentum, no weight decay).</li>
 * </ul>
 * The same comparison for a small CNN ({@link #cnn}) on the images, with its own learning rate.
 * The held-out accuracy is measured in eval mode (BN uses its running statistics).
 */
final class Experiment {

    static final int HIDDEN = 100;
    static final int LAYERS = 3;

    enum Activation { SIGMOID, RELU }

    /**
     * @param initStd          std of the Gaussian initial weights in the badly initialized runs
     * @param kernels          the BN kernels
     * @param virtualBatchSize the virtual batch size of Ghost BN
     * @param renorm           the rmax and dmax schedule of Batch Renorm
     */
    record Config(Activation activation, int steps, int batchSize, double lr, long seed, int evalEvery,
                  double initStd, BatchNormKernels kernels, int virtualBatchSize, BatchRenorm.Schedule renorm) {

        /** Ghost BN with half the batch, Batch Renorm with {@link #renormSchedule(int)}. */
        Config(Activation activation, int steps, int batchSize, double lr, long seed, int evalEvery,
               double initStd, BatchNormKernels kernels) {
            this(activation, steps, batchSize, lr, seed, evalEvery, initStd, kernels, Math.max(2, batchSize / 2),
                    renormSchedule(steps));
        }

        /** This configuration with learning rate {@code lr} (the CNN's; the MLP's is too large for it). */
        Config withLr(double lr) {
            return new Config(activation, steps, batchSize, lr, seed, evalEvery, initStd, kernels, virtualBatchSize, renorm);
        }
    }

    /**
     * The paper's schedule scaled to a run of {@code steps}: rmax = 1 and dmax = 0 for the first
     * 5%, then relaxed linearly to rmax = 3 over the next 25% and to dmax = 5 over the next 15%
     * (the paper: 5k, 35k and 20k steps of about 130k).
     */
    static BatchRenorm.Schedule renormSchedule(int steps) {
        return new BatchRenorm.Schedule(3, 5, steps / 20, steps / 4, (long) (steps * 0.15));
    }

    private Experiment() {}

    /** The model of {@code spec}; the weights depend only on the seed and the layer, not on BN. */
    static Sequential mlp(Run.Spec spec, Config cfg, int features, int classes) {
        List<Module> layers = new ArrayList<>();
        int in = features;
        for (int l = 0; l < LAYERS; l++) {
            layers.add(linear(in, HIDDEN, !spec.batchNorm(), cfg.seed() + l, spec.badInit() ? cfg.initStd() : 0));
            if (spec.batchNorm()) layers.add(normalization(spec.norm(), cfg));
            layers.add(cfg.activation() == Activation.SIGMOID ? new Sigmoid() : new ReLU());
            in = HIDDEN;
        }
        layers.add(linear(in, classes, true, cfg.seed() + LAYERS, spec.badInit() ? cfg.initStd() : 0));
        return new Sequential(layers.toArray(Module[]::new));
    }

    /**
     * The CNN of {@code spec} on {@code side x side} images of one channel, NCHW: two conv3x3-BN-ReLU
     * blocks (16 channels, then 32 with stride 2), a residual {@link BasicBlock} (32 channels), a
     * global average pool and {@code Linear(32, classes)}. Without BN the convolutions have a bias
     * and the BN layers are left out; the initial weights are the same (they depend on the seed only).
     */
    static Sequential cnn(Run.Spec spec, Config cfg, int classes) {
        boolean bn = spec.batchNorm();
        long seed = cfg.seed() * 16;
        List<Module> layers = new ArrayList<>();
        layers.add(Conv2d.builder(1, 16, 3).padding(1).bias(!bn).seed(seed).build());
        if (bn) layers.add(BatchNorm2d.builder(16).kernels(cfg.kernels()).build());
        layers.add(new ReLU());
        layers.add(Conv2d.builder(16, 32, 3).stride(2).padding(1).bias(!bn).seed(seed + 1).build());
        if (bn) layers.add(BatchNorm2d.builder(32).kernels(cfg.kernels()).build());
        layers.add(new ReLU());
        layers.add(BasicBlock.builder(32, 32).batchNorm(bn).batchNormKernels(cfg.kernels()).seed(seed + 2).build());
        layers.add(new AdaptiveAvgPool2d(1));
        layers.add(new Flatten());
        layers.add(Linear.builder(32, classes).seed(seed + 5).build());
        return new Sequential(layers.toArray(Module[]::new));
    }

    /** The side of the square images of {@code features} pixels (8 for the digits, 28 for MNIST). */
    static int side(int features) {
        int side = (int) Math.round(Math.sqrt(features));
        if (side * side != features) {
            throw new DemoException("the CNN needs square images: " + features + " features per sample is not a square");
        }
        return side;
    }

    /** The normalization layer of a hidden layer. */
    private static Module normalization(Run.Norm norm, Config cfg) {
        return switch (norm) {
            case BN -> BatchNorm1d.builder(HIDDEN).kernels(cfg.kernels()).build();
            case GHOST -> BatchNorm1d.builder(HIDDEN).virtualBatchSize(cfg.virtualBatchSize()).kernels(cfg.kernels()).build();
            case RENORM -> BatchRenorm1d.builder(HIDDEN).schedule(cfg.renorm()).kernels(cfg.kernels()).build();
            case NONE -> throw new IllegalArgumentException("norm: expected a normalization, got NONE");
        };
    }

    /** PyTorch's default initialization when {@code std == 0}, else weights N(0, std²) (the bias stays PyTorch's). */
    private static Linear linear(int in, int out, boolean bias, long seed, double std) {
        Linear.Builder b = Linear.builder(in, out).bias(bias).seed(seed);
        return (std == 0 ? b : b.initStd(std)).build();
    }

    /** Trains one model for {@code cfg.steps()} steps and measures it. */
    static Run.Result run(Run.Spec spec, Config cfg, Dataset.Split data, Progress progress) {
        Dataset train = data.train();
        Dataset test = data.test();
        int b = cfg.batchSize();
        int f = train.features();
        List<Run.Point> curve = new ArrayList<>();
        int side = spec.cnn() ? side(f) : 0;
        try (Sequential model = spec.cnn() ? cnn(spec, cfg, train.classes()) : mlp(spec, cfg, f, train.classes());
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             Tensor batch = spec.cnn() ? Tensor.zeros(Tensor.Format.NCHW, b, 1, side, side)
                                       : Tensor.zeros(Tensor.Format.NC, b, f);
             Tensor testX = spec.cnn() ? Tensor.of(Tensor.Format.NCHW, test.x(), test.n(), 1, side, side)
                                       : Tensor.of(Tensor.Format.NC, test.x(), test.n(), f);
             SGD sgd = SGD.builder(model.parameters(), cfg.lr()).build()) {
            Batches batches = new Batches(train, b, cfg.seed());
            float[] bx = new float[b * f];
            int[] by = new int[b];
            curve.add(new Run.Point(0, accuracy(model, testX, test), Double.NaN));
            progress.evaluated(curve.getFirst().testAccuracy());
            long trainNanos = 0;
            double lossSum = 0;
            int lossCount = 0;
            for (int step = 1; step <= cfg.steps(); step++) {
                batches.next(bx, by);
                long t0 = System.nanoTime();
                batch.copyFrom(bx);
                sgd.zeroGrad();
                float l = loss.forward(model.forward(batch), by);
                model.backward(loss.backward());
                sgd.step();
                trainNanos += System.nanoTime() - t0;
                lossSum += l;
                lossCount++;
                progress.step(l);
                if (step % cfg.evalEvery() == 0 || step == cfg.steps()) {
                    double acc = accuracy(model, testX, test);
                    curve.add(new Run.Point(step, acc, lossSum / lossCount));
                    progress.evaluated(acc);
                    lossSum = 0;
                    lossCount = 0;
                }
            }
            double finalAccuracy = curve.getLast().testAccuracy();
            String kernels = spec.batchNorm() ? cfg.kernels().name() : "-";
            return new Run.Result(spec, List.copyOf(curve), finalAccuracy, trainNanos / 1e6 / cfg.steps(), kernels);
        }
    }

    /** Held-out accuracy in eval mode; the model is back in training mode afterwards. */
    static double accuracy(Module model, Tensor x, Dataset d) {
        model.eval();
        try {
            int[] predicted = SoftmaxCrossEntropy.argmax(model.forward(x));
            int correct = 0;
            for (int i = 0; i < d.n(); i++) if (predicted[i] == d.y()[i]) correct++;
            return (double) correct / d.n();
        } finally {
            model.train();
        }
    }

    /** Mini-batches in a seeded random order, a new permutation each epoch, the last partial batch dropped. */
    static final class Batches {
        private final Dataset data;
        private final int size;
        private final SplittableRandom rnd;
        private int[] order;
        private int pos;

        Batches(Dataset data, int size, long seed) {
            if (size < 2 || size > data.n()) {
                throw new IllegalArgumentException("batch size: expected in [2, " + data.n() + "], got " + size);
            }
            this.data = data;
            this.size = size;
            this.rnd = new SplittableRandom(seed);
            this.order = Dataset.permutation(data.n(), rnd);
        }

        /** Batches per epoch. */
        int perEpoch() {
            return data.n() / size;
        }

        void next(float[] x, int[] y) {
            if (pos + size > order.length) {
                order = Dataset.permutation(data.n(), rnd);
                pos = 0;
            }
            int f = data.features();
            for (int i = 0; i < size; i++) {
                int s = order[pos++];
                System.arraycopy(data.x(), s * f, x, i * f, f);
                y[i] = data.y()[s];
            }
        }
    }
}
