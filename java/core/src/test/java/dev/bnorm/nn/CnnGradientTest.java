package dev.bnorm.nn;

import static dev.bnorm.nn.ModuleGradientTest.dot;
import static dev.bnorm.nn.ModuleGradientTest.numeric;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Compare;
import dev.bnorm.kernel.JavaConv;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.kernel.Layout;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Backward of Conv2d, MaxPool2d, AdaptiveAvgPool2d and BasicBlock against central finite
 * differences of independent double-precision forwards written here (the block's BN through
 * {@link NormReference}; the fused tail with the Java BN kernels, which have the fused flags), on
 * tiny problems in both formats; loss sum(out * R). Tolerances grow with
 * the reduction length K of a convolution. Also PyTorch's choice of the winner in MaxPool2d (ties,
 * NaN, -∞), with the indices PyTorch 1.13's {@code max_pool2d(return_indices=True)} gives.
 */
class CnnGradientTest {

    /** An image batch of a format: sizes and the index of (n, c, y, x). */
    record Img(Format format, int n, int c, int h, int w) {
        int size() {
            return n * c * h * w;
        }

        int at(int i, int ch, int y, int x) {
            return format == Format.NCHW ? ((i * c + ch) * h + y) * w + x : ((i * h + y) * w + x) * c + ch;
        }

        long[] shape() {
            return format == Format.NCHW ? new long[] {n, c, h, w} : new long[] {n, h, w, c};
        }

        Layout layout() {
            return format.layout();
        }
    }

    /** out = bias + Σ w * x over the window (zero padding), in double. */
    static double[] conv(double[] x, Img in, double[] w, double[] b, Img out, int kh, int kw, int stride, int pad) {
        double[] y = new double[out.size()];
        for (int i = 0; i < out.n(); i++) {
            for (int o = 0; o < out.c(); o++) {
                for (int oy = 0; oy < out.h(); oy++) {
                    for (int ox = 0; ox < out.w(); ox++) {
                        double acc = b == null ? 0 : b[o];
                        for (int c = 0; c < in.c(); c++) {
                            for (int p = 0; p < kh; p++) {
                                for (int q = 0; q < kw; q++) {
                                    int yy = oy * stride - pad + p;
                                    int xx = ox * stride - pad + q;
                                    if (yy >= 0 && yy < in.h() && xx >= 0 && xx < in.w()) {
                                        acc += w[((o * in.c() + c) * kh + p) * kw + q] * x[in.at(i, c, yy, xx)];
                                    }
                                }
                            }
                        }
                        y[out.at(i, o, oy, ox)] = acc;
                    }
                }
            }
        }
        return y;
    }

    static double[] relu(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = Math.max(0, x[i]);
        }
        return y;
    }

    static double[] values(Parameter p) {
        return Buffers.toDouble(p.value().toArray());
    }

    @ParameterizedTest
    @EnumSource(value = Format.class, names = {"NCHW", "NHWC"})
    void conv2dWithStridePaddingAndARectangularKernel(Format format) {
        Img in = new Img(format, 2, 3, 5, 6);
        int kh = 3;
        int kw = 2;
        Img out = new Img(format, 2, 4, (5 + 2 - kh) / 2 + 1, (6 + 2 - kw) / 2 + 1);
        Random random = new Random(format.ordinal());
        double[] x = Buffers.toDouble(Buffers.gaussian(random, in.size(), 0, 1));
        double[] r = Buffers.toDouble(Buffers.gaussian(random, out.size(), 0, 1));
        double tol = Compare.tol(3L * kh * kw);
        try (Conv2d conv = Conv2d.builder(3, 4, kh, kw).stride(2).padding(1).bias(true).seed(5).build();
             Tensor xt = Tensor.of(format, Buffers.toFloat(x), in.shape());
             Tensor rt = Tensor.of(format, Buffers.toFloat(r), out.shape())) {
            double[] w = values(conv.weight());
            double[] b = values(conv.bias());
            Tensor y = conv.forward(xt);
            assertArrayEquals(out.shape(), y.shape());
            Compare.assertClose(conv(x, in, w, b, out, kh, kw, 2, 1), y.toArray(), tol, "conv out");
            Tensor dx = conv.backward(rt);
            Compare.assertCloseToScale(numeric(v -> dot(conv(v, in, w, b, out, kh, kw, 2, 1), r), x.clone()),
                    dx.toArray(), tol, "conv dinp");
            Compare.assertCloseToScale(numeric(v -> dot(conv(x, in, v, b, out, kh, kw, 2, 1), r), w.clone()),
                    conv.weight().grad().toArray(), Compare.tol(out.size()), "conv dweight");
            Compare.assertCloseToScale(numeric(v -> dot(conv(x, in, w, v, out, kh, kw, 2, 1), r), b.clone()),
                    conv.bias().grad().toArray(), Compare.tol(out.size()), "conv dbias");
        }
    }

    /** max over the window in double (no ties in the test data). */
    static double[] maxPool(double[] x, Img in, Img out, int k, int stride, int pad) {
        double[] y = new double[out.size()];
        for (int i = 0; i < in.n(); i++) {
            for (int c = 0; c < in.c(); c++) {
                for (int oy = 0; oy < out.h(); oy++) {
                    for (int ox = 0; ox < out.w(); ox++) {
                        double m = Double.NEGATIVE_INFINITY;
                        for (int p = 0; p < k; p++) {
                            for (int q = 0; q < k; q++) {
                                int yy = oy * stride - pad + p;
                                int xx = ox * stride - pad + q;
                                if (yy >= 0 && yy < in.h() && xx >= 0 && xx < in.w()) {
                                    m = Math.max(m, x[in.at(i, c, yy, xx)]);
                                }
                            }
                        }
                        y[out.at(i, c, oy, ox)] = m;
                    }
                }
            }
        }
        return y;
    }

    @ParameterizedTest
    @EnumSource(value = Format.class, names = {"NCHW", "NHWC"})
    void maxPoolWithOverlappingPaddedWindows(Format format) {
        Img in = new Img(format, 2, 3, 5, 4);
        Img out = new Img(format, 2, 3, 3, 2); // kernel 3, stride 2, padding 1
        Random random = new Random(7);
        double[] x = Buffers.toDouble(Buffers.gaussian(random, in.size(), 0, 1));
        double[] r = Buffers.toDouble(Buffers.gaussian(random, out.size(), 0, 1));
        try (MaxPool2d pool = new MaxPool2d(3, 2, 1);
             Tensor xt = Tensor.of(format, Buffers.toFloat(x), in.shape());
             Tensor rt = Tensor.of(format, Buffers.toFloat(r), out.shape())) {
            Tensor y = pool.forward(xt);
            assertArrayEquals(out.shape(), y.shape());
            Compare.assertClose(maxPool(x, in, out, 3, 2, 1), y.toArray(), 0, "max pool out");
            Compare.assertCloseToScale(numeric(v -> dot(maxPool(v, in, out, 3, 2, 1), r), x.clone()),
                    pool.backward(rt).toArray(), 1e-6, "max pool dinp");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Format.class, names = {"NCHW", "NHWC"})
    void globalAveragePool(Format format) {
        Img in = new Img(format, 3, 4, 3, 5);
        int s = 15;
        Random random = new Random(8);
        double[] x = Buffers.toDouble(Buffers.gaussian(random, in.size(), 0, 1));
        double[] r = Buffers.toDouble(Buffers.gaussian(random, 12, 0, 1));
        java.util.function.Function<double[], double[]> mean = v -> {
            double[] y = new double[12];
            for (int i = 0; i < 3; i++) {
                for (int c = 0; c < 4; c++) {
                    for (int p = 0; p < s; p++) {
                        y[i * 4 + c] += v[in.at(i, c, p / 5, p % 5)] / s;
                    }
                }
            }
            return y;
        };
        long[] outShape = format == Format.NCHW ? new long[] {3, 4, 1, 1} : new long[] {3, 1, 1, 4};
        try (AdaptiveAvgPool2d pool = new AdaptiveAvgPool2d(1);
             Tensor xt = Tensor.of(format, Buffers.toFloat(x), in.shape());
             Tensor rt = Tensor.of(format, Buffers.toFloat(r), outShape)) {
            Tensor y = pool.forward(xt);
            assertArrayEquals(outShape, y.shape());
            Compare.assertClose(mean.apply(x), y.toArray(), Compare.tol(s), "avg pool out");
            Compare.assertCloseToScale(numeric(v -> dot(mean.apply(v), r), x.clone()), pool.backward(rt).toArray(),
                    1e-6, "avg pool dinp");
        }
    }

    /** The block in double, training mode: BN with the batch statistics of the whole batch. */
    static double[] block(double[] x, Img in, Img out, double[][] p, boolean down, int stride) {
        Img mid = out;
        double[] h = conv(x, in, p[0], null, mid, 3, 3, stride, 1);
        h = relu(bn(h, mid, p[1], p[2]));
        h = bn(conv(h, mid, p[3], null, out, 3, 3, 1, 1), out, p[4], p[5]);
        double[] id = down ? bn(conv(x, in, p[6], null, out, 1, 1, stride, 0), out, p[7], p[8]) : x;
        double[] y = new double[h.length];
        for (int i = 0; i < y.length; i++) {
            y[i] = Math.max(0, h[i] + id[i]);
        }
        return y;
    }

    static double[] bn(double[] x, Img img, double[] gamma, double[] beta) {
        return NormReference.forward(x, img.layout(), img.n(), img.c(), img.h() * img.w(), gamma, beta, 1e-5,
                new long[] {0, img.n()}, null, null);
    }

    @ParameterizedTest
    @EnumSource(value = Format.class, names = {"NCHW", "NHWC"})
    void basicBlockWithAndWithoutDownsampleFusedAndNot(Format format) {
        for (int variant = 0; variant < 4; variant++) {
            boolean down = variant % 2 == 1;
            boolean fused = variant < 2;
            int stride = down ? 2 : 1;
            int cout = down ? 4 : 3;
            Img in = new Img(format, 3, 3, 5, 5);
            Img out = new Img(format, 3, cout, down ? 3 : 5, down ? 3 : 5);
            Random random = new Random(down ? 11 : 12);
            double[] x = Buffers.toDouble(Buffers.gaussian(random, in.size(), 0, 1));
            double[] r = Buffers.toDouble(Buffers.gaussian(random, out.size(), 0, 1));
            try (BasicBlock b = BasicBlock.builder(3, cout).stride(stride).fused(fused).seed(3)
                    .batchNormKernels(fused ? dev.bnorm.kernel.JavaKernels.INSTANCE : Kernels.best()).build();
                 Tensor xt = Tensor.of(format, Buffers.toFloat(x), in.shape());
                 Tensor rt = Tensor.of(format, Buffers.toFloat(r), out.shape())) {
                for (Parameter p : b.parameters()) { // gamma and beta away from 1 and 0 so that they matter
                    p.value().copyFrom(Buffers.uniform(random, (int) p.value().size(), -0.7, 0.7));
                }
                b.bn1().weight().value().copyFrom(Buffers.uniform(random, cout, 0.5, 1.5));
                b.bn2().weight().value().copyFrom(Buffers.uniform(random, cout, 0.5, 1.5));
                String[] keys = down
                        ? new String[] {"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias",
                                        "downsample.0.weight", "downsample.1.weight", "downsample.1.bias"}
                        : new String[] {"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias"};
                double[][] p = new double[keys.length][];
                for (int k = 0; k < keys.length; k++) {
                    p[k] = values(b.namedParameters().get(keys[k]));
                }
                assertEquals(keys.length, b.parameters().size());
                String what = format + " block downsample=" + down + " fused=" + fused;
                double tol = 10 * Compare.tol(27L * out.size());
                Compare.assertClose(block(x, in, out, p, down, stride), b.forward(xt).toArray(), tol, what + " out");
                Tensor dx = b.backward(rt);
                Compare.assertCloseToScale(numeric(v -> dot(block(v, in, out, p, down, stride), r), x.clone()),
                        dx.toArray(), tol, what + " dinp");
                for (int k = 0; k < keys.length; k++) {
                    int kk = k;
                    double[] grad = numeric(v -> {
                        double[][] q = p.clone();
                        q[kk] = v;
                        return dot(block(x, in, out, q, down, stride), r);
                    }, p[k].clone());
                    Compare.assertCloseToScale(grad, b.namedParameters().get(keys[k]).grad().toArray(), tol,
                            what + " d" + keys[k]);
                }
            }
        }
    }

    @Test
    void maxPoolChoosesPyTorchsWinnerAmongTiesNaNAndMinusInfinity() {
        float nan = Float.NaN;
        float inf = Float.NEGATIVE_INFINITY;
        // expected winners: PyTorch 1.13, max_pool2d(x, kernel, stride, padding, return_indices=True)
        record Case(float[] x, int kernel, int stride, int padding, int[] winners) {
        }
        Case[] cases = {
            new Case(new float[] {1, 3, 3, 3, 2, 3, 0, 3, 1}, 2, 1, 0, new int[] {1, 1, 3, 5}),       // ties: the first
            new Case(new float[] {1, 3, 3, 3, nan, 2, nan, 0, 1}, 2, 1, 0, new int[] {4, 4, 6, 4}),   // NaN: the last NaN
            new Case(new float[] {1, 3, 3, 3, nan, 2, nan, 0, 1}, 3, 2, 1, new int[] {4, 4, 6, 4}),
            new Case(new float[] {inf, inf, inf, inf, inf, inf, inf, inf, inf}, 2, 1, 0, new int[] {0, 1, 3, 4}),
        };
        for (Format format : new Format[] {Format.NCHW, Format.NHWC}) {
            for (Case c : cases) {
                long[] shape = format == Format.NCHW ? new long[] {1, 1, 3, 3} : new long[] {1, 3, 3, 1};
                long[] outShape = format == Format.NCHW ? new long[] {1, 1, 2, 2} : new long[] {1, 2, 2, 1};
                float[] ones = {1, 1, 1, 1};
                try (MaxPool2d pool = new MaxPool2d(c.kernel(), c.stride(), c.padding());
                     Tensor xt = Tensor.of(format, c.x(), shape);
                     Tensor dout = Tensor.of(format, ones, outShape)) {
                    float[] y = pool.forward(xt).toArray();
                    float[] dx = pool.backward(dout).toArray();
                    float[] expected = new float[9];
                    for (int q = 0; q < 4; q++) {
                        assertEquals(c.x()[c.winners()[q]], y[q], "output " + q + " of " + java.util.Arrays.toString(c.x()));
                        expected[c.winners()[q]] += 1;
                    }
                    assertArrayEquals(expected, dx, "gradient (winners) of " + java.util.Arrays.toString(c.x()));
                }
            }
        }
    }

    @Test
    void badInputIsRefusedNamingTheArgument() {
        try (Conv2d conv = Conv2d.builder(3, 4, 3).build();
             Tensor wrongChannels = Tensor.zeros(Format.NCHW, 1, 2, 5, 5);
             Tensor tooSmall = Tensor.zeros(Format.NCHW, 1, 3, 2, 5);
             Tensor nc = Tensor.zeros(Format.NC, 2, 3)) {
            assertMessage(() -> conv.forward(wrongChannels), "inp: expected 3 channels");
            assertMessage(() -> conv.forward(tooSmall), "inp: expected an image of at least 3x3 pixels");
            assertMessage(() -> conv.forward(nc), "inp: expected format one of [NCHW, NHWC]");
        }
        assertMessage(() -> Conv2d.builder(0, 4, 3), "in: expected at least 1, got 0");
        assertMessage(() -> Conv2d.builder(3, 4, 3).stride(0), "sh: expected at least 1, got 0");
        assertMessage(() -> Conv2d.builder(3, 4, 3).padding(-1), "ph: expected at least 0, got -1");
        assertMessage(() -> new MaxPool2d(3, 2, 2), "padding: expected 0 to kernel/2 = 1, got 2");
        assertMessage(() -> new AdaptiveAvgPool2d(2), "outputSize: expected 1");
        assertMessage(() -> BasicBlock.builder(3, 4).stride(0), "stride: expected at least 1, got 0");
    }

    static void assertMessage(Runnable r, String start) {
        try {
            r.run();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().startsWith(start), "message \"" + e.getMessage() + "\" should start with \"" + start + "\"");
            return;
        }
        throw new AssertionError("expected IllegalArgumentException \"" + start + "...\"");
    }

    @Test
    void theJavaOracleIsTheFormula() { // JavaConv against the double convolution above, which the gradient checks use
        Img in = new Img(Format.NHWC, 2, 3, 4, 5);
        Img out = new Img(Format.NHWC, 2, 2, 2, 3);
        Random random = new Random(9);
        float[] x = Buffers.gaussian(random, in.size(), 0, 1);
        float[] w = Buffers.gaussian(random, 2 * 3 * 3 * 3, 0, 1);
        try (Conv2d conv = Conv2d.builder(3, 2, 3).stride(2).padding(1).kernels(JavaConv.INSTANCE).build();
             Tensor xt = Tensor.of(Format.NHWC, x, in.shape())) {
            conv.weight().value().copyFrom(w);
            Compare.assertClose(conv(Buffers.toDouble(x), in, Buffers.toDouble(w), null, out, 3, 3, 2, 1),
                    conv.forward(xt).toArray(), 1e-6, "JavaConv out");
        }
    }
}
