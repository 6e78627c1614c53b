package dev.bnorm.nn;

import static dev.bnorm.nn.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.bnorm.kernel.Compare;
import dev.bnorm.kernel.GoldenCases;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * SGD (with Nesterov momentum), Adam and AdamW against PyTorch 1.13: optimizers.txt, written by
 * src/test/python/make_optimizers.py, holds the parameters after each of several steps with weight
 * decay, and the final optimizer state. The "_defaults" cases set nothing in Java: they hold only
 * if the defaults are PyTorch's.
 */
class OptimizerTest {

    static final GoldenCases.Case FIXTURE = Fixtures.text("optimizers.txt");

    /** The optimizer of a fixture case over {@code params}, built from the fixture's hyperparameters. */
    static Optimizer build(String name, List<Parameter> params) {
        GoldenCases.Case f = FIXTURE;
        String kind = f.text(name + ".kind");
        boolean defaults = name.endsWith("_defaults");
        switch (kind) {
            case "sgd" -> {
                return SGD.builder(params, Double.parseDouble(f.text(name + ".lr")))
                        .momentum(Double.parseDouble(f.text(name + ".momentum")))
                        .weightDecay(Double.parseDouble(f.text(name + ".weight_decay")))
                        .nesterov(Boolean.parseBoolean(f.text(name + ".nesterov"))).build();
            }
            case "adam", "adamw" -> {
                Adam.Builder<? extends Optimizer> b = kind.equals("adam") ? Adam.builder(params) : AdamW.builder(params);
                if (!defaults) {
                    double[] betas = f.doubles(name + ".betas");
                    b.lr(Double.parseDouble(f.text(name + ".lr"))).betas(betas[0], betas[1])
                            .eps(Double.parseDouble(f.text(name + ".eps")))
                            .weightDecay(Double.parseDouble(f.text(name + ".weight_decay")))
                            .amsgrad(Boolean.parseBoolean(f.text(name + ".amsgrad")));
                }
                return b.build();
            }
            default -> throw new IllegalArgumentException(kind);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"sgd_nesterov", "sgd_momentum", "adam_defaults", "adam_decay", "adam_amsgrad",
        "adamw_defaults", "adamw_amsgrad"})
    void followsPyTorch(String name) {
        GoldenCases.Case f = FIXTURE;
        try (Linear layer = Linear.builder(4, 3).seed(0).build();
             Optimizer optimizer = build(name, layer.parameters())) {
            layer.weight().value().copyFrom(f.floats("init.weight"));
            layer.bias().value().copyFrom(f.floats("init.bias"));
            for (int k = 1; k <= f.number("steps"); k++) {
                String step = name + ".step" + k + ".";
                layer.weight().grad().copyFrom(f.floats(step + "grad.weight"));
                layer.bias().grad().copyFrom(f.floats(step + "grad.bias"));
                optimizer.step();
                // float32 arithmetic in a different order (and FMA in PyTorch's vector code): a few ulps per step
                Compare.assertClose(f.doubles(step + "weight"), layer.weight().value().toArray(), 2e-6, 2e-6,
                        step + "weight");
                Compare.assertClose(f.doubles(step + "bias"), layer.bias().value().toArray(), 2e-6, 2e-6, step + "bias");
            }
            Module state = optimizer.state();
            Set<String> keys = new java.util.TreeSet<>();
            for (String key : FIXTURE.values().keySet()) {
                if (key.startsWith(name + ".state.")) {
                    String k = key.substring(name.length() + 1);
                    keys.add(k);
                    if (k.endsWith(".step")) {
                        assertEquals((long) Double.parseDouble(f.text(key)), state.counters().get(k).get(), k);
                    } else {
                        Compare.assertClose(f.doubles(key), state.buffers().get(k).toArray(), 1e-6, 1e-5, k);
                    }
                }
            }
            Set<String> ours = new java.util.TreeSet<>(state.buffers().keySet());
            ours.addAll(state.counters().keySet());
            assertEquals(keys, ours, "PyTorch's state keys");
        }
    }

    @Test
    void defaultsArePyTorchs() {
        try (Linear layer = Linear.builder(2, 2).seed(1).build();
             Adam adam = Adam.builder(layer.parameters()).build();
             AdamW adamW = AdamW.builder(layer.parameters()).build();
             SGD sgd = SGD.builder(layer.parameters(), 0.1).build()) {
            assertEquals("Adam(lr=0.001, betas=(0.9, 0.999), eps=1.0E-8, weightDecay=0.0, amsgrad=false)", adam.toString());
            assertEquals("AdamW(lr=0.001, betas=(0.9, 0.999), eps=1.0E-8, weightDecay=0.01, amsgrad=false)",
                    adamW.toString());
            assertEquals("SGD(lr=0.1, momentum=0.0, weightDecay=0.0, nesterov=false)", sgd.toString());
        }
    }

    @Test
    void buildersCheckTheirArguments() {
        try (Linear layer = Linear.builder(2, 2).seed(1).build()) {
            List<Parameter> params = layer.parameters();
            assertMessage(IllegalArgumentException.class, "lr: expected a finite number >= 0, got -1.0",
                    () -> SGD.builder(params, -1));
            assertMessage(IllegalArgumentException.class, "nesterov: expected momentum > 0",
                    () -> SGD.builder(params, 0.1).nesterov(true).build());
            assertMessage(IllegalArgumentException.class, "beta2: expected a number in [0, 1), got 1.0",
                    () -> Adam.builder(params).betas(0.9, 1));
            assertMessage(IllegalArgumentException.class, "eps: expected a finite number >= 0, got NaN",
                    () -> AdamW.builder(params).eps(Double.NaN));
            assertMessage(IllegalArgumentException.class, "weightDecay: expected a finite number >= 0, got -0.1",
                    () -> Adam.builder(params).weightDecay(-0.1));
            assertMessage(IllegalArgumentException.class, "params[1]: expected distinct parameters",
                    () -> Adam.builder(List.of(params.get(0), params.get(0))).build());
            Adam closed = Adam.builder(params).build();
            closed.close();
            assertMessage(IllegalStateException.class, "Adam: closed", closed::step);
        }
    }

    @Test
    void adamWithOneClosedParameterUpdatesNone() {
        try (Linear layer = Linear.builder(3, 2).seed(5).build();
             Adam adam = Adam.builder(layer.parameters()).build()) {
            layer.weight().grad().fill(1f);
            float[] weight = layer.weight().value().toArray();
            layer.bias().grad().close();
            assertMessage(IllegalStateException.class, "params[1]: Parameter[bias", adam::step);
            assertArrayEquals(weight, layer.weight().value().toArray(), "the weight is unchanged");
            assertEquals(0, adam.steps(0), "no step counted");
        }
    }

    @Test
    void linearBuilderMatchesTheConstructorsAndNamesItsOptions() {
        try (Linear a = Linear.builder(5, 3).bias(false).seed(7).build();
             Linear b = new Linear(5, 3, false, 7);
             Linear c = Linear.builder(5, 3).seed(7).initStd(2).build();
             Linear d = new Linear(5, 3, true, 7, 2);
             Linear e = Linear.builder(5, 3).build();
             Linear f = Linear.builder(5, 3).build()) {
            assertArrayEquals(b.weight().value().toArray(), a.weight().value().toArray());
            assertEquals(null, a.bias());
            assertArrayEquals(d.weight().value().toArray(), c.weight().value().toArray());
            assertArrayEquals(d.bias().value().toArray(), c.bias().value().toArray());
            assertFalse(java.util.Arrays.equals(e.weight().value().toArray(), f.weight().value().toArray()),
                    "layers built without a seed get different weights");
        }
        assertMessage(IllegalArgumentException.class, "out: expected at least 1, got 0", () -> Linear.builder(3, 0));
        assertMessage(IllegalArgumentException.class, "initStd: expected a finite number >= 0, got -1.0",
                () -> Linear.builder(3, 3).initStd(-1));
    }
}
