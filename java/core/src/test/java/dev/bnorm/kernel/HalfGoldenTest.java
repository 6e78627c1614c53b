package dev.bnorm.kernel;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The 16-bit golden cases of make_half_golden.py (resources/golden/half) against the float64
 * truth on the same rounded inputs: {@code out} within half an ulp of the format (rounded once;
 * issue 20 asks for one ulp), the saved statistics within float rounding. The backward takes the
 * float32 statistics that the forward saved, as every bn_backward call does, so {@code dinp},
 * {@code dgamma} and {@code dbeta} are compared with the truth given those statistics
 * ({@code saved.*}: half an ulp, float rounding); far from zero mean they differ from the
 * float64-statistics truth, and the error against that one is printed, beside PyTorch's on the
 * same case (the offset case shows PyTorch's cancellation in {@code out}). Subclasses run other
 * implementations through {@link #forwardTraining} and {@link #backward}.
 */
class HalfGoldenTest {

    static List<String> cases() throws IOException {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                HalfGoldenTest.class.getResourceAsStream("/golden/half/cases.txt"), StandardCharsets.UTF_8))) {
            return r.lines().filter(l -> !l.isBlank() && !l.startsWith("#")).map(String::strip).toList();
        }
    }

    void forwardTraining(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment inp, MemorySegment gamma,
                         MemorySegment beta, double eps, DType dtype, Layout layout, long n, long c, long s) {
        JavaKernels.INSTANCE.forwardTraining(out, mean, rstd, null, null, inp, gamma, beta, eps, 0,
                BatchNormKernels.USE_SCALE | BatchNormKernels.USE_SHIFT | dtype.flags(), layout, n, c, s);
    }

    void backward(MemorySegment dinp, MemorySegment dgamma, MemorySegment dbeta, MemorySegment dout, MemorySegment inp,
                  MemorySegment gamma, MemorySegment mean, MemorySegment rstd, DType dtype, Layout layout, long n, long c,
                  long s) {
        JavaKernels.INSTANCE.backward(dinp, dgamma, dbeta, dout, inp, gamma, mean, rstd,
                BatchNormKernels.USE_SCALE | dtype.flags(),
                BatchNormKernels.DIFF_INP | BatchNormKernels.DIFF_SCALE | BatchNormKernels.DIFF_SHIFT, layout, n, c, s);
    }

    @ParameterizedTest
    @MethodSource("cases")
    void withinOneUlpOfTheTruth(String name) {
        GoldenCases.Case g = GoldenCases.load("half/" + name);
        DType d = DType.valueOf(g.text("dtype"));
        Layout layout = Layout.valueOf(g.text("layout"));
        int n = (int) g.number("n"), c = (int) g.number("c"), s = (int) g.number("s"), count = n * c * s;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment inp = halves(arena, g.text("inp")), dout = halves(arena, g.text("dout"));
            MemorySegment gamma = Buffers.of(arena, g.floats("gamma")), beta = Buffers.of(arena, g.floats("beta"));
            MemorySegment out = arena.allocate(2L * count, 2), dinp = arena.allocate(2L * count, 2);
            MemorySegment mean = Buffers.filled(arena, c, 0), rstd = Buffers.filled(arena, c, 0);
            MemorySegment dgamma = Buffers.filled(arena, c, 0), dbeta = Buffers.filled(arena, c, 0);
            double eps = Double.parseDouble(g.text("eps"));
            forwardTraining(out, mean, rstd, inp, gamma, beta, eps, d, layout, n, c, s);
            backward(dinp, dgamma, dbeta, dout, inp, gamma, mean, rstd, d, layout, n, c, s);

            double ours = ulps(d, widened(d, out, count), g.doubles("truth.out"), 0.5, name + " out");
            close(Buffers.read(mean, c), g.doubles("truth.mean"), name + " save_mean");
            close(Buffers.read(rstd, c), g.doubles("truth.rstd"), name + " save_rstd");
            ulps(d, widened(d, dinp, count), g.doubles("saved.dinp"), 0.5, name + " dinp");
            close(Buffers.read(dgamma, c), g.doubles("saved.dgamma"), name + " dgamma");
            close(Buffers.read(dbeta, c), g.doubles("saved.dbeta"), name + " dbeta");
            double oursDinp = ulps(d, widened(d, dinp, count), g.doubles("truth.dinp"), Double.POSITIVE_INFINITY, "");
            String peer = "";
            if (g.has("torch.out")) {
                MemorySegment tOut = halves(arena, g.text("torch.out")), tDinp = halves(arena, g.text("torch.dinp"));
                peer = String.format(", PyTorch %.3g and %.3g", ulps(d, widened(d, tOut, count), g.doubles("truth.out"),
                        Double.POSITIVE_INFINITY, ""), ulps(d, widened(d, tDinp, count), g.doubles("truth.dinp"),
                        Double.POSITIVE_INFINITY, ""));
            }
            System.out.printf("HalfGoldenTest %s: out and dinp within %.3g and %.3g %s ulps of the truth%s%n", name, ours,
                    oursDinp, d, peer);
        }
    }

    static MemorySegment halves(Arena arena, String hex) {
        String[] parts = hex.split(" ");
        MemorySegment s = arena.allocate(2L * parts.length, 2);
        for (int i = 0; i < parts.length; i++) s.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) Integer.parseInt(parts[i], 16));
        return s;
    }

    static double[] widened(DType d, MemorySegment s, int count) {
        double[] v = new double[count];
        for (int i = 0; i < count; i++) v[i] = HalfOracleTest.widen(d, s.getAtIndex(ValueLayout.JAVA_SHORT, i));
        return v;
    }

    /** The largest error in ulps of the format (at the truth); fails above {@code bound}. */
    static double ulps(DType d, double[] got, double[] truth, double bound, String what) {
        double worst = 0;
        for (int i = 0; i < truth.length; i++) {
            double e = Math.abs(got[i] - truth[i]) / (2 * HalfOracleTest.halfUlp(d, truth[i]));
            worst = Math.max(worst, e);
            if (!(e <= bound + 1e-9)) {
                throw new AssertionError(what + "[" + i + "]: " + got[i] + ", truth " + truth[i] + ": " + e + " ulps, more than " + bound);
            }
        }
        return worst;
    }

    /** float32 results: within a few float roundings of the truth (relative 1e-6, or 1e-6 absolute near 0). */
    static void close(float[] got, double[] truth, String what) {
        for (int i = 0; i < truth.length; i++) {
            double e = Math.abs(got[i] - truth[i]);
            assertTrue(e <= 1e-6 * Math.max(1, Math.abs(truth[i])), what + "[" + i + "]: " + got[i] + ", truth " + truth[i]);
        }
    }
}
