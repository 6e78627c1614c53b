package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Kernels;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Save and load in safetensors: round trip, the file layout, and every kind of malformed file. */
class StateDictsTest {

    @TempDir
    Path dir;
    Path valid;

    /** A trained model (non-trivial state, num_batches_tracked = 3). */
    static Sequential trainedModel(long seed) {
        Sequential model = Fixtures.mlp(Kernels.best(), seed, 6, 8, 3);
        Random random = new Random(seed);
        try (SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy();
             SGD sgd = new SGD(model.parameters(), 0.1, 0.9, 0.01)) {
            for (int k = 0; k < 3; k++) {
                try (Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 30, 0, 1), 5, 6)) {
                    TrainingTest.step(model, loss, sgd, x, Fixtures.labels(random, 5, 3));
                }
            }
        }
        return model;
    }

    @BeforeEach
    void saveValid() throws IOException {
        valid = dir.resolve("valid.safetensors");
        try (Sequential model = trainedModel(1)) {
            StateDicts.save(model, valid);
        }
    }

    @Test
    void roundTripRestoresEverything() throws IOException {
        try (Sequential a = trainedModel(1); Sequential b = trainedModel(2);
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(new Random(3), 24, 0, 1), 4, 6)) {
            StateDicts.load(b, valid);
            for (String key : a.stateDict().keySet()) {
                assertArrayEquals(a.stateDict().get(key).toArray(), b.stateDict().get(key).toArray(), key);
            }
            assertEquals(3, b.counters().get("1.num_batches_tracked").get());
            a.eval();
            b.eval();
            assertArrayEquals(a.forward(x).toArray(), b.forward(x).toArray(), "same eval output");
        }
    }

    @Test
    void fileLayoutIsSafetensorsWithPyTorchKeys() throws IOException {
        byte[] bytes = Files.readAllBytes(valid);
        ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long length = buffer.getLong(0);
        assertEquals(0, length % 8, "header padded to 8 bytes");
        @SuppressWarnings("unchecked")
        Map<String, Object> header = (Map<String, Object>) Json.parse(new String(bytes, 8, (int) length, StandardCharsets.UTF_8));
        assertEquals(List.of("__metadata__", "0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                "1.num_batches_tracked", "3.weight", "3.bias"), List.copyOf(header.keySet()));
        assertEquals(Map.of("format", "pt"), header.get("__metadata__"));
        assertEquals(Map.of("dtype", "F32", "shape", List.of(8L, 6L), "data_offsets", List.of(0L, 192L)),
                header.get("0.weight"));
        @SuppressWarnings("unchecked")
        Map<String, Object> counter = (Map<String, Object>) header.get("1.num_batches_tracked");
        assertEquals("I64", counter.get("dtype"));
        assertEquals(List.of(), counter.get("shape"));
        int start = 8 + (int) length + (int) (long) ((List<?>) counter.get("data_offsets")).get(0);
        assertEquals(3L, buffer.getLong(start), "num_batches_tracked, little-endian int64");
        try (Sequential model = trainedModel(1)) {
            assertEquals(model.stateDict().get("0.weight").get(0, 1), buffer.getFloat(8 + (int) length + 4),
                    "0.weight[0][1], little-endian float32");
        }
    }

    // ---- malformed files: each leaves the model exactly as it was ----

    /** The valid file's parts, to be edited into malformed ones. */
    record Parts(Map<String, Object> header, byte[] data) {
        @SuppressWarnings("unchecked")
        Map<String, Object> entry(String key) {
            return (Map<String, Object>) header.get(key);
        }
    }

    static Parts parts(byte[] file) {
        int length = (int) ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        @SuppressWarnings("unchecked")
        Map<String, Object> header = (Map<String, Object>) Json.parse(new String(file, 8, length, StandardCharsets.UTF_8));
        return new Parts(header, Arrays.copyOfRange(file, 8 + length, file.length));
    }

    /** A file from a header text and data. */
    static byte[] file(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length).put(h).put(data).array();
    }

    static byte[] file(Parts p) {
        return file(toJson(p.header()), p.data());
    }

    /** A JSON text for the test's own edits (maps, lists, strings, numbers). */
    static String toJson(Object v) {
        if (v instanceof Map<?, ?> m) {
            List<String> parts = new ArrayList<>();
            m.forEach((k, x) -> parts.add(Json.quote((String) k) + ":" + toJson(x)));
            return "{" + String.join(",", parts) + "}";
        }
        if (v instanceof List<?> l) {
            return "[" + String.join(",", l.stream().map(StateDictsTest::toJson).toList()) + "]";
        }
        return v instanceof String s ? Json.quote(s) : String.valueOf(v);
    }

    /** Edits the parsed parts of the valid file. */
    static UnaryOperator<byte[]> edit(java.util.function.Consumer<Parts> change) {
        return edit(change, 0);
    }

    /** Edits the parsed parts of the valid file, and grows or shrinks its data by {@code dataDelta} bytes. */
    static UnaryOperator<byte[]> edit(java.util.function.Consumer<Parts> change, int dataDelta) {
        return bytes -> {
            Parts p = parts(bytes);
            Map<String, Object> copy = new LinkedHashMap<>();
            p.header().forEach((k, v) -> copy.put(k, v instanceof Map<?, ?> m ? new LinkedHashMap<>(m) : v));
            Parts q = new Parts(copy, Arrays.copyOf(p.data(), p.data().length + dataDelta));
            change.accept(q);
            return file(q);
        };
    }

    /** Replaces text in the header, keeping the data. */
    static UnaryOperator<byte[]> replace(String from, String to) {
        return bytes -> {
            Parts p = parts(bytes);
            String header = toJson(p.header());
            assertTrue(header.contains(from), "test setup: header contains " + from);
            return file(header.replaceFirst(java.util.regex.Pattern.quote(from), to), p.data());
        };
    }

    static Stream<Arguments> malformed() {
        return Stream.of(
            Arguments.of("shorter than the length field", (UnaryOperator<byte[]>) b -> Arrays.copyOf(b, 5),
                    "truncated: expected at least 8 bytes"),
            Arguments.of("empty file", (UnaryOperator<byte[]>) b -> new byte[0], "truncated"),
            Arguments.of("cut inside the header", (UnaryOperator<byte[]>) b -> Arrays.copyOf(b, 100),
                    "is past the end of the file"),
            Arguments.of("cut inside the data", (UnaryOperator<byte[]>) b -> Arrays.copyOf(b, b.length - 4),
                    "3.bias.data_offsets: expected 0 <= begin <= end <="),
            Arguments.of("header length past the end", (UnaryOperator<byte[]>) b -> withLength(b, b.length),
                    "header length " + "%d is past the end"),
            Arguments.of("huge header length", (UnaryOperator<byte[]>) b -> withLength(b, -1L),
                    "header length 18446744073709551615 is past the end of the file"),
            Arguments.of("bad JSON", (UnaryOperator<byte[]>) b -> file("{\"a\":[1,2,]}", new byte[0]),
                    "header: expected JSON, at offset 10: expected a value, got ']'"),
            Arguments.of("not UTF-8", (UnaryOperator<byte[]>) b -> {
                byte[] c = b.clone();
                c[10] = (byte) 0xFF;
                return c;
            }, "header: expected UTF-8 text"),
            Arguments.of("header not an object", (UnaryOperator<byte[]>) b -> file("[]", new byte[0]),
                    "header: expected a JSON object"),
            Arguments.of("trailing text after the header object", replace("}}", "}} x"), "expected the end of the text"),
            Arguments.of("duplicate key", replace(",\"1.weight\":", ",\"0.weight\":{},\"1.weight\":"),
                    "duplicate key \"0.weight\""),
            Arguments.of("unknown dtype", replace("\"F32\"", "\"Q32\""), "0.weight.dtype: expected one of"),
            Arguments.of("wrong dtype for the key", replace("\"dtype\":\"F32\",\"shape\":[8]", "\"dtype\":\"I32\",\"shape\":[8]"),
                    "1.weight: expected dtype F32, BF16 or F16, got I32"),
            Arguments.of("I64 counter as F64", replace("\"I64\"", "\"F64\""),
                    "1.num_batches_tracked: expected dtype I64, got F64"),
            Arguments.of("wrong shape", replace("[8,6]", "[6,8]"), "0.weight: expected shape [8, 6], got [6, 8]"),
            Arguments.of("counter with shape [1]", replace("\"I64\",\"shape\":[]", "\"I64\",\"shape\":[1]"),
                    "1.num_batches_tracked: expected shape [], got [1]"),
            Arguments.of("negative dimension", replace("[8,6]", "[8,-6]"), "0.weight.shape[1]: expected an integer >= 0"),
            Arguments.of("fractional dimension", replace("[8,6]", "[8,6.0]"), "0.weight.shape[1]: expected an integer >= 0"),
            Arguments.of("size overflow", replace("[8,6]", "[4611686018427387904,4]"),
                    "0.weight.shape: expected a size in bytes that fits in 64 bits"),
            Arguments.of("offsets do not match the size", replace("[0,192]", "[0,191]"),
                    "0.weight.data_offsets: expected end - begin = 192 bytes"),
            Arguments.of("offsets out of range", edit(p -> p.entry("3.bias").put("data_offsets", List.of(10_000L, 10_012L))),
                    "3.bias.data_offsets: expected 0 <= begin <= end <= 436"),
            Arguments.of("begin after end", replace("[0,192]", "[192,0]"), "0.weight.data_offsets: expected 0 <= begin <= end"),
            Arguments.of("offsets overlap", edit(p -> p.entry("1.bias").put("data_offsets", List.of(188L, 220L))),
                    "expected no overlap"),
            Arguments.of("gap between tensors", edit(p -> {
                for (String k : List.of("3.weight", "3.bias")) {
                    List<?> o = (List<?>) p.entry(k).get("data_offsets");
                    p.entry(k).put("data_offsets", List.of((Long) o.get(0) + 4, (Long) o.get(1) + 4));
                }
            }, 4), "3.weight.data_offsets: expected data to start at 328 (no gap between tensors), got 332"),
            Arguments.of("trailing data", (UnaryOperator<byte[]>) b -> Arrays.copyOf(b, b.length + 8),
                    "data: expected the tensors to cover all 444 bytes after the header, got 436 covered"),
            Arguments.of("offsets not two integers", replace("[0,192]", "[0]"), "0.weight.data_offsets: expected an array of 2"),
            Arguments.of("missing key", edit(p -> p.header().remove("3.bias"), -12),
                    "keys: expected the keys [0.weight, 1.bias, 1.num_batches_tracked, 1.running_mean, 1.running_var, "
                    + "1.weight, 3.bias, 3.weight], got missing keys [3.bias] and unexpected keys []"),
            Arguments.of("unexpected key", edit(p -> p.header().put("4.weight", Map.of("dtype", "F32",
                    "shape", List.of(1L), "data_offsets", List.of(436L, 440L))), 4), "unexpected keys [4.weight]"),
            Arguments.of("entry not an object", replace("\"0.weight\":{", "\"0.weight\":[{"), "expected ',' or ']'"),
            Arguments.of("metadata not strings", replace("{\"format\":\"pt\"}", "{\"format\":1}"),
                    "__metadata__: expected null or an object of strings"),
            Arguments.of("deep nesting", replace("{\"format\":\"pt\"}", "[".repeat(100) + "]".repeat(100)),
                    "expected at most 64 levels of nesting"),
            Arguments.of("a million-digit integer", replace("[8,6]", "[8," + "6".repeat(1_000_000) + "]"),
                    "header: expected JSON, at offset 69: expected a number of at most 100 characters, got 1000000"),
            Arguments.of("a string of 2^24 + 1 characters", replace("\"pt\"", "\"" + "p".repeat((1 << 24) + 1) + "\""),
                    "expected a string of at most 16777216 characters, got more"),
            Arguments.of("negative counter", (UnaryOperator<byte[]>) b -> withCounter(b, -1),
                    "1.num_batches_tracked: expected a count >= 0, got -1"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void malformedFilesAreRefusedAndTheModelIsUnchanged(String name, UnaryOperator<byte[]> corrupt, String message)
            throws IOException {
        byte[] bytes = Files.readAllBytes(valid);
        Path bad = dir.resolve("bad.safetensors");
        Files.write(bad, corrupt.apply(bytes));
        try (Sequential model = trainedModel(5)) {
            Map<String, Object> before = Fixtures.snapshot(model);
            String expected = message.contains("%d") ? String.format(message, bytes.length) : message;
            SafetensorsException e = Fixtures.assertMessage(SafetensorsException.class, expected,
                    () -> StateDicts.load(model, bad));
            assertTrue(e.getMessage().startsWith(bad.toString()), "the message names the file: " + e.getMessage());
            Fixtures.assertUnchanged(before, model, name);
        }
    }

    static byte[] withLength(byte[] b, long length) {
        byte[] c = b.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length);
        return c;
    }

    static byte[] withCounter(byte[] b, long value) {
        Parts p = parts(b);
        int at = (int) (long) ((List<?>) p.entry("1.num_batches_tracked").get("data_offsets")).get(0);
        ByteBuffer.wrap(p.data()).order(ByteOrder.LITTLE_ENDIAN).putLong(at, value);
        return file(p);
    }

    @Test
    void aMissingFileIsAPlainIOExceptionAndChangesNothing() throws IOException {
        try (Sequential model = trainedModel(6)) {
            Map<String, Object> before = Fixtures.snapshot(model);
            assertThrows(NoSuchFileException.class, () -> StateDicts.load(model, dir.resolve("absent.safetensors")));
            Fixtures.assertUnchanged(before, model, "missing file");
        }
    }

    @Test
    void loadStateDictFromMapsIsStrictAndAtomic() {
        try (Sequential model = trainedModel(7); Sequential other = trainedModel(8)) {
            Map<String, Object> before = Fixtures.snapshot(model);
            Map<String, Tensor> state = new LinkedHashMap<>(other.stateDict());
            state.remove("3.bias");
            Fixtures.assertMessage(IllegalArgumentException.class, "missing keys [3.bias]", () -> model.loadStateDict(state));
            state.put("3.bias", other.stateDict().get("1.bias")); // 8 elements instead of 3
            Fixtures.assertMessage(IllegalArgumentException.class, "state[3.bias]: expected an open tensor of 3 elements",
                    () -> model.loadStateDict(state));
            state.put("3.bias", other.stateDict().get("3.bias"));
            state.put("9.weight", other.stateDict().get("3.bias"));
            Fixtures.assertMessage(IllegalArgumentException.class, "unexpected keys [9.weight]", () -> model.loadStateDict(state));
            state.remove("9.weight");
            Fixtures.assertMessage(IllegalArgumentException.class, "counterValues[1.num_batches_tracked]: expected at least 0",
                    () -> model.loadStateDict(state, Map.of("1.num_batches_tracked", -2L)));
            Fixtures.assertUnchanged(before, model, "after refused loads");

            model.loadStateDict(state, Map.of("1.num_batches_tracked", 42L));
            assertArrayEquals(other.stateDict().get("3.weight").toArray(), model.stateDict().get("3.weight").toArray());
            assertEquals(42, model.counters().get("1.num_batches_tracked").get());
        }
    }
}
