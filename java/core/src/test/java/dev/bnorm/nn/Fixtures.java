package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.kernel.GoldenCases;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.function.Executable;

/** Helpers shared by the Module API tests. */
final class Fixtures {

    private Fixtures() {
    }

    /** The MLP of the issue and of the PyTorch fixture: Linear(in, hidden, no bias), BatchNorm1d, ReLU, Linear(hidden, out). */
    static Sequential mlp(BatchNormKernels kernels, long seed, int in, int hidden, int out) {
        return new Sequential(new Linear(in, hidden, false, seed), BatchNorm1d.builder(hidden).kernels(kernels).build(),
                new ReLU(), new Linear(hidden, out, true, seed + 1));
    }

    /** A "key value..." text resource under /nn/, as a {@link GoldenCases.Case}. */
    static GoldenCases.Case text(String name) {
        Map<String, String> values = new HashMap<>();
        InputStream in = Fixtures.class.getResourceAsStream("/nn/" + name);
        if (in == null) {
            throw new IllegalStateException("missing test resource /nn/" + name);
        }
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            reader.lines().filter(l -> !l.isBlank() && !l.startsWith("#")).forEach(l -> {
                int space = l.indexOf(' ');
                values.put(l.substring(0, space), l.substring(space + 1).strip());
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new GoldenCases.Case(name, values);
    }

    static int[] ints(GoldenCases.Case c, String key) {
        return java.util.Arrays.stream(c.text(key).split(" ")).mapToInt(Integer::parseInt).toArray();
    }

    /** Random labels in [0, k). */
    static int[] labels(Random random, int n, int k) {
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = random.nextInt(k);
        }
        return y;
    }

    /** A copy of the whole state: float arrays and counter values by key. */
    static Map<String, Object> snapshot(Module m) {
        Map<String, Object> s = new LinkedHashMap<>();
        m.stateDict().forEach((k, t) -> s.put(k, t.toArray()));
        m.counters().forEach((k, c) -> s.put(k, c.get()));
        m.namedParameters().forEach((k, p) -> s.put(k + ".grad", p.grad().toArray()));
        return s;
    }

    /** Asserts that the state is bit for bit the snapshot. */
    static void assertUnchanged(Map<String, Object> before, Module m, String what) {
        Map<String, Object> after = snapshot(m);
        assertEquals(before.keySet(), after.keySet(), what);
        for (String k : before.keySet()) {
            if (before.get(k) instanceof float[] f) {
                assertArrayEquals(f, (float[]) after.get(k), what + ": " + k);
            } else {
                assertEquals(before.get(k), after.get(k), what + ": " + k);
            }
        }
    }

    static <T extends Throwable> T assertMessage(Class<T> type, String part, Executable e) {
        T thrown = org.junit.jupiter.api.Assertions.assertThrows(type, e);
        assertTrue(thrown.getMessage() != null && thrown.getMessage().contains(part),
                "expected a message containing \"" + part + "\", got \"" + thrown.getMessage() + "\"");
        return thrown;
    }
}
