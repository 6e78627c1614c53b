package dev.bnorm.nn;

import static dev.bnorm.nn.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Compare;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** Folding an eval-mode BatchNorm1d into the preceding Linear gives the same outputs. */
class FoldingTest {

    @ParameterizedTest(name = "linear bias={0}, bn affine={1}")
    @CsvSource({"false, true", "true, true", "false, false", "true, false"})
    void foldedLinearEqualsLinearThenBatchNorm(boolean bias, boolean affine) {
        int in = 7;
        int out = 5;
        Random random = new Random(bias ? 31 : 32);
        try (Linear linear = new Linear(in, out, bias, 4);
             BatchNorm1d bn = BatchNorm1d.builder(out).affine(affine).eps(1e-3).build();
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 9 * in, 0, 1), 9, in)) {
            if (affine) { // non-trivial gamma and beta
                bn.weight().value().copyFrom(Buffers.gaussian(random, out, 1, 0.5));
                bn.bias().value().copyFrom(Buffers.gaussian(random, out, 0, 0.5));
            }
            for (int k = 0; k < 5; k++) { // non-trivial running statistics
                try (Tensor batch = Tensor.of(Format.NC, Buffers.gaussian(random, 6 * in, k * 0.3, 1 + k), 6, in)) {
                    bn.forward(linear.forward(batch));
                }
            }
            float[] linearBefore = linear.weight().value().toArray();
            bn.eval();
            float[] expected = bn.forward(linear.forward(x)).toArray();
            try (Linear folded = Folding.fold(linear, bn)) {
                assertNotNull(folded.bias());
                Compare.assertCloseToScale(Buffers.toDouble(expected), folded.forward(x).toArray(), 1e-5,
                        "folded output, bias=" + bias + " affine=" + affine);
            }
            assertArrayEquals(linearBefore, linear.weight().value().toArray(), "the original Linear is unchanged");
        }
    }

    @Test
    void foldingNeedsRunningStatisticsAndMatchingSizes() {
        try (Linear linear = new Linear(3, 4, false, 1);
             BatchNorm1d untracked = BatchNorm1d.builder(4).trackRunningStats(false).build();
             BatchNorm1d wrongSize = BatchNorm1d.builder(5).build()) {
            assertMessage(IllegalArgumentException.class, "bn: expected trackRunningStats", () -> Folding.fold(linear, untracked));
            assertMessage(IllegalArgumentException.class, "bn: expected 4 features (linear.out()), got 5",
                    () -> Folding.fold(linear, wrongSize));
        }
    }
}
