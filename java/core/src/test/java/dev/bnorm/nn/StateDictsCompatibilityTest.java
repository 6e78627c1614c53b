package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What PyTorch ({@code load_state_dict}) and the reference reader (the {@code safetensors}
 * package, {@code safetensors/src/tensor.rs}: serde into {@code Option<HashMap<String, String>>}
 * metadata and {@code TensorInfo {dtype, shape, data_offsets}} without deny_unknown_fields, then
 * {@code validate}) accept is loaded; what they refuse is refused. Also the file and model edges:
 * a FIFO, a directory, a tensor of the model closed by the caller.
 */
class StateDictsCompatibilityTest {

    @TempDir
    Path dir;
    Path valid;

    @BeforeEach
    void saveValid() throws IOException {
        valid = dir.resolve("valid.safetensors");
        try (Sequential model = StateDictsTest.trainedModel(1)) {
            StateDicts.save(model, valid);
        }
    }

    /** Removes {@code key}'s entry and its bytes from the data, moving later offsets down. */
    static UnaryOperator<byte[]> without(String key) {
        return bytes -> {
            StateDictsTest.Parts p = StateDictsTest.parts(bytes);
            List<?> gone = (List<?>) p.entry(key).get("data_offsets");
            long begin = (Long) gone.get(0);
            long length = (Long) gone.get(1) - begin;
            Map<String, Object> header = new LinkedHashMap<>();
            p.header().forEach((k, v) -> {
                if (k.equals(key)) {
                    return;
                }
                if (!k.equals("__metadata__")) {
                    Map<String, Object> e = new LinkedHashMap<>(StateDictsTest.parts(bytes).entry(k));
                    List<?> o = (List<?>) e.get("data_offsets");
                    long shift = (Long) o.get(0) >= begin + length ? length : 0;
                    e.put("data_offsets", List.of((Long) o.get(0) - shift, (Long) o.get(1) - shift));
                    v = e;
                }
                header.put(k, v);
            });
            byte[] data = new byte[(int) (p.data().length - length)];
            System.arraycopy(p.data(), 0, data, 0, (int) begin);
            System.arraycopy(p.data(), (int) (begin + length), data, (int) begin, data.length - (int) begin);
            return StateDictsTest.file(new StateDictsTest.Parts(header, data));
        };
    }

    static Stream<Arguments> accepted() {
        return Stream.of(
            Arguments.of("\"__metadata__\": null", StateDictsTest.replace("{\"format\":\"pt\"}", "null")),
            Arguments.of("no __metadata__", StateDictsTest.edit(p -> p.header().remove("__metadata__"))),
            Arguments.of("other metadata", StateDictsTest.replace("{\"format\":\"pt\"}", "{\"format\":\"np\",\"x\":\"\"}")),
            Arguments.of("an unknown field in an entry", StateDictsTest.edit(p -> p.entry("0.weight").put("offset", 0L))),
            Arguments.of("unknown fields of any JSON type", StateDictsTest.edit(p -> p.entry("3.bias").put("notes",
                    Map.of("a", List.of(1.5, "b", Json.NULL), "c", true)))),
            Arguments.of("entries in reverse order", StateDictsTest.edit(p -> {
                List<Map.Entry<String, Object>> list = new ArrayList<>(p.header().entrySet());
                Collections.reverse(list);
                Map<String, Object> reversed = new LinkedHashMap<>();
                list.forEach(e -> reversed.put(e.getKey(), e.getValue()));
                p.header().clear();
                p.header().putAll(reversed);
            })),
            Arguments.of("whitespace around the header object", StateDictsTest.replace("}}", "} }\n\t ")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("accepted")
    void whatTheReferenceReaderAcceptsLoads(String name, UnaryOperator<byte[]> edit) throws IOException {
        Path file = dir.resolve("accepted.safetensors");
        Files.write(file, edit.apply(Files.readAllBytes(valid)));
        try (Sequential expected = StateDictsTest.trainedModel(1); Sequential model = StateDictsTest.trainedModel(9)) {
            StateDicts.load(model, file);
            assertEquals(Fixtures.snapshot(expected).keySet(), Fixtures.snapshot(model).keySet());
            expected.stateDict().forEach((k, t) -> assertArrayEquals(t.toArray(), model.stateDict().get(k).toArray(), k));
            assertEquals(3, model.counters().get("1.num_batches_tracked").get());
        }
    }

    /** PyTorch's BatchNorm._load_from_state_dict: a missing num_batches_tracked becomes 0 (state dict version < 2). */
    @Test
    void aFileWithoutNumBatchesTrackedLoadsWithTheCounterAtZero() throws IOException {
        Path file = dir.resolve("old.safetensors");
        Files.write(file, without("1.num_batches_tracked").apply(Files.readAllBytes(valid)));
        try (Sequential expected = StateDictsTest.trainedModel(1); Sequential model = StateDictsTest.trainedModel(9)) {
            assertEquals(3, model.counters().get("1.num_batches_tracked").get());
            StateDicts.load(model, file);
            expected.stateDict().forEach((k, t) -> assertArrayEquals(t.toArray(), model.stateDict().get(k).toArray(), k));
            assertEquals(0, model.counters().get("1.num_batches_tracked").get());
        }
    }

    static Stream<Arguments> refused() {
        return Stream.of(
            Arguments.of("metadata an array", StateDictsTest.replace("{\"format\":\"pt\"}", "[\"pt\"]"),
                    "__metadata__: expected null or an object of strings, got [pt]"),
            Arguments.of("metadata a string", StateDictsTest.replace("{\"format\":\"pt\"}", "\"pt\""),
                    "__metadata__: expected null or an object of strings"),
            Arguments.of("a metadata value null", StateDictsTest.replace("{\"format\":\"pt\"}", "{\"format\":null}"),
                    "__metadata__: expected null or an object of strings"),
            Arguments.of("a field twice in an entry", StateDictsTest.replace("{\"dtype\":\"F32\",\"shape\":[8,6]",
                    "{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[8,6]"), "duplicate key \"dtype\""),
            Arguments.of("__metadata__ twice", StateDictsTest.replace("{\"__metadata__\":{\"format\":\"pt\"}",
                    "{\"__metadata__\":null,\"__metadata__\":{\"format\":\"pt\"}"), "duplicate key \"__metadata__\""),
            Arguments.of("dtype missing", StateDictsTest.edit(p -> p.entry("0.weight").remove("dtype")),
                    "0.weight: expected the fields [dtype, shape, data_offsets]"),
            Arguments.of("data_offsets missing", StateDictsTest.edit(p -> p.entry("3.bias").remove("data_offsets")),
                    "3.bias: expected the fields [dtype, shape, data_offsets]"),
            Arguments.of("data_offsets of three integers", StateDictsTest.replace("[0,192]", "[0,192,192]"),
                    "0.weight.data_offsets: expected an array of 2 integers"),
            Arguments.of("shape a string", StateDictsTest.replace("[8,6]", "\"8,6\""),
                    "0.weight.shape: expected an array of integers >= 0"),
            Arguments.of("a missing key that is not num_batches_tracked", without("1.running_var"),
                    "missing keys [1.running_var]"),
            Arguments.of("data not covered to the end", (UnaryOperator<byte[]>) b -> Arrays.copyOf(b, b.length + 4),
                    "data: expected the tensors to cover all"),
            Arguments.of("a header of whitespace", (UnaryOperator<byte[]>) b -> StateDictsTest.file("  ", new byte[0]),
                    "header: expected JSON"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refused")
    void whatTheReferenceReaderRefusesIsRefused(String name, UnaryOperator<byte[]> edit, String message)
            throws IOException {
        Path file = dir.resolve("refused.safetensors");
        Files.write(file, edit.apply(Files.readAllBytes(valid)));
        try (Sequential model = StateDictsTest.trainedModel(9)) {
            Map<String, Object> before = Fixtures.snapshot(model);
            Fixtures.assertMessage(SafetensorsException.class, message, () -> StateDicts.load(model, file));
            Fixtures.assertUnchanged(before, model, name);
        }
    }

    @Test
    void aTensorOfTheModelClosedByTheCallerFailsTheLoadBeforeAnythingIsWritten() throws IOException {
        try (Sequential model = StateDictsTest.trainedModel(9)) {
            Map<String, Tensor> state = model.stateDict();
            state.get("3.bias").close(); // the last one written
            Map<String, float[]> before = new LinkedHashMap<>();
            state.forEach((k, t) -> {
                if (t.isAlive()) {
                    before.put(k, t.toArray());
                }
            });
            long counter = model.counters().get("1.num_batches_tracked").get();
            Fixtures.assertMessage(IllegalStateException.class, "3.bias: expected an open tensor in the model",
                    () -> StateDicts.load(model, valid));
            Fixtures.assertMessage(IllegalStateException.class, "3.bias: expected an open tensor in the model",
                    () -> model.loadStateDict(state));
            before.forEach((k, v) -> assertArrayEquals(v, state.get(k).toArray(), "unchanged: " + k));
            assertEquals(counter, model.counters().get("1.num_batches_tracked").get());
        }
    }

    /**
     * Before the check, opening the FIFO blocked until a writer came: forever, and uninterruptibly,
     * so the backstop timeout runs the test on a thread of its own.
     */
    @Test
    @EnabledOnOs({OS.LINUX, OS.MAC})
    @Timeout(value = 10, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aFifoOrADirectoryIsRefusedBeforeItIsOpened() throws IOException, InterruptedException {
        Path fifo = dir.resolve("fifo.safetensors");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        assertEquals(0, mkfifo.waitFor(), "mkfifo");
        try (Sequential model = StateDictsTest.trainedModel(9)) {
            Map<String, Object> before = Fixtures.snapshot(model);
            Fixtures.assertMessage(SafetensorsException.class,
                    "expected a regular file, got a special file (FIFO, socket or device)", () -> StateDicts.load(model, fifo));
            Fixtures.assertMessage(SafetensorsException.class, "expected a regular file, got a directory",
                    () -> StateDicts.load(model, dir));
            Fixtures.assertUnchanged(before, model, "refused");
            assertTrue(Files.exists(fifo));
        }
    }
}
