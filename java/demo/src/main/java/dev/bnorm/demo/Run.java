package dev.bnorm.demo;

import java.util.List;

/** One training run of the experiment: what was trained and what it measured. */
final class Run {

    private Run() {}

    /** The normalization after each hidden Linear: none, BatchNorm1d, BatchRenorm1d, or Ghost BN (virtual batches). */
    enum Norm {
        NONE("no BN"), BN("BN"), RENORM("Batch Renorm"), GHOST("Ghost BN");

        final String label;

        Norm(String label) {
            this.label = label;
        }
    }

    /** The six runs of {@link #specs(double, Norm)} with BN. */
    static List<Spec> specs(double initStd) {
        return specs(initStd, Norm.BN);
    }

    /**
     * The default experiment's six runs: the MLP with {@code norm} or none, from the default and a
     * badly scaled initialization (weights N(0, initStd²)), then the CNN with BN or none, from the
     * default initialization.
     */
    static List<Spec> specs(double initStd, Norm norm) {
        String bad = "init N(0, " + initStd + "²)";
        return List.of(
                new Spec(norm, false, norm.label + ", default init"),
                new Spec(Norm.NONE, false, "no BN, default init"),
                new Spec(norm, true, norm.label + ", " + bad),
                new Spec(Norm.NONE, true, "no BN, " + bad),
                new Spec(Norm.BN, false, "CNN, BN", true),
                new Spec(Norm.NONE, false, "CNN, no BN", true));
    }

    /** The small-batch experiment: BN, Batch Renorm, Ghost BN and none, from the default initialization. */
    static List<Spec> smallBatchSpecs(int virtualBatchSize) {
        return List.of(
                new Spec(Norm.BN, false, "BN"),
                new Spec(Norm.RENORM, false, "Batch Renorm"),
                new Spec(Norm.GHOST, false, "Ghost BN, virtual batch " + virtualBatchSize),
                new Spec(Norm.NONE, false, "no BN"));
    }

    /**
     * Which model: its normalization, default or badly scaled initialization, and whether it is the
     * MLP or the CNN of {@link Experiment#cnn}.
     */
    record Spec(Norm norm, boolean badInit, String name, boolean cnn) {

        /** An MLP. */
        Spec(Norm norm, boolean badInit, String name) {
            this(norm, badInit, name, false);
        }

        /** With BN ({@link Norm#BN}) or without. */
        Spec(boolean batchNorm, boolean badInit, String name) {
            this(batchNorm ? Norm.BN : Norm.NONE, badInit, name);
        }

        /** Whether the hidden layers are normalized (any of BN, Batch Renorm, Ghost BN). */
        boolean batchNorm() {
            return norm != Norm.NONE;
        }
    }

    /**
     * A measurement after {@code step} training steps: accuracy on the held-out set (eval mode)
     * and the mean training loss over the steps since the previous point (NaN at step 0).
     */
    record Point(int step, double testAccuracy, double trainLoss) {}

    /**
     * @param curve         points at step 0, every evalEvery steps, and at the last step
     * @param finalAccuracy held-out accuracy after the last step, in eval mode (running statistics)
     * @param msPerStep     mean wall time of one training step (forward, backward, SGD update)
     * @param kernels       the BN kernels that ran ("native", "java"), or "-" without BN
     */
    record Result(Spec spec, List<Point> curve, double finalAccuracy, double msPerStep, String kernels) {

        /** The held-out accuracy at {@code step} (a step of the curve). */
        double accuracyAt(int step) {
            for (Point p : curve) if (p.step() == step) return p.testAccuracy();
            throw new IllegalArgumentException("step: expected one of the measured steps, got " + step);
        }
    }
}
