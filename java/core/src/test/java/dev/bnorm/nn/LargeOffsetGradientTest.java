package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.dist.InProcessCollective;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.kernel.SplitKernelsTest;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The batch mean reaches backward in double: on x = 1000 + 0.01*N(0,1), 32 x 20 (|mean|/std =
 * 1e5), the input gradient of BatchNorm1d and of SyncBatchNorm (2 ranks of 16) is within 0.01
 * of the float64 truth (with the mean rounded to float it was off by ~0.5; PyTorch's by ~0.8).
 */
class LargeOffsetGradientTest {

    static final int N = 32, C = 20;

    static float[][] data() {
        Random r = new Random(1);
        float[] x = new float[N * C];
        float[] dy = new float[N * C];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (1000 + 0.01 * r.nextGaussian());
            dy[i] = (float) r.nextGaussian();
        }
        return new float[][] {x, dy};
    }

    static double worst(float[] dinp, double[] truth) {
        double w = 0;
        for (int i = 0; i < truth.length; i++) w = Math.max(w, Math.abs(dinp[i] - truth[i]));
        return w;
    }

    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void batchNorm1dInputGradientWithinOneHundredth(String kernels) {
        float[][] d = data();
        double[] truth = SplitKernelsTest.truthDinp(d[0], d[1], N, C, 1e-5);
        try (BatchNorm1d bn = BatchNorm1d.builder(C).affine(false).kernels(Kernels.named(kernels)).build();
             Tensor x = Tensor.of(Format.NC, d[0], N, C);
             Tensor dy = Tensor.of(Format.NC, d[1], N, C)) {
            bn.forward(x);
            double w = worst(bn.backward(dy).toArray(), truth);
            assertTrue(w <= 0.01, kernels + ": dinp worst error " + w);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void syncBatchNormInputGradientWithinOneHundredth(String kernels) {
        float[][] d = data();
        double[] truth = SplitKernelsTest.truthDinp(d[0], d[1], N, C, 1e-5);
        int half = N / 2 * C;
        List<float[]> parts = InProcessCollective.run(2, Duration.ofSeconds(30), col -> {
            int from = col.rank() * half;
            try (SyncBatchNorm bn = SyncBatchNorm.builder(C, col).affine(false).kernels(Kernels.named(kernels)).build();
                 Tensor x = Tensor.of(Format.NC, Arrays.copyOfRange(d[0], from, from + half), N / 2, C);
                 Tensor dy = Tensor.of(Format.NC, Arrays.copyOfRange(d[1], from, from + half), N / 2, C)) {
                bn.forward(x);
                return bn.backward(dy).toArray();
            }
        });
        float[] dinp = new float[N * C];
        System.arraycopy(parts.get(0), 0, dinp, 0, half);
        System.arraycopy(parts.get(1), 0, dinp, half, half);
        double w = worst(dinp, truth);
        assertTrue(w <= 0.01, kernels + ": dinp worst error " + w);
    }
}
