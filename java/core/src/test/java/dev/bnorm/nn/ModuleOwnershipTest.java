package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Kernels;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Tensors returned by modules are views of module-owned memory: a caller closing one does not
 * break the module, and the memory grows to the largest batch and is reused for smaller ones.
 */
class ModuleOwnershipTest {

    static Module make(String kind) {
        return switch (kind) {
            case "linear" -> Linear.builder(5, 4).seed(3).build();
            case "batchnorm" -> BatchNorm1d.builder(5).build();
            case "relu" -> new ReLU();
            case "sigmoid" -> new Sigmoid();
            case "flatten" -> new Flatten();
            case "mlp" -> Fixtures.mlp(Kernels.best(), 4, 5, 6, 3);
            default -> throw new IllegalArgumentException(kind);
        };
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"linear", "batchnorm", "relu", "sigmoid", "flatten", "mlp"})
    void closingTheOutputThenCallingForwardAndBackwardWorks(String kind) {
        Random random = new Random(71);
        try (Module module = make(kind);
             Module reference = make(kind);
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 20, 0, 1), 4, 5);
             Tensor x2 = Tensor.of(Format.NC, Buffers.gaussian(random, 20, 0, 1), 4, 5)) {
            Tensor out = module.forward(x);
            float[] expected = reference.forward(x).toArray();
            out.close();
            assertFalse(out.isAlive());
            try (Tensor g = Tensor.of(Format.NC, Buffers.gaussian(random, (int) out.size(), 0, 1), out.shape())) {
                // the pending backward survives the closed output
                Tensor dinp = module.backward(g);
                assertArrayEquals(reference.backward(g).toArray(), dinp.toArray(), "backward after closing the output");
                dinp.close();
                assertArrayEquals(expected, module.forward(x).toArray(), "the output after closing it, recomputed");
                assertArrayEquals(reference.forward(x2).toArray(), module.forward(x2).toArray(), "a new forward");
                assertArrayEquals(reference.backward(g).toArray(), module.backward(g).toArray(), "a new backward");
            }
            for (Parameter p : module.parameters()) {
                assertTrue(p.value().isAlive() && p.grad().isAlive(), p + " still open");
            }
        }
    }

    @Test
    void closingTheLossGradientIsHarmless() {
        try (SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             Tensor logits = Tensor.of(Format.NC, new float[] {1, 2, 3, 4, 5, 6}, 2, 3)) {
            float first = loss.forward(logits, new int[] {0, 2});
            float[] grad = loss.backward().toArray();
            loss.backward().close();
            assertArrayEquals(grad, loss.backward().toArray(), "the gradient is kept");
            assertEquals(first, loss.forward(logits, new int[] {0, 2}));
            assertArrayEquals(grad, loss.backward().toArray());
        }
    }

    /** The demo's pattern: training at one batch size, evaluation at another, back and forth. */
    @Test
    void alternatingBatchSizesAllocateNothingOnceTheLargestWasSeen() {
        Random random = new Random(72);
        Supplier<Sequential> factory = () -> new Sequential(Linear.builder(8, 16).bias(false).seed(1).build(),
                BatchNorm1d.builder(16).build(), new ReLU(), Linear.builder(16, 4).seed(2).build());
        try (Sequential model = factory.get();
             Sequential fresh = factory.get();
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             SGD sgd = SGD.builder(model.parameters(), 0.1).momentum(0.9).build();
             Tensor big = Tensor.of(Format.NC, Buffers.gaussian(random, 300 * 8, 0, 1), 300, 8);
             Tensor small = Tensor.of(Format.NC, Buffers.gaussian(random, 60 * 8, 0, 1), 60, 8)) {
            int[] bigLabels = Fixtures.labels(random, 300, 4);
            int[] smallLabels = Fixtures.labels(random, 60, 4);
            TrainingTest.step(model, loss, sgd, big, bigLabels);
            model.eval();
            model.forward(big);
            model.train();
            long count = Tensor.allocations();
            long bytes = Tensor.allocatedBytes();
            long live = Tensor.liveBytes();
            for (int k = 0; k < 5; k++) {
                TrainingTest.step(model, loss, sgd, small, smallLabels);
                model.eval();
                model.forward(small);
                model.forward(big);
                model.train();
                TrainingTest.step(model, loss, sgd, big, bigLabels);
            }
            assertEquals(count, Tensor.allocations(), "native allocations while alternating 60 and 300");
            assertEquals(bytes, Tensor.allocatedBytes());
            assertEquals(live, Tensor.liveBytes());
            // the reused memory gives the numbers of a model that only ever saw the small batch
            fresh.loadStateDict(model.stateDict());
            model.eval();
            fresh.eval();
            assertArrayEquals(fresh.forward(small).toArray(), model.forward(small).toArray());
        }
    }

    @Test
    void aWorkspaceGrowsToTheLargestSizeAndKeepsIt() {
        try (Linear linear = Linear.builder(2, 3).seed(5).build();
             Tensor a = Tensor.zeros(Format.NC, 7, 2);
             Tensor b = Tensor.zeros(Format.NC, 2, 2)) {
            Tensor outA = linear.forward(a);
            long live = Tensor.liveBytes();
            Tensor outB = linear.forward(b);
            assertEquals(live, Tensor.liveBytes(), "a smaller batch reuses the memory");
            assertArrayEquals(new long[] {2, 3}, outB.shape());
            assertFalse(outB.ownsMemory(), "outputs are views of the module's memory");
            assertTrue(outA.isAlive(), "an earlier output of a smaller or equal size stays readable (its values are"
                    + " overwritten)");
        }
    }
}
