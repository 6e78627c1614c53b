package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Compare;
import dev.bnorm.kernel.Kernels;
import java.lang.management.ManagementFactory;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Whole training steps (forward, loss, backward, SGD): native and pure-Java kernels agree, a model
 * learns, the steady state allocates no native memory and copies no activations to the heap, and
 * a module used from another thread fails loudly.
 */
class TrainingTest {

    /** One SGD step of {@code model} on (x, y); returns the loss before the update. */
    static float step(Module model, SoftmaxCrossEntropy loss, SGD sgd, Tensor x, int[] y) {
        sgd.zeroGrad();
        float value = loss.forward(model.forward(x), y);
        model.backward(loss.backward());
        sgd.step();
        return value;
    }

    /** Losses of {@code steps} SGD steps on fresh random batches (the same for every call). */
    static float[] train(Supplier<Module> factory, Format format, long[] shape, int classes, int steps) {
        Random random = new Random(21);
        int count = (int) (shape.length == 2 ? shape[0] * shape[1] : shape[0] * shape[1] * shape[2] * shape[3]);
        float[] losses = new float[steps];
        try (Module model = factory.get();
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             SGD sgd = new SGD(model.parameters(), 0.1, 0.9, 1e-4)) {
            for (int k = 0; k < steps; k++) {
                try (Tensor x = Tensor.of(format, Buffers.gaussian(random, count, 0.5, 2), shape)) {
                    losses[k] = step(model, loss, sgd, x, Fixtures.labels(random, (int) shape[0], classes));
                }
            }
        }
        return losses;
    }

    /** Losses with the native and with the pure-Java kernels: {native, java}. */
    static float[][] lossesWithBothKernels(java.util.function.Function<BatchNormKernels, Module> factory, Format format,
                                           long[] shape, int classes) {
        return new float[][] {
            train(() -> factory.apply(Kernels.named("native")), format, shape, classes, 6),
            train(() -> factory.apply(Kernels.named("java")), format, shape, classes, 6),
        };
    }

    @Test
    void mlpTrainsTheSameWithNativeAndJavaKernels() {
        float[][] losses = lossesWithBothKernels(k -> Fixtures.mlp(k, 5, 12, 16, 4), Format.NC, new long[] {8, 12}, 4);
        Compare.assertClose(losses[1], losses[0], 1e-5, 1e-5, "MLP losses, native vs java");
        assertTrue(losses[0][0] != losses[0][5], "the loss changes over training");
    }

    @Test
    void nchwBlockTrainsTheSameWithNativeAndJavaKernels() {
        // BatchNorm2d -> ReLU on NCHW, flattened into a Linear
        float[][] losses = lossesWithBothKernels(k -> new Sequential(BatchNorm2d.builder(3).kernels(k).build(), new ReLU(),
                new Flatten(), new Linear(3 * 3 * 2, 5, true, 9)), Format.NCHW, new long[] {8, 3, 3, 2}, 5);
        Compare.assertClose(losses[1], losses[0], 1e-5, 1e-5, "NCHW block losses, native vs java");
    }

    @Test
    void anMlpWithBatchNormLearnsABatch() {
        Random random = new Random(22);
        int[] y = Fixtures.labels(random, 16, 4);
        try (Sequential model = Fixtures.mlp(Kernels.best(), 3, 8, 32, 4);
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             SGD sgd = new SGD(model.parameters(), 0.1, 0.9, 0);
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 16 * 8, 0, 1), 16, 8)) {
            float first = step(model, loss, sgd, x, y);
            float last = first;
            for (int k = 0; k < 100; k++) {
                last = step(model, loss, sgd, x, y);
            }
            assertTrue(last < 0.05f * first, "loss " + first + " -> " + last + " after 100 steps on one batch");
            model.eval();
            int[] predicted = SoftmaxCrossEntropy.argmax(model.forward(x));
            int correct = 0;
            for (int i = 0; i < y.length; i++) {
                correct += predicted[i] == y[i] ? 1 : 0;
            }
            assertTrue(correct >= 14, correct + " of 16 right in eval mode");
        }
    }

    @Test
    void steadyStateAllocatesNothing() {
        long small = steadyStateHeapBytesPerStep(256);
        long large = steadyStateHeapBytesPerStep(1024);
        // No activation reaches the heap: a step allocates only small bookkeeping objects (argument
        // checks, views; about 10 KB while the code is not yet compiled, and varying by about 1 KB
        // between runs), whose size does not depend on the batch size. Copying even the smallest
        // activation, the (N, 10) logits, would add 4*N*10 bytes per step: 10240 at N = 256,
        // 40960 at N = 1024; the batches are large enough for that to stand out of the bookkeeping.
        assertTrue(large < 4L * 1024 * 10 && large - small < 4L * (1024 - 256) * 10 / 2,
                "heap bytes per step: " + small + " at N = 256, " + large + " at N = 1024");
    }

    /** Runs steps of a 20-32-32-10 MLP at batch n, asserts no native allocation, returns heap bytes per step. */
    private static long steadyStateHeapBytesPerStep(int n) {
        Random random = new Random(23);
        int[] y = Fixtures.labels(random, n, 10);
        try (Sequential model = new Sequential(new Linear(20, 32, false, 1), BatchNorm1d.builder(32).build(), new ReLU(),
                     new Linear(32, 32, false, 2), BatchNorm1d.builder(32).momentum(null).build(), new Sigmoid(),
                     new Linear(32, 10, true, 3));
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             SGD sgd = new SGD(model.parameters(), 0.05, 0.9, 1e-4);
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, n * 20, 0, 1), n, 20)) {
            Runnable evalPass = () -> {
                model.eval();
                model.forward(x);
                model.backward(loss.backward());
                model.train();
            };
            for (int k = 0; k < 3; k++) { // warm-up: first allocation of every output at this shape
                step(model, loss, sgd, x, y);
            }
            evalPass.run();
            long bytes = Tensor.allocatedBytes();
            long count = Tensor.allocations();
            long live = Tensor.liveBytes();
            com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long heap = threads.getCurrentThreadAllocatedBytes();
            int steps = 100;
            for (int k = 0; k < steps; k++) {
                step(model, loss, sgd, x, y);
                if (k % 10 == 0) {
                    evalPass.run();
                }
            }
            long heapPerStep = (threads.getCurrentThreadAllocatedBytes() - heap) / steps;
            assertEquals(count, Tensor.allocations(), "native allocations by tensors in the steady state, N = " + n);
            assertEquals(bytes, Tensor.allocatedBytes(), "native bytes allocated by tensors in the steady state");
            assertEquals(live, Tensor.liveBytes());
            return heapPerStep;
        }
    }

    @Test
    void aNewBatchShapeReallocatesOnceThenIsSteadyAgain() {
        try (Sequential model = Fixtures.mlp(Kernels.best(), 4, 6, 8, 3);
             Tensor a = Tensor.zeros(Format.NC, 5, 6);
             Tensor b = Tensor.zeros(Format.NC, 7, 6)) {
            model.forward(a);
            long count = Tensor.allocations();
            long live = Tensor.liveBytes();
            model.forward(b);
            assertTrue(Tensor.allocations() > count, "a new batch size allocates new outputs");
            // Linear, BatchNorm and Linear outputs; the ReLU runs fused into the BatchNorm and has none
            assertEquals(live + 4L * (7 - 5) * (8 + 8 + 3), Tensor.liveBytes(), "the old outputs were freed");
            count = Tensor.allocations();
            model.forward(b);
            assertEquals(count, Tensor.allocations());
        }
    }

    @Test
    void usingAModuleFromAnotherThreadFailsLoudly() throws Exception {
        Random random = new Random(24);
        int[] y = Fixtures.labels(random, 6, 3);
        try (Sequential model = Fixtures.mlp(Kernels.best(), 6, 5, 8, 3);
             SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             SGD sgd = new SGD(model.parameters(), 0.1, 0.9, 0);
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 30, 0, 1), 6, 5)) {
            step(model, loss, sgd, x, y);
            Map<String, Object> before = Fixtures.snapshot(model);
            ExecutorService other = Executors.newSingleThreadExecutor();
            try {
                Runnable[] forbidden = {
                    () -> model.forward(x),
                    () -> model.backward(loss.backward()),
                    () -> {
                        try (Tensor own = Tensor.zeros(Format.NC, 6, 5)) { // even with the thread's own tensor
                            model.forward(own);
                        }
                    },
                    model::train,
                    model::zeroGrad,
                    sgd::step,
                    model::close,
                };
                for (Runnable r : forbidden) {
                    ExecutionException e = assertThrows(ExecutionException.class, () -> other.submit(r).get());
                    assertInstanceOf(WrongThreadException.class, e.getCause(), e.getCause().toString());
                }
            } finally {
                other.shutdown();
            }
            Fixtures.assertUnchanged(before, model, "after calls from another thread");
            step(model, loss, sgd, x, y); // still usable by its own thread
        }
    }

    @Test
    void closedModulesFailLoudly() {
        Sequential model = Fixtures.mlp(Kernels.best(), 7, 4, 4, 2);
        Tensor weight = model.parameters().get(0).value();
        model.close();
        model.close(); // idempotent
        assertTrue(model.isClosed() && model.get(1).isClosed(), "children are closed with their parent");
        assertTrue(!weight.isAlive(), "parameters are freed");
        try (Tensor x = Tensor.zeros(Format.NC, 3, 4)) {
            Fixtures.assertMessage(IllegalStateException.class, "module is closed", () -> model.forward(x));
        }
    }
}
