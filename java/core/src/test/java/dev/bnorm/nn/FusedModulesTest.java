package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Kernels;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The fused forms in the Module API: a BatchNorm with {@code relu(true)} and a residual, and a
 * Sequential that fuses BatchNorm + ReLU, against the same modules unfused with the add and the
 * ReLU written out here (or run as separate modules). The fused and unfused paths round the same
 * values the same way, so outputs and gradients must be equal as numbers (a zero's sign may
 * differ: the unfused ReLU backward multiplies dout by 0).
 */
class FusedModulesTest {

    private static float[] random(Random r, int n, double mean) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (mean + r.nextGaussian());
        return a;
    }

    private static void assertValues(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (!(expected[i] == actual[i] || (expected[i] != expected[i] && actual[i] != actual[i]))) {
                throw new AssertionError(what + " at " + i + ": expected " + expected[i] + ", got " + actual[i]);
            }
        }
    }

    /** Module, mode (train, eval, ghost) and layout. */
    @ParameterizedTest(name = "{0} {1} {2}")
    @CsvSource({"java,train,NCHW", "java,eval,NHWC", "java,ghost,NCHW", "java,train,NHWC",
                "native,train,NCHW", "native,eval,NHWC", "native,ghost,NHWC", "native,train,NHWC"})
    void batchNormWithResidualAndReluEqualsTheSeparateSteps(String kernels, String mode, Format format) {
        Random r = new Random(5);
        int n = 6, c = 5, h = 3, w = 4, count = n * c * h * w;
        long[] shape = format == Format.NCHW ? new long[] {n, c, h, w} : new long[] {n, h, w, c};
        try (BatchNorm2d fused = BatchNorm2d.builder(c).relu(true).virtualBatchSize(mode.equals("ghost") ? 2 : 0)
                     .kernels(Kernels.named(kernels)).build();
             BatchNorm2d plain = BatchNorm2d.builder(c).virtualBatchSize(mode.equals("ghost") ? 2 : 0)
                     .kernels(Kernels.named(kernels)).build();
             Tensor x = Tensor.of(format, random(r, count, 2), shape);
             Tensor res = Tensor.of(format, random(r, count, 0), shape);
             Tensor dout = Tensor.of(format, random(r, count, 0), shape)) {
            float[] gamma = random(r, c, 1);
            fused.weight().value().segment().copyFrom(Tensor.of(Format.C, gamma, c).segment());
            plain.weight().value().segment().copyFrom(Tensor.of(Format.C, gamma, c).segment());
            if (mode.equals("eval")) { // running statistics of one training step, then evaluation
                fused.forward(x);
                plain.forward(x);
                fused.eval();
                plain.eval();
            }
            float[] out = fused.forward(x, res).toArray();
            float[] y = plain.forward(x).toArray();
            float[] rs = res.toArray();
            float[] expected = new float[count];
            int cut = 0;
            for (int i = 0; i < count; i++) {
                float z = y[i] + rs[i];
                expected[i] = z > 0 ? z : 0f;
                cut += z > 0 ? 0 : 1;
            }
            assertValues(expected, out, "out");
            assertTrue(cut > count / 10 && cut < count * 9 / 10, "the ReLU cuts " + cut + " of " + count);

            float[] dy = dout.toArray();
            float[] g = new float[count];
            for (int i = 0; i < count; i++) g[i] = out[i] <= 0 ? 0f : dy[i];
            float[] dinp = fused.backward(dout).toArray();
            try (Tensor gated = Tensor.of(format, g, shape)) {
                assertValues(plain.backward(gated).toArray(), dinp, "dinp");
            }
            assertValues(g, fused.residualGrad().toArray(), "residualGrad");
            assertValues(plain.weight().grad().toArray(), fused.weight().grad().toArray(), "dgamma");
            assertValues(plain.bias().grad().toArray(), fused.bias().grad().toArray(), "dbeta");
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"java", "native"})
    void sequentialFusesBatchNormAndReluWithTheSameResults(String kernels) {
        Random r = new Random(9);
        int n = 16, in = 7, hidden = 12, k = 3;
        try (Linear l1 = new Linear(in, hidden, false, 1);
             BatchNorm1d bn = BatchNorm1d.builder(hidden).kernels(Kernels.named(kernels)).build();
             ReLU relu = new ReLU();
             Linear l2 = new Linear(hidden, k, true, 2);
             Linear m1 = new Linear(in, hidden, false, 1);
             BatchNorm1d mbn = BatchNorm1d.builder(hidden).kernels(Kernels.named(kernels)).build();
             ReLU mrelu = new ReLU();
             Linear m2 = new Linear(hidden, k, true, 2);
             Tensor x = Tensor.of(Format.NC, random(r, n * in, 0.5), n, in);
             Tensor dout = Tensor.of(Format.NC, random(r, n * k, 0), n, k)) {
            Sequential seq = new Sequential(l1, bn, relu, l2);
            for (int step = 0; step < 2; step++) { // train, then eval
                float[] fusedOut = seq.forward(x).toArray();
                float[] unfusedOut = m2.forward(mrelu.forward(mbn.forward(m1.forward(x)))).toArray();
                assertValues(unfusedOut, fusedOut, "out, step " + step);
                float[] fusedDx = seq.backward(dout).toArray();
                float[] unfusedDx = m1.backward(mbn.backward(mrelu.backward(m2.backward(dout)))).toArray();
                assertValues(unfusedDx, fusedDx, "dinp, step " + step);
                assertValues(m1.weight().grad().toArray(), l1.weight().grad().toArray(), "l1 weight grad");
                assertValues(mbn.weight().grad().toArray(), bn.weight().grad().toArray(), "bn weight grad");
                assertValues(mbn.runningVar().toArray(), bn.runningVar().toArray(), "running_var");
                seq.eval();
                mbn.eval();
            }
            assertThrows(IllegalStateException.class, () -> relu.backward(dout),
                    "the fused ReLU module itself never ran");
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"java"})
    void residualErrors(String kernels) {
        try (BatchNorm2d bn = BatchNorm2d.builder(3).kernels(Kernels.named(kernels)).build();
             Tensor x = Tensor.zeros(Format.NCHW, 2, 3, 2, 2);
             Tensor wrongShape = Tensor.zeros(Format.NCHW, 2, 3, 2, 1);
             Tensor wrongFormat = Tensor.zeros(Format.NHWC, 2, 2, 2, 3)) {
            x.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 1, 1f);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bn.forward(x, wrongShape));
            assertTrue(e.getMessage().startsWith("residual: expected the format and shape of inp [2, 3, 2, 2] NCHW"),
                    e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> bn.forward(x, wrongFormat));
            assertThrows(IllegalArgumentException.class, () -> bn.forward(x, null));
            assertEquals(0, bn.numBatchesTracked(), "a refused forward changes nothing");
            Tensor out = bn.forward(x);
            IllegalArgumentException own = assertThrows(IllegalArgumentException.class, () -> bn.forward(x, out));
            assertTrue(own.getMessage().startsWith("residual: expected memory apart from this module's output"),
                    own.getMessage());
            bn.backward(out);
            IllegalStateException none = assertThrows(IllegalStateException.class, bn::residualGrad);
            assertTrue(none.getMessage().contains("without a residual"), none.getMessage());
            try (Tensor res = Tensor.zeros(Format.NCHW, 2, 3, 2, 2)) {
                bn.forward(x, res);
                assertThrows(IllegalStateException.class, bn::residualGrad, "no backward yet");
                bn.backward(out);
                assertEquals(24, bn.residualGrad().size());
            }
        }
    }
}
