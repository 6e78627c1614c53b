package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.DType;
import dev.bnorm.kernel.Kernels;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * BatchNorm1d/2d with bf16 and f16 activations (float32 master weights) against the same module on
 * float32 tensors holding the widened values, after the same steps (training forward and
 * backward, then evaluation forward and backward):
 * <ul>
 * <li>outputs, input gradients and residual gradients are of the input's dtype and within one ulp
 *     of the dtype of the float32 module's (the half kernels are the float32 computation rounded
 *     once to the dtype: the native ones narrow the float32 result, exactly the float32 module's
 *     value rounded; the Java oracle rounds straight from double, which can land one ulp away when
 *     the float32 value sits on a tie of the 16-bit format);
 * <li>the running statistics and the parameter gradients are the float32 module's bit for bit
 *     (every statistic and sum is computed from the same widened values in double).
 * </ul>
 * "native" cases need the library's half kernels (DATA_BF16, DATA_F16).
 */
class HalfBatchNormTest {

    static float[] random(Random r, int n, double mean, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (mean + std * r.nextGaussian());
        return a;
    }

    /** Half an ulp of the dtype at |v| (the normal or subnormal spacing), computed from the format's precision. */
    static double ulp(DType d, double v) {
        int e = Math.getExponent(v);
        return d == DType.BF16 ? Math.scalb(1.0, Math.max(e, -126) - 7) : Math.scalb(1.0, Math.max(e, -14) - 10);
    }

    static void assertWithinOneUlp(DType d, Tensor half, Tensor f32, String what) {
        assertEquals(d, half.dtype(), what + " dtype");
        float[] h = half.toArray(), f = f32.toArray();
        assertEquals(f.length, h.length, what);
        for (int i = 0; i < f.length; i++) {
            if (!(Math.abs(h[i] - f[i]) <= ulp(d, Math.max(Math.abs(h[i]), Math.abs(f[i]))))) {
                throw new AssertionError(what + "[" + i + "]: " + h[i] + ", the float32 module's " + f[i]
                        + ": more than one " + d + " ulp apart");
            }
        }
    }

    static void assertSame(Tensor a, Tensor b, String what) {
        assertArrayEquals(b.toArray(), a.toArray(), what);
    }

    /** Kernels, dtype, format, mode (train, ghost), fusion (none, relu, residual+relu). */
    @ParameterizedTest(name = "{0} {1} {2} {3} {4}")
    @CsvSource({
        "java,BF16,NCHW,train,none", "java,F16,NHWC,train,none", "java,BF16,NHWC,train,residual",
        "java,F16,NCHW,ghost,relu", "java,BF16,NC,train,relu", "java,F16,NC,ghost,residual",
        "native,BF16,NCHW,train,none", "native,F16,NHWC,train,none", "native,BF16,NHWC,train,residual",
        "native,F16,NCHW,ghost,relu", "native,BF16,NC,train,relu", "native,F16,NC,ghost,residual"})
    void halfModuleIsTheFloat32ModuleOnTheWidenedValuesRoundedOnce(String kernels, DType d, Format format, String mode,
                                                                   String fusion) {
        Random r = new Random(20);
        int n = 6, c = 5, h = 3, w = 4;
        long[] shape = switch (format) {
            case NCHW -> new long[] {n, c, h, w};
            case NHWC -> new long[] {n, h, w, c};
            default -> new long[] {n, c};
        };
        int count = format == Format.NC ? n * c : n * c * h * w;
        boolean residual = fusion.equals("residual");
        var builder = format == Format.NC ? BatchNorm1d.builder(c) : BatchNorm2d.builder(c);
        try (BatchNorm half = builder.relu(!fusion.equals("none")).virtualBatchSize(mode.equals("ghost") ? 2 : 0)
                     .kernels(Kernels.named(kernels)).build();
             BatchNorm single = (format == Format.NC ? BatchNorm1d.builder(c) : BatchNorm2d.builder(c))
                     .relu(!fusion.equals("none")).virtualBatchSize(mode.equals("ghost") ? 2 : 0)
                     .kernels(Kernels.named(kernels)).build();
             Tensor x = Tensor.of(d, format, random(r, count, 2, 3), shape);
             Tensor res = Tensor.of(d, format, random(r, count, 0, 1), shape);
             Tensor dout = Tensor.of(d, format, random(r, count, 0, 1), shape);
             Tensor xf = Tensor.of(format, x.toArray(), shape);
             Tensor resf = Tensor.of(format, res.toArray(), shape);
             Tensor doutf = Tensor.of(format, dout.toArray(), shape)) {
            float[] gamma = random(r, c, 1, 0.5), beta = random(r, c, 0, 0.5);
            for (BatchNorm m : new BatchNorm[] {half, single}) {
                m.weight().value().copyFrom(gamma);
                m.bias().value().copyFrom(beta);
            }
            for (String step : new String[] {"train", "eval"}) {
                if (step.equals("eval")) {
                    half.eval();
                    single.eval();
                }
                Tensor out = residual ? half.forward(x, res) : half.forward(x);
                Tensor outf = residual ? single.forward(xf, resf) : single.forward(xf);
                assertWithinOneUlp(d, out, outf, step + " out");
                assertSame(half.runningMean(), single.runningMean(), step + " running_mean");
                assertSame(half.runningVar(), single.runningVar(), step + " running_var");
                Tensor dinp = half.backward(dout);
                Tensor dinpf = single.backward(doutf);
                assertWithinOneUlp(d, dinp, dinpf, step + " dinp");
                if (residual) {
                    assertEquals(d, half.residualGrad().dtype(), step + " residual grad dtype");
                    assertSame(half.residualGrad(), single.residualGrad(), step + " residual grad (the gated dout)");
                }
                assertSame(half.weight().grad(), single.weight().grad(), step + " weight grad");
                assertSame(half.bias().grad(), single.bias().grad(), step + " bias grad");
                assertEquals(DType.F32, half.weight().grad().dtype());
            }
        }
    }

    /** Two ranks of a SyncBatchNorm with bf16 activations against the same ranks on float32 widened values. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"java", "native"})
    void syncBatchNormRanksWithHalfActivations(String kernels) {
        int c = 3, h = 2, w = 5;
        long[] np = {3, 4};
        Random r = new Random(8);
        float[][] xs = {random(r, 3 * c * h * w, 1, 2), random(r, 4 * c * h * w, 1, 2)};
        float[][] dys = {random(r, 3 * c * h * w, 0, 1), random(r, 4 * c * h * w, 0, 1)};
        for (int i = 0; i < 2; i++) { // the values of the bf16 tensors, for both runs
            try (Tensor t = Tensor.of(DType.BF16, Format.NCHW, xs[i], np[i], c, h, w);
                 Tensor u = Tensor.of(DType.BF16, Format.NCHW, dys[i], np[i], c, h, w)) {
                xs[i] = t.toArray();
                dys[i] = u.toArray();
            }
        }
        var half = ranks(kernels, DType.BF16, c, np, xs, dys);
        var single = ranks(kernels, DType.F32, c, np, xs, dys);
        for (int rank = 0; rank < 2; rank++) {
            for (int k = 0; k < 2; k++) { // out, dinp: within one bf16 ulp of the float32 run's
                float[] a = half.get(rank)[k], b = single.get(rank)[k];
                for (int i = 0; i < a.length; i++) {
                    assertTrue(Math.abs(a[i] - b[i]) <= ulp(DType.BF16, Math.max(Math.abs(a[i]), Math.abs(b[i]))),
                            "rank " + rank + " output " + k + "[" + i + "]: " + a[i] + " vs " + b[i]);
                }
            }
            for (int k = 2; k < 6; k++) { // dgamma, dbeta, running statistics: bit for bit
                assertArrayEquals(single.get(rank)[k], half.get(rank)[k], "rank " + rank + " per-channel output " + k);
            }
        }
    }

    /** Per rank: out, dinp, weight grad, bias grad, running mean, running var (as floats) of one training step. */
    private static java.util.List<float[][]> ranks(String kernels, DType d, int c, long[] np, float[][] xs, float[][] dys) {
        return dev.bnorm.dist.InProcessCollective.run(np.length, java.time.Duration.ofSeconds(30), col -> {
            int q = col.rank();
            try (SyncBatchNorm bn = SyncBatchNorm.builder(c, col).kernels(Kernels.named(kernels)).build();
                 Tensor x = Tensor.of(d, Format.NCHW, xs[q], np[q], c, 2, 5);
                 Tensor dy = Tensor.of(d, Format.NCHW, dys[q], np[q], c, 2, 5)) {
                float[] out = bn.forward(x).toArray();
                float[] dinp = bn.backward(dy).toArray();
                return new float[][] {out, dinp, bn.weight().grad().toArray(), bn.bias().grad().toArray(),
                        bn.runningMean().toArray(), bn.runningVar().toArray()};
            }
        });
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"java", "native"})
    void mixingDTypesIsRefusedByNameAndChangesNothing(String kernels) {
        int n = 4, c = 3;
        try (BatchNorm1d bn = BatchNorm1d.builder(c).kernels(Kernels.named(kernels)).build();
             Tensor x = Tensor.of(DType.BF16, Format.NC, new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13}, n, c);
             Tensor resF16 = Tensor.zeros(DType.F16, Format.NC, n, c);
             Tensor doutF32 = Tensor.zeros(Format.NC, n, c)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bn.forward(x, resF16));
            assertTrue(e.getMessage().startsWith("residual: expected dtype BF16 (that of inp), got F16"), e.getMessage());
            assertEquals(0, bn.numBatchesTracked(), "nothing changed by the refused forward");
            assertEquals(DType.BF16, bn.forward(x).dtype());
            e = assertThrows(IllegalArgumentException.class, () -> bn.backward(doutF32));
            assertTrue(e.getMessage().startsWith("dout: expected dtype BF16 (that of the last output), got F32"),
                    e.getMessage());
            assertArrayEquals(new float[c], bn.weight().grad().toArray(), "no gradient from the refused backward");
        }
    }
}
