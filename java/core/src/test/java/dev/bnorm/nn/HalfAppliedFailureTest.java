package dev.bnorm.nn;

import static dev.bnorm.nn.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Buffers;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A call that fails leaves everything as it was: counters at their limit, optimizers with a closed
 * parameter, a forward refused after a successful one (issue 13, "failures that leave state
 * half-changed").
 */
class HalfAppliedFailureTest {

    @Test
    void aCounterAtItsLimitSaturatesInsteadOfFailingAfterTheRunningStatisticsMoved() {
        Random random = new Random(61);
        try (BatchNorm1d bn = BatchNorm1d.builder(3).build();
             BatchNorm1d reference = BatchNorm1d.builder(3).build();
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 12, 1, 2), 4, 3)) {
            bn.loadStateDict(bn.stateDict(), Map.of("num_batches_tracked", Long.MAX_VALUE));
            for (int retry = 0; retry < 2; retry++) {
                bn.forward(x);
                reference.forward(x);
                assertEquals(Long.MAX_VALUE, bn.numBatchesTracked(), "saturated, not wrapped or thrown");
                // momentum 0.1 does not depend on the counter: the statistics move exactly once per forward
                assertArrayEquals(reference.runningMean().toArray(), bn.runningMean().toArray(), "running_mean " + retry);
                assertArrayEquals(reference.runningVar().toArray(), bn.runningVar().toArray(), "running_var " + retry);
            }
        }
    }

    @Test
    void aCumulativeAverageAtTheCounterLimitKeepsItsStatistics() {
        Random random = new Random(62);
        try (BatchNorm1d bn = BatchNorm1d.builder(3).momentum(null).build();
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 12, 5, 2), 4, 3)) {
            bn.loadStateDict(bn.stateDict(), Map.of("num_batches_tracked", Long.MAX_VALUE));
            float[] mean = bn.runningMean().toArray();
            bn.forward(x);
            assertEquals(Long.MAX_VALUE, bn.numBatchesTracked());
            dev.bnorm.kernel.Compare.assertClose(mean, bn.runningMean().toArray(), 1e-15, 0,
                    "factor 1/2^63: the average (of values near 5) moves by at most ~5e-19");
        }
    }

    @Test
    void sgdWithOneClosedParameterUpdatesNone() {
        try (Linear layer = new Linear(3, 2, true, 5);
             SGD sgd = new SGD(layer.parameters(), 0.1, 0.9, 0.01)) {
            layer.weight().grad().fill(1f);
            float[] weight = layer.weight().value().toArray();
            layer.bias().value().close();
            assertMessage(IllegalStateException.class, "params[1]", sgd::step);
            assertArrayEquals(weight, layer.weight().value().toArray(), "the weight before the closed bias is unchanged");
        }
    }

    @Test
    void zeroGradWithOneClosedGradientClearsNone() {
        try (Linear layer = new Linear(3, 2, true, 5);
             SGD sgd = new SGD(layer.parameters(), 0.1, 0, 0)) {
            layer.weight().grad().fill(1f);
            float[] grad = layer.weight().grad().toArray();
            layer.bias().grad().close();
            assertMessage(IllegalStateException.class, "no gradient was cleared", sgd::zeroGrad);
            assertMessage(IllegalStateException.class, "no gradient was cleared", layer::zeroGrad);
            assertArrayEquals(grad, layer.weight().grad().toArray());
        }
    }

    @Test
    void adamsStepCountAtItsLimitSaturatesAndTheUpdateStaysFinite() {
        try (Linear layer = new Linear(3, 2, true, 5);
             Adam adam = Adam.builder(layer.parameters()).build()) {
            Map<String, Long> limit = new java.util.HashMap<>();
            adam.state().counters().keySet().forEach(k -> limit.put(k, Long.MAX_VALUE));
            adam.state().loadStateDict(adam.state().stateDict(), limit);
            layer.weight().grad().fill(1f);
            layer.bias().grad().fill(1f);
            float[] weight = layer.weight().value().toArray();
            adam.step();
            assertEquals(Long.MAX_VALUE, adam.steps(0));
            // bias corrections 1: m = 0.1, v = 0.001, p -= 1e-3 * 0.1 / (sqrt(0.001) + 1e-8)
            float[] after = layer.weight().value().toArray();
            for (int i = 0; i < after.length; i++) {
                assertEquals(weight[i] - 1e-3 * 0.1 / Math.sqrt(0.001), after[i], 1e-6, "weight[" + i + "]");
            }
        }
    }

    @Test
    void aFailedForwardKeepsThePreviousOutputAndThePendingBackward() {
        Random random = new Random(63);
        float[] dout = Buffers.gaussian(random, 12, 0, 1);
        try (BatchNorm1d bn = BatchNorm1d.builder(3).build();
             BatchNorm1d reference = BatchNorm1d.builder(3).build();
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 12, 1, 2), 4, 3);
             Tensor one = Tensor.of(Format.NC, new float[] {1, 2, 3}, 1, 3);
             Tensor g = Tensor.of(Format.NC, dout, 4, 3)) {
            Tensor out = bn.forward(x);
            float[] expectedOut = reference.forward(x).toArray();
            float[] expectedDinp = reference.backward(g).toArray();
            Map<String, Object> before = Fixtures.snapshot(bn);
            assertMessage(IllegalArgumentException.class, "expected more than 1 value per channel when training",
                    () -> bn.forward(one));
            Fixtures.assertUnchanged(before, bn, "after a refused forward");
            assertArrayEquals(expectedOut, out.toArray(), "the previous output is intact");
            assertArrayEquals(expectedDinp, bn.backward(g).toArray(), "the pending backward is intact");
            assertArrayEquals(reference.weight().grad().toArray(), bn.weight().grad().toArray());
        }
    }

    /** A chain with fixed seeds: two calls give twins of the same weights. */
    private static Sequential chain(Module last) {
        return new Sequential(new Linear(4, 8, false, 71), BatchNorm1d.builder(8).build(),
                new Sequential(new ReLU(), new Linear(8, 6, true, 72), BatchNorm1d.builder(6).build()), last);
    }

    /**
     * A forward refused by a later child (the last Linear's features, or M = 1 into a BatchNorm deep in a
     * nested sequence) changes nothing: the previous output, the running statistics and
     * num_batches_tracked of the BatchNorms before it, and the pending backward, whose gradients are
     * those of a twin model that never saw the refused call.
     */
    @Test
    void aForwardRefusedByALaterChildChangesNothingInTheChildrenBeforeIt() {
        Random random = new Random(64);
        try (Sequential model = chain(new Linear(6, 2, true, 73));
             Sequential twin = chain(new Linear(6, 2, true, 73));
             Sequential mismatch = new Sequential(new Linear(4, 8, true, 74), BatchNorm1d.builder(8).build(),
                     new ReLU(), new Linear(9, 2, true, 75));
             Sequential mismatchTwin = new Sequential(new Linear(4, 8, true, 74), BatchNorm1d.builder(8).build(),
                     new ReLU(), new Linear(9, 2, true, 75));
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 16, 0, 1), 4, 4);
             Tensor one = Tensor.of(Format.NC, new float[] {1, 2, 3, 4}, 1, 4);
             Tensor g = Tensor.of(Format.NC, Buffers.gaussian(random, 8, 0, 1), 4, 2)) {
            // the first BatchNorm1d in evaluation mode takes M = 1, so the input reaches the nested one, which refuses it
            model.get(1).eval();
            twin.get(1).eval();
            Tensor out = model.forward(x);
            float[] expectedOut = twin.forward(x).toArray();
            assertArrayEquals(expectedOut, out.toArray());
            Map<String, Object> before = Fixtures.snapshot(model);
            assertMessage(IllegalArgumentException.class, "expected more than 1 value per channel",
                    () -> model.forward(one));
            Fixtures.assertUnchanged(before, model, "after a forward refused by a nested BatchNorm");
            assertArrayEquals(expectedOut, out.toArray(), "the previous output is intact");
            assertArrayEquals(twin.backward(g).toArray(), model.backward(g).toArray(), "the pending backward");
            assertEquals(Fixtures.snapshot(twin).keySet(), Fixtures.snapshot(model).keySet());
            Fixtures.assertUnchanged(Fixtures.snapshot(twin), model, "gradients as without the refused call");

            // the last child refuses 8 features: the BatchNorm1d(8) before it has not counted a batch
            Map<String, Object> fresh = Fixtures.snapshot(mismatch);
            assertMessage(IllegalArgumentException.class, "inp: expected 9 features", () -> mismatch.forward(x));
            Fixtures.assertUnchanged(fresh, mismatch, "after a forward refused by the last child");
            assertEquals(0, ((BatchNorm) mismatch.get(1)).numBatchesTracked());
            Fixtures.assertUnchanged(Fixtures.snapshot(mismatchTwin), mismatch, "as a model that never ran");
        }
    }

    @Test
    void aForwardRefusedByTheFirstChildKeepsThePendingBackward() {
        Random random = new Random(65);
        try (Sequential model = new Sequential(new Linear(4, 8, true, 74), BatchNorm1d.builder(8).build(),
                new ReLU(), new Linear(8, 2, true, 75));
             Sequential twin = new Sequential(new Linear(4, 8, true, 74), BatchNorm1d.builder(8).build(),
                     new ReLU(), new Linear(8, 2, true, 75));
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 16, 0, 1), 4, 4);
             Tensor wrong = Tensor.of(Format.NC, Buffers.gaussian(random, 20, 0, 1), 4, 5);
             Tensor g = Tensor.of(Format.NC, Buffers.gaussian(random, 8, 0, 1), 4, 2)) {
            Tensor out = model.forward(x);
            float[] expectedOut = twin.forward(x).toArray();
            Map<String, Object> before = Fixtures.snapshot(model);
            assertMessage(IllegalArgumentException.class, "inp: expected 4 features", () -> model.forward(wrong));
            Fixtures.assertUnchanged(before, model, "after a forward refused by the first child");
            assertArrayEquals(expectedOut, out.toArray());
            assertArrayEquals(twin.backward(g).toArray(), model.backward(g).toArray());
            Fixtures.assertUnchanged(Fixtures.snapshot(twin), model, "gradients as without the refused call");
        }
    }

    /**
     * Flatten passes its input's memory on: a later Linear that refuses it as overlapping its own
     * output does so before Flatten has replaced its saved input.
     */
    @Test
    void anOverlapBehindAViewIsRefusedBeforeAnyChildRuns() {
        Random random = new Random(66);
        try (Sequential model = new Sequential(new Flatten(), new Linear(4, 4, true, 77));
             Sequential twin = new Sequential(new Flatten(), new Linear(4, 4, true, 77));
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 16, 0, 1), 4, 4);
             Tensor g = Tensor.of(Format.NC, Buffers.gaussian(random, 16, 0, 1), 4, 4)) {
            Tensor own = model.forward(x); // the output of the Linear in the sequence
            twin.forward(x);
            Map<String, Object> before = Fixtures.snapshot(model);
            assertMessage(IllegalArgumentException.class, "expected memory apart from this module's output",
                    () -> model.forward(own));
            Fixtures.assertUnchanged(before, model, "after the refused forward");
            assertArrayEquals(twin.backward(g).toArray(), model.backward(g).toArray(), "the pending backward");
            Fixtures.assertUnchanged(Fixtures.snapshot(twin), model, "gradients as without the refused call");
        }
    }
}
