package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes {@link StateDicts#load} with mutations of a valid file: truncation, flipped bytes (in the
 * header, the length field or the data), huge or wrong header lengths, data offsets past the end
 * or overlapping, broken JSON, duplicate keys, wrong or unknown dtypes, odd shapes, junk added,
 * long tokens (numbers, strings, arrays, nesting up to 200,000 characters), and combinations of up to three of these. Every load either fails with a
 * {@link SafetensorsException} and leaves the model bit for bit as it was, or succeeds and the
 * model holds exactly the file's values (a mutated file can still be valid, e.g. a flipped data
 * byte). Any other exception, an {@link OutOfMemoryError}, or a half-loaded model fails the test.
 * Case i uses {@code new Random(SEED + i)}; a failing case is written to target/ to replay.
 */
class SafetensorsFuzzTest {

    static final long SEED = 20_251_126;
    static final int CASES = 2000;
    static final List<String> DTYPES = List.of("F32", "I64", "F64", "F16", "BF16", "I32", "U8", "BOOL", "f32", "",
            "F8_E4M3", "Q4");

    @TempDir
    Path dir;

    @Test
    void mutatedFilesLoadCompletelyOrFailWithTheModelUnchanged() throws IOException {
        Path valid = dir.resolve("valid.safetensors");
        Path file = dir.resolve("mutated.safetensors");
        int refused = 0;
        try (Sequential model = StateDictsTest.trainedModel(1)) {
            StateDicts.save(model, valid);
            byte[] original = Files.readAllBytes(valid);
            for (int i = 0; i < CASES; i++) {
                Random random = new Random(SEED + i);
                StringBuilder how = new StringBuilder();
                byte[] bytes = original;
                for (int k = 1 + random.nextInt(3); k > 0; k--) {
                    bytes = mutate(bytes, random, how);
                }
                Files.write(file, bytes);
                try {
                    refused += loadOrRefuse(model, file, bytes, "case " + i + how) ? 1 : 0;
                } catch (IOException | RuntimeException | OutOfMemoryError | AssertionError e) {
                    Path keep = Path.of("target", "safetensors-fuzz-case-" + i + ".safetensors");
                    Files.write(keep, bytes);
                    throw new AssertionError("case " + i + how + " (file: " + keep.toAbsolutePath() + ")", e);
                }
            }
        }
        // most mutations break the file; a few leave it valid (flipped data bytes)
        System.out.println("SafetensorsFuzzTest: " + refused + " of " + CASES + " mutated files refused, the rest loaded");
        assertTrue(refused > CASES / 2 && refused < CASES, "refused " + refused + " of " + CASES);
    }

    /** Loads; returns true if refused (the model unchanged), false if loaded (the model holds the file). */
    private static boolean loadOrRefuse(Module model, Path file, byte[] bytes, String what) throws IOException {
        Map<String, Object> before = Fixtures.snapshot(model);
        try {
            StateDicts.load(model, file);
        } catch (SafetensorsException e) {
            Fixtures.assertUnchanged(before, model, what + " refused (" + e.getMessage() + ")");
            return true;
        }
        assertLoaded(bytes, model, what);
        return false;
    }

    /** After a successful load: every state entry holds the file's bytes at its data offsets. */
    private static void assertLoaded(byte[] bytes, Module model, String what) {
        StateDictsTest.Parts parts = StateDictsTest.parts(bytes);
        ByteBuffer data = ByteBuffer.wrap(parts.data()).order(ByteOrder.LITTLE_ENDIAN);
        model.stateDict().forEach((key, tensor) -> {
            int begin = (int) (long) (Long) ((List<?>) parts.entry(key).get("data_offsets")).get(0);
            Object dtype = parts.entry(key).get("dtype");
            float[] expected = new float[(int) tensor.size()];
            for (int j = 0; j < expected.length; j++) { // a 16-bit dtype widens: bf16 by a shift, f16 by the JDK
                expected[j] = "BF16".equals(dtype) ? Float.intBitsToFloat((data.getShort(begin + 2 * j) & 0xffff) << 16)
                        : "F16".equals(dtype) ? Float.float16ToFloat(data.getShort(begin + 2 * j))
                        : data.getFloat(begin + 4 * j);
            }
            assertArrayEquals(expected, tensor.toArray(), what + ": loaded " + key);
        });
        model.counters().forEach((key, counter) -> {
            int begin = (int) (long) (Long) ((List<?>) parts.entry(key).get("data_offsets")).get(0);
            assertEquals(data.getLong(begin), counter.get(), what + ": loaded " + key);
        });
    }

    // ---- mutations ----

    /** One random mutation of {@code bytes}; appends its description to {@code how}. */
    static byte[] mutate(byte[] bytes, Random r, StringBuilder how) {
        int headerEnd = headerEnd(bytes);
        switch (r.nextInt(13)) {
            case 0 -> {
                int length = r.nextInt(bytes.length);
                how.append(", truncated to ").append(length);
                return Arrays.copyOf(bytes, length);
            }
            case 1 -> {
                byte[] c = bytes.clone();
                for (int k = 1 + r.nextInt(4); k > 0; k--) {
                    int at = r.nextInt(c.length);
                    c[at] ^= (byte) (1 << r.nextInt(8));
                    how.append(", bit flipped at ").append(at);
                }
                return c;
            }
            case 2 -> {
                if (headerEnd < 0) {
                    return bytes;
                }
                byte[] c = bytes.clone();
                int at = 8 + r.nextInt(headerEnd - 8);
                String tokens = "{}[]\",:\\ 0-9.eEx\u0000\u00ff";
                c[at] = (byte) tokens.charAt(r.nextInt(tokens.length()));
                how.append(", header byte ").append(at).append(" = ").append(c[at]);
                return c;
            }
            case 3 -> {
                long[] lengths = {-1, Long.MAX_VALUE, Long.MIN_VALUE, 1L << 31, 1L << 32, StateDicts.MAX_HEADER + 1,
                    bytes.length, bytes.length - 7, bytes.length - 8, 0, 1, r.nextLong()};
                long length = lengths[r.nextInt(lengths.length)];
                if (headerEnd >= 0 && r.nextBoolean()) {
                    length = headerEnd - 8 + r.nextInt(9) - 4; // near the true length
                }
                how.append(", header length ").append(Long.toUnsignedString(length));
                byte[] c = bytes.clone();
                if (c.length >= 8) {
                    ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length);
                }
                return c;
            }
            case 4 -> {
                byte[] junk = new byte[1 + r.nextInt(16)];
                r.nextBytes(junk);
                int at = r.nextInt(bytes.length + 1);
                how.append(", ").append(junk.length).append(" junk bytes inserted at ").append(at);
                byte[] c = new byte[bytes.length + junk.length];
                System.arraycopy(bytes, 0, c, 0, at);
                System.arraycopy(junk, 0, c, at, junk.length);
                System.arraycopy(bytes, at, c, at + junk.length, bytes.length - at);
                return c;
            }
            case 5 -> {
                if (headerEnd < 0) {
                    return bytes;
                }
                return longToken(bytes, headerEnd, r, how);
            }
            default -> {
                return editHeader(bytes, r, how);
            }
        }
    }

    /**
     * Replaces a random stretch of the header with one long token (up to 200,000 characters: a
     * number, a string, many values or deep nesting) and fixes the header length to match, so the
     * parser, not the length check, must refuse it at a token bound or as broken JSON.
     */
    private static byte[] longToken(byte[] bytes, int headerEnd, Random r, StringBuilder how) {
        int length = 1 + r.nextInt(r.nextBoolean() ? 200 : 200_000);
        String token = switch (r.nextInt(5)) {
            case 0 -> "9".repeat(length);
            case 1 -> "-1." + "0".repeat(length) + "e1";
            case 2 -> "\"" + "k".repeat(length) + "\"";
            case 3 -> "[" + "0,".repeat(length) + "0]";
            default -> "[".repeat(length) + "]".repeat(length);
        };
        int at = 8 + r.nextInt(headerEnd - 8);
        int end = Math.min(headerEnd, at + r.nextInt(16));
        how.append(", header bytes ").append(at).append("..").append(end).append(" replaced by a token of ")
                .append(token.length()).append(" characters starting ").append(token, 0, Math.min(8, token.length()));
        byte[] t = token.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] c = new byte[bytes.length - (end - at) + t.length];
        System.arraycopy(bytes, 0, c, 0, at);
        System.arraycopy(t, 0, c, at, t.length);
        System.arraycopy(bytes, end, c, at + t.length, bytes.length - end);
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putLong(0, headerEnd - 8 - (end - at) + t.length);
        return c;
    }

    /** 8 + the header length when that lies within the file, else -1. */
    private static int headerEnd(byte[] bytes) {
        if (bytes.length < 8) {
            return -1;
        }
        long length = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        return length > 0 && length <= bytes.length - 8 ? (int) (8 + length) : -1;
    }

    /** A structural edit of the header's JSON (offsets, overlaps, dtypes, shapes, duplicate keys). */
    private static byte[] editHeader(byte[] bytes, Random r, StringBuilder how) {
        StateDictsTest.Parts p;
        try {
            p = StateDictsTest.parts(bytes);
        } catch (RuntimeException e) { // already broken: this edit needs a parseable header
            return bytes;
        }
        List<String> keys = new ArrayList<>(p.header().keySet());
        keys.remove("__metadata__");
        if (keys.isEmpty()) {
            return bytes;
        }
        String key = keys.get(r.nextInt(keys.size()));
        Map<String, Object> entry = entry(p, key);
        if (entry == null) {
            return bytes;
        }
        long dataSize = p.data().length;
        switch (r.nextInt(7)) {
            case 0 -> { // offsets past the end
                long begin = r.nextBoolean() ? dataSize : r.nextLong(dataSize + 1);
                long[] ends = {dataSize + 1, dataSize + 4, Long.MAX_VALUE, begin + 4};
                long end = Math.max(begin, ends[r.nextInt(ends.length)]);
                entry.put("data_offsets", List.of(begin, end));
                how.append(", ").append(key).append(".data_offsets = [").append(begin).append(',').append(end).append(']');
            }
            case 1 -> { // overlap another entry
                String other = keys.get(r.nextInt(keys.size()));
                Map<String, Object> o = entry(p, other);
                if (o == null) {
                    return bytes;
                }
                if (!(o.get("data_offsets") instanceof List<?> offsets && offsets.size() == 2
                        && offsets.get(0) instanceof Long && offsets.get(1) instanceof Long)) {
                    return bytes; // an earlier edit broke them
                }
                long shift = r.nextInt(9) - 4;
                entry.put("data_offsets", List.of((Long) offsets.get(0) + shift, (Long) offsets.get(1) + shift));
                how.append(", ").append(key).append(".data_offsets over ").append(other).append(" shifted ").append(shift);
            }
            case 2 -> {
                String dtype = DTYPES.get(r.nextInt(DTYPES.size()));
                entry.put("dtype", dtype);
                how.append(", ").append(key).append(".dtype = ").append(dtype);
            }
            case 3 -> {
                Object[] shapes = {List.of(), List.of(0L), List.of(1L << 62, 4L), List.of(-1L), List.of(1.5),
                    List.of(List.of(2L)), "8", List.of(Long.MAX_VALUE, Long.MAX_VALUE)};
                Object shape = shapes[r.nextInt(shapes.length)];
                entry.put("shape", shape);
                how.append(", ").append(key).append(".shape = ").append(StateDictsTest.toJson(shape));
            }
            case 4 -> {
                entry.remove(List.of("dtype", "shape", "data_offsets").get(r.nextInt(3)));
                how.append(", ").append(key).append(" lost a field");
            }
            case 5 -> { // duplicate key: the entry again, first in the object
                String text = StateDictsTest.toJson(p.header());
                how.append(", duplicate key ").append(key);
                return StateDictsTest.file("{" + Json.quote(key) + ":" + StateDictsTest.toJson(entry) + ","
                        + text.substring(1), p.data());
            }
            default -> {
                p.header().remove(key);
                how.append(", ").append(key).append(" removed");
            }
        }
        return StateDictsTest.file(p);
    }

    /** The header's (freshly parsed, mutable) entry for key, or null if it is not an object. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> entry(StateDictsTest.Parts p, String key) {
        return p.header().get(key) instanceof Map<?, ?> m ? (Map<String, Object>) m : null;
    }
}
