package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Kernels;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Checkpoints: an interrupted save leaves the previous file intact and no temporary file behind,
 * and model plus optimizer state saved after k steps resume training bit for bit.
 */
class CheckpointTest {

    @TempDir
    Path dir;

    /** A channel that accepts {@code limit} bytes, then fails as a full disk would. */
    static WritableByteChannel failingAfter(WritableByteChannel ch, long limit) {
        return new WritableByteChannel() {
            long written;

            @Override
            public int write(ByteBuffer src) throws IOException {
                if (written >= limit) {
                    throw new IOException("No space left on device (simulated after " + limit + " bytes)");
                }
                ByteBuffer part = src.slice().limit((int) Math.min(src.remaining(), limit - written));
                int n = ch.write(part);
                src.position(src.position() + n);
                written += n;
                return n;
            }

            @Override
            public boolean isOpen() {
                return ch.isOpen();
            }

            @Override
            public void close() throws IOException {
                ch.close();
            }
        };
    }

    @Test
    void aSaveFailingMidWriteLeavesThePreviousFileIntactAndNoTemporaryFile() throws IOException {
        Path file = dir.resolve("model.safetensors");
        try (Sequential old = Fixtures.mlp(Kernels.best(), 1, 6, 8, 3);
             Sequential changed = Fixtures.mlp(Kernels.best(), 2, 6, 8, 3)) {
            StateDicts.save(old, file);
            byte[] before = Files.readAllBytes(file);
            for (long limit : new long[] {0, 5, 100, before.length - 1}) {
                IOException e = assertThrows(IOException.class,
                        () -> StateDicts.save(changed, file, ch -> failingAfter(ch, limit)));
                assertEquals("No space left on device (simulated after " + limit + " bytes)", e.getMessage());
                assertArrayEquals(before, Files.readAllBytes(file), "the previous checkpoint, after a failure at " + limit);
                try (Stream<Path> files = Files.list(dir)) {
                    assertEquals(List.of(file), files.toList(), "no temporary file left");
                }
            }
            StateDicts.save(changed, file); // and a successful save replaces it
            try (Sequential loaded = Fixtures.mlp(Kernels.best(), 3, 6, 8, 3)) {
                StateDicts.load(loaded, file);
                assertArrayEquals(changed.parameters().get(0).value().toArray(), loaded.parameters().get(0).value().toArray());
            }
            try (Stream<Path> files = Files.list(dir)) {
                assertEquals(List.of(file), files.toList());
            }
        }
    }

    @Test
    void aSaveFailingOnAClosedTensorLeavesThePreviousFileIntact() throws IOException {
        Path file = dir.resolve("model.safetensors");
        try (Sequential model = Fixtures.mlp(Kernels.best(), 1, 6, 8, 3)) {
            StateDicts.save(model, file);
            byte[] before = Files.readAllBytes(file);
            model.parameters().get(2).value().close(); // the last Linear's weight, written after the others
            assertThrows(IllegalStateException.class, () -> StateDicts.save(model, file));
            assertArrayEquals(before, Files.readAllBytes(file));
            try (Stream<Path> files = Files.list(dir)) {
                assertEquals(List.of(file), files.toList());
            }
        }
    }

    static final Map<String, Function<List<Parameter>, Optimizer>> OPTIMIZERS = Map.of(
            "sgd", p -> SGD.builder(p, 0.1).momentum(0.9).weightDecay(1e-3).build(),
            "nesterov", p -> SGD.builder(p, 0.05).momentum(0.8).nesterov(true).build(),
            "adam", p -> Adam.builder(p).lr(1e-2).weightDecay(1e-3).build(),
            "adamw", p -> AdamW.builder(p).lr(1e-2).amsgrad(true).build());

    /** Runs steps [from, to) of a fixed sequence of batches. */
    static void train(Module model, Optimizer optimizer, int from, int to) {
        try (SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy()) {
            for (int k = from; k < to; k++) {
                Random random = new Random(1000 + k);
                try (Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 40, 0, 1), 8, 5)) {
                    optimizer.zeroGrad();
                    loss.forward(model.forward(x), Fixtures.labels(random, 8, 3));
                    model.backward(loss.backward());
                    optimizer.step();
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"sgd", "nesterov", "adam", "adamw"})
    void trainingResumedFromACheckpointIsBitIdentical(String kind) throws IOException {
        int n = 7;
        int k = 3;
        Path modelFile = dir.resolve("model.safetensors");
        Path optimizerFile = dir.resolve("optimizer.safetensors");
        try (Sequential straight = Fixtures.mlp(Kernels.best(), 1, 5, 6, 3);
             Optimizer straightOpt = OPTIMIZERS.get(kind).apply(straight.parameters())) {
            train(straight, straightOpt, 0, n);
            try (Sequential first = Fixtures.mlp(Kernels.best(), 1, 5, 6, 3);
                 Optimizer firstOpt = OPTIMIZERS.get(kind).apply(first.parameters())) {
                train(first, firstOpt, 0, k);
                StateDicts.save(first, modelFile);
                StateDicts.save(firstOpt, optimizerFile);
            }
            try (Sequential resumed = Fixtures.mlp(Kernels.best(), 99, 5, 6, 3); // other weights until loaded
                 Optimizer resumedOpt = OPTIMIZERS.get(kind).apply(resumed.parameters())) {
                StateDicts.load(resumed, modelFile);
                StateDicts.load(resumedOpt, optimizerFile);
                train(resumed, resumedOpt, k, n);
                Fixtures.assertUnchanged(Fixtures.snapshot(straight), resumed, "resumed after " + k + " of " + n + " steps");
                assertEquals(straightOpt.state().buffers().keySet(), resumedOpt.state().buffers().keySet());
                straightOpt.state().buffers().forEach((key, t) ->
                        assertArrayEquals(t.toArray(), resumedOpt.state().buffers().get(key).toArray(), key));
                straightOpt.state().counters().forEach((key, c) ->
                        assertEquals(c.get(), resumedOpt.state().counters().get(key).get(), key));
            }
        }
    }

    @Test
    void withoutTheOptimizerStateAdamDoesNotResumeExactly() throws IOException {
        // the control of the test above: the optimizer state matters
        try (Sequential straight = Fixtures.mlp(Kernels.best(), 1, 5, 6, 3);
             Optimizer straightOpt = OPTIMIZERS.get("adam").apply(straight.parameters());
             Sequential resumed = Fixtures.mlp(Kernels.best(), 1, 5, 6, 3);
             Optimizer firstOpt = OPTIMIZERS.get("adam").apply(resumed.parameters())) {
            train(straight, straightOpt, 0, 7);
            train(resumed, firstOpt, 0, 3);
            try (Optimizer fresh = OPTIMIZERS.get("adam").apply(resumed.parameters())) {
                train(resumed, fresh, 3, 7);
            }
            assertEquals(false, java.util.Arrays.equals(straight.parameters().get(0).value().toArray(),
                    resumed.parameters().get(0).value().toArray()));
        }
    }

    @Test
    void optimizerStateKeysAreDocumentedAndAFileOfAnotherOptimizerIsRefused() throws IOException {
        Path file = dir.resolve("adam.safetensors");
        try (Linear layer = Linear.builder(3, 2).seed(1).build();
             Adam adam = Adam.builder(layer.parameters()).amsgrad(true).build();
             SGD sgd = SGD.builder(layer.parameters(), 0.1).momentum(0.9).build()) {
            StateDicts.save(adam, file);
            assertEquals(List.of("state.0.exp_avg", "state.0.exp_avg_sq", "state.0.max_exp_avg_sq",
                    "state.1.exp_avg", "state.1.exp_avg_sq", "state.1.max_exp_avg_sq"),
                    List.copyOf(adam.state().buffers().keySet()));
            assertEquals(List.of("state.0.step", "state.1.step"), List.copyOf(adam.state().counters().keySet()));
            assertEquals(List.of("state.0.momentum_buffer", "state.1.momentum_buffer"),
                    List.copyOf(sgd.state().buffers().keySet()));
            Fixtures.assertMessage(SafetensorsException.class, "unexpected keys", () -> StateDicts.load(sgd, file));
        }
    }
}
