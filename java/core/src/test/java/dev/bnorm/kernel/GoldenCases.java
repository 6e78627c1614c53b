package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Golden cases computed with PyTorch by {@code src/test/python/make_golden.py} (see
 * {@code src/test/resources/golden/README.md}), and a check that runs any {@link BatchNormKernels}
 * through them: {@code steps} training steps (forward with running stats, backward with batch
 * statistics), then an eval step (forward inference, backward with USE_GLOBAL_STATS).
 */
public final class GoldenCases {

    private static final float SENTINEL = -7777.25f;

    private GoldenCases() {
    }

    /** One case: its name and its "key value..." lines. */
    public record Case(String name, Map<String, String> values) {

        public String text(String key) {
            String v = values.get(key);
            if (v == null) {
                throw new IllegalArgumentException(name + ": no key " + key);
            }
            return v;
        }

        public long number(String key) {
            return Long.parseLong(text(key));
        }

        public boolean has(String key) {
            return values.containsKey(key);
        }

        public double[] doubles(String key) {
            String[] parts = text(key).split(" ");
            double[] v = new double[parts.length];
            for (int i = 0; i < parts.length; i++) {
                v[i] = Double.parseDouble(parts[i]);
            }
            return v;
        }

        public float[] floats(String key) {
            return Buffers.toFloat(doubles(key));
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** All cases listed in {@code /golden/cases.txt} on the test classpath. */
    public static List<Case> load() {
        List<Case> cases = new ArrayList<>();
        for (String line : lines("/golden/cases.txt")) {
            if (!line.isBlank() && !line.startsWith("#")) {
                cases.add(load(line.strip()));
            }
        }
        return cases;
    }

    /** The case {@code /golden/<name>.txt}. */
    public static Case load(String name) {
        Map<String, String> values = new HashMap<>();
        for (String line : lines("/golden/" + name + ".txt")) {
            if (!line.isBlank() && !line.startsWith("#")) {
                int space = line.indexOf(' ');
                values.put(line.substring(0, space), line.substring(space + 1).strip());
            }
        }
        return new Case(name, values);
    }

    private static List<String> lines(String resource) {
        InputStream in = GoldenCases.class.getResourceAsStream(resource);
        if (in == null) {
            throw new IllegalStateException("missing test resource " + resource);
        }
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            return reader.lines().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Runs {@code kernels} through every step of the case and compares each output with PyTorch's. */
    public static void check(BatchNormKernels kernels, Case g) {
        Layout layout = Layout.valueOf(g.text("layout"));
        long n = g.number("n");
        long c = g.number("c");
        long s = g.number("s");
        long count = n * c * s;
        long m = n * s;
        double eps = Double.parseDouble(g.text("eps"));
        boolean affine = g.number("affine") == 1;
        double tol = Compare.tol(m);
        String who = kernels.name() + " " + g.name();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment gamma = affine ? Buffers.of(arena, g.floats("gamma")) : null;
            MemorySegment beta = affine ? Buffers.of(arena, g.floats("beta")) : null;
            int forwardFlags = affine ? USE_SCALE | USE_SHIFT : 0;
            int backwardFlags = affine ? USE_SCALE : 0;
            int mask = affine ? DIFF_INP | DIFF_SCALE | DIFF_SHIFT : DIFF_INP;
            MemorySegment runningMean = Buffers.of(arena, g.floats("running_mean0"));
            MemorySegment runningVar = Buffers.of(arena, g.floats("running_var0"));

            for (long k = 1; k <= g.number("steps"); k++) {
                String p = "step" + k;
                MemorySegment inp = Buffers.of(arena, g.floats(p + ".inp"));
                MemorySegment out = Buffers.filled(arena, count, SENTINEL);
                MemorySegment saveMean = Buffers.filled(arena, c, SENTINEL);
                MemorySegment saveRstd = Buffers.filled(arena, c, SENTINEL);
                kernels.forwardTraining(out, saveMean, saveRstd, runningMean, runningVar, inp, gamma, beta,
                        eps, Double.parseDouble(g.text(p + ".momentum")), forwardFlags | UPDATE_RUNNING,
                        layout, n, c, s);
                Compare.assertClose(g.doubles(p + ".out"), out, tol, tol, who + " " + p + ".out");
                Compare.assertClose(g.doubles(p + ".save_mean"), saveMean, tol, tol, who + " " + p + ".save_mean");
                Compare.assertClose(g.doubles(p + ".save_rstd"), saveRstd, tol, tol, who + " " + p + ".save_rstd");
                Compare.assertClose(g.doubles(p + ".running_mean"), runningMean, tol, tol,
                        who + " " + p + ".running_mean");
                Compare.assertClose(g.doubles(p + ".running_var"), runningVar, tol, tol,
                        who + " " + p + ".running_var");
                // backward from PyTorch's saved statistics, so that it is checked on its own
                checkBackward(kernels, g, p, arena, inp, gamma, Buffers.of(arena, g.floats(p + ".save_mean")),
                        Buffers.of(arena, g.floats(p + ".save_rstd")), backwardFlags, mask, layout, n, c, s);
            }

            MemorySegment inp = Buffers.of(arena, g.floats("eval.inp"));
            MemorySegment out = Buffers.filled(arena, count, SENTINEL);
            MemorySegment mean = Buffers.of(arena, g.floats("eval.mean"));
            kernels.forwardInference(out, inp, mean, Buffers.of(arena, g.floats("eval.var")), gamma, beta,
                    eps, forwardFlags, layout, n, c, s);
            Compare.assertClose(g.doubles("eval.out"), out, tol, tol, who + " eval.out");
            checkBackward(kernels, g, "eval", arena, inp, gamma, mean, Buffers.of(arena, g.floats("eval.rstd")),
                    backwardFlags | USE_GLOBAL_STATS, mask, layout, n, c, s);
        }
    }

    private static void checkBackward(BatchNormKernels kernels, Case g, String p, Arena arena,
                                      MemorySegment inp, MemorySegment gamma, MemorySegment mean,
                                      MemorySegment rstd, int flags, int mask,
                                      Layout layout, long n, long c, long s) {
        long m = n * s;
        double tol = Compare.tol(m);
        String who = kernels.name() + " " + g.name() + " " + p;
        MemorySegment dinp = Buffers.filled(arena, n * c * s, SENTINEL);
        MemorySegment dgamma = (mask & DIFF_SCALE) != 0 ? Buffers.filled(arena, c, SENTINEL) : null;
        MemorySegment dbeta = (mask & DIFF_SHIFT) != 0 ? Buffers.filled(arena, c, SENTINEL) : null;
        kernels.backward(dinp, dgamma, dbeta, Buffers.of(arena, g.floats(p + ".dout")), inp, gamma, mean, rstd,
                flags, mask, layout, n, c, s);
        Compare.assertCloseToScale(g.doubles(p + ".dinp"), dinp, tol, who + ".dinp");
        if (dgamma != null) {
            Compare.assertClose(g.doubles(p + ".dgamma"), dgamma, Compare.sumTol(m), tol, who + ".dgamma");
        }
        if (dbeta != null) {
            Compare.assertClose(g.doubles(p + ".dbeta"), dbeta, Compare.sumTol(m), tol, who + ".dbeta");
        }
    }
}
