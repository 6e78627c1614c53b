package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.DType;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Linear with a bf16 or f16 input computes in float32: its output and input gradient are, bit for
 * bit, the float32 layer's on the widened values rounded once to the dtype (compared here with
 * the float32 results narrowed by {@link Tensor#copyFrom}), and its parameter gradients are the
 * float32 layer's bit for bit. Over two steps, so the staging memory is reused.
 */
class HalfLinearTest {

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"BF16", "F16"})
    void halfLinearIsTheFloat32LayerOnTheWidenedInputRoundedOnce(DType d) {
        Random r = new Random(3);
        int n = 7, in = 13, out = 5;
        try (Linear half = Linear.builder(in, out).seed(9).build();
             Linear single = Linear.builder(in, out).seed(9).build()) {
            for (int step = 0; step < 2; step++) {
                float[] xs = new float[n * in], dys = new float[n * out];
                for (int i = 0; i < xs.length; i++) xs[i] = (float) (r.nextGaussian() * 3);
                for (int i = 0; i < dys.length; i++) dys[i] = (float) r.nextGaussian();
                try (Tensor x = Tensor.of(d, Format.NC, xs, n, in);
                     Tensor dout = Tensor.of(d, Format.NC, dys, n, out);
                     Tensor xf = Tensor.of(Format.NC, x.toArray(), n, in);
                     Tensor doutf = Tensor.of(Format.NC, dout.toArray(), n, out)) {
                    Tensor y = half.forward(x);
                    Tensor yf = single.forward(xf);
                    assertEquals(d, y.dtype());
                    assertNarrowed(y, yf, "step " + step + " out");
                    Tensor dx = half.backward(dout);
                    Tensor dxf = single.backward(doutf);
                    assertEquals(d, dx.dtype());
                    assertNarrowed(dx, dxf, "step " + step + " dinp");
                    assertArrayEquals(single.weight().grad().toArray(), half.weight().grad().toArray(), "weight grad");
                    assertArrayEquals(single.bias().grad().toArray(), half.bias().grad().toArray(), "bias grad");
                }
            }
        }
    }

    private static void assertNarrowed(Tensor half, Tensor f32, String what) {
        try (Tensor expected = Tensor.zeros(half.dtype(), half.format(), half.shape())) {
            expected.copyFrom(f32);
            assertEquals(-1, expected.segment().mismatch(half.segment()), what + ": the float32 result rounded once");
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"BF16", "F16"})
    void doutOfAnotherDTypeIsRefusedByName(DType d) {
        try (Linear linear = Linear.builder(3, 2).seed(1).build();
             Tensor x = Tensor.zeros(d, Format.NC, 4, 3);
             Tensor dout = Tensor.zeros(Format.NC, 4, 2)) {
            linear.forward(x);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> linear.backward(dout));
            assertTrue(e.getMessage().startsWith("dout: expected dtype " + d + " (that of the last output), got F32"),
                    e.getMessage());
            assertArrayEquals(new float[6], linear.weight().grad().toArray(), "no gradient from the refused backward");
        }
    }
}
