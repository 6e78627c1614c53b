package dev.bnorm.consumer;

import dev.bnorm.Tensor;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.nn.BatchNorm1d;
import dev.bnorm.nn.Linear;
import dev.bnorm.nn.ReLU;
import dev.bnorm.nn.SGD;
import dev.bnorm.nn.Sequential;
import dev.bnorm.nn.SoftmaxCrossEntropy;
import java.util.Arrays;

/**
 * What a new user writes first: a small MLP with BatchNorm, two training steps, then inference.
 * Prints how it ran (class path or module path, which kernels) and fails (exit 1) unless the loss
 * and the outputs are finite, training changed the outputs and, on the module path, bnorm exports
 * its API packages and not its internal ones.
 */
public final class Main {
    public static void main(String[] args) {
        int n = 32, in = 16, classes = 4;
        float[] data = new float[n * in];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % classes;
            for (int j = 0; j < in; j++) data[i * in + j] = (float) Math.sin(0.7 * i + 1.3 * j) + labels[i] * (j % classes == labels[i] ? 1 : 0);
        }
        try (Sequential model = new Sequential(
                new Linear(in, 32, false, 1), BatchNorm1d.builder(32).build(), new ReLU(), new Linear(32, classes, true, 2));
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             Tensor x = Tensor.of(Tensor.Format.NC, data, n, in)) {
            SGD sgd = new SGD(model.parameters(), 0.1, 0.9, 0.0);
            model.eval();
            float[] before = model.forward(x).toArray();
            model.train();
            float[] losses = new float[2];
            for (int step = 0; step < 2; step++) {
                sgd.zeroGrad();
                losses[step] = loss.forward(model.forward(x), labels);
                model.backward(loss.backward());
                sgd.step();
            }
            model.eval();
            float[] after = model.forward(x).toArray();
            boolean finite = Float.isFinite(losses[0]) && Float.isFinite(losses[1]);
            for (float v : after) finite &= Float.isFinite(v);
            String path = Main.class.getModule().isNamed() ? "module path" : "class path";
            System.out.println("bnorm consumer on the " + path + ": kernels " + Kernels.best().name()
                    + ", bnorm " + (Tensor.class.getModule().isNamed() ? "module " + Tensor.class.getModule().getName() : "unnamed")
                    + ", losses " + Arrays.toString(losses) + ", inference changed by training: "
                    + !Arrays.equals(before, after));
            Module bnorm = Tensor.class.getModule();
            if (bnorm.isNamed()) { // on the module path: the API is exported, the internals are not
                for (String p : new String[] {"dev.bnorm", "dev.bnorm.nn", "dev.bnorm.kernel"}) finite &= bnorm.isExported(p);
                for (String p : new String[] {"dev.bnorm.ffi", "dev.bnorm.internal"}) finite &= !bnorm.isExported(p);
            }
            if (!finite || Arrays.equals(before, after)) {
                System.err.println("bnorm consumer: FAILED (non-finite values, training changed nothing, or wrong exports)");
                System.exit(1);
            }
        }
    }
}
