package dev.bnorm.nn;

import static dev.bnorm.nn.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Linear's initializations, shapes and argument checks (its arithmetic: {@link ModuleGradientTest}). */
class LinearTest {

    @Test
    void defaultInitIsPyTorchsUniformBound() {
        try (Linear a = new Linear(100, 50, true, 7); Linear b = new Linear(100, 50, true, 7);
             Linear c = new Linear(100, 50, true, 8)) {
            assertArrayEquals(new long[] {50, 100}, a.weight().value().shape(), "weight is (out, in)");
            assertArrayEquals(new long[] {50}, a.bias().value().shape());
            float[] w = a.weight().value().toArray();
            double bound = 1 / Math.sqrt(100);
            double max = 0;
            double sum = 0;
            for (float v : w) {
                max = Math.max(max, Math.abs(v));
                sum += v;
            }
            assertTrue(max <= bound && max > 0.98 * bound, "max |w| " + max + " vs bound " + bound);
            assertEquals(0, sum / w.length, 5 * bound / Math.sqrt(3 * 5000.0), "mean of U(-b, b) over 5000 draws, 5 sigma");
            for (float v : a.bias().value().toArray()) {
                assertTrue(Math.abs(v) <= bound, "bias within the bound");
            }
            assertArrayEquals(w, b.weight().value().toArray(), "same seed, same weights");
            assertFalse(Arrays.equals(w, c.weight().value().toArray()), "another seed, other weights");
        }
    }

    @Test
    void normalInitHasTheRequestedStd() {
        try (Linear a = new Linear(200, 100, false, 3, 5.0)) {
            float[] w = a.weight().value().toArray();
            double sq = 0;
            for (float v : w) {
                sq += v * (double) v;
            }
            assertEquals(5.0, Math.sqrt(sq / w.length), 0.1, "std of 20000 draws of N(0, 25)");
        }
    }

    @Test
    void checksItsArguments() {
        assertMessage(IllegalArgumentException.class, "in: expected at least 1, got 0", () -> new Linear(0, 3, true, 1));
        assertMessage(IllegalArgumentException.class, "out: expected at least 1, got -1", () -> new Linear(3, -1, true, 1));
        assertMessage(IllegalArgumentException.class, "initStd: expected a finite number >= 0, got NaN",
                () -> new Linear(3, 3, true, 1, Double.NaN));
        try (Linear lin = new Linear(3, 3, false, 1);
             Tensor wrongWidth = Tensor.zeros(Format.NC, 2, 4);
             Tensor wrongFormat = Tensor.zeros(Format.NCL, 2, 3, 1);
             Tensor ok = Tensor.zeros(Format.NC, 2, 3)) {
            assertMessage(IllegalArgumentException.class, "inp: expected 3 features", () -> lin.forward(wrongWidth));
            assertMessage(IllegalArgumentException.class, "inp: expected format NC, got", () -> lin.forward(wrongFormat));
            assertMessage(IllegalStateException.class, "backward: expected a forward first", () -> lin.backward(ok));
            Tensor out = lin.forward(ok);
            assertMessage(IllegalArgumentException.class, "inp: expected memory apart from this module's output",
                    () -> lin.forward(out));
            assertMessage(IllegalArgumentException.class, "dout: expected the format and shape of the last output [2, 3]",
                    () -> lin.backward(wrongWidth));
        }
    }
}
