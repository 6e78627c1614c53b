package dev.bnorm.demo;

import java.util.List;

/** One training run of the experiment: what was trained and what it measured. */
final class Run {

    private Run() {}

    /** The four runs: BN or not, default or badly scaled initialization (weights N(0, initStd²)). */
    static List<Spec> specs(double initStd) {
        String bad = "init N(0, " + initStd + "²)";
        return List.of(
                new Spec(true, false, "BN, default init"),
                new Spec(false, false, "no BN, default init"),
                new Spec(true, true, "BN, " + bad),
                new Spec(false, true, "no BN, " + bad));
    }

    /** Which model: with Batch Normalization or not, default or badly scaled initialization. */
    record Spec(boolean batchNorm, boolean badInit, String name) {}

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
