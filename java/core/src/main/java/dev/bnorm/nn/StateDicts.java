package dev.bnorm.nn;

import dev.bnorm.kernel.DType;
import dev.bnorm.kernel.Half;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.UnaryOperator;

/**
 * Saves and loads a module's state in the <a href="https://github.com/huggingface/safetensors">safetensors</a>
 * format with PyTorch's keys and dtypes, so that files move between bnorm and
 * {@code torch.nn.Module.state_dict()}: float32 state as {@code F32} (e.g. {@code 0.weight},
 * {@code 1.running_var}) and counters as {@code I64} scalars of shape {@code []}
 * ({@code 1.num_batches_tracked}).
 *
 * <p>Half precision: a tensor is written in its own {@link DType} (F32, BF16 or F16, PyTorch's
 * {@code torch.float32}, {@code torch.bfloat16}, {@code torch.float16}), or with
 * {@link #save(Module, Path, DType)} every tensor rounded to one dtype, as
 * {@code model.to(torch.bfloat16).state_dict()} saves. Loading accepts a file tensor of any of the
 * three into a model tensor of any of the three, converted as {@code Tensor.copy_} does: widened
 * exactly, or rounded to nearest, ties to even ({@link Half}); so a bf16 state dict from PyTorch
 * loads into a model's float32 parameters. Counters are I64 in every case.
 *
 * <p>The format: an unsigned 64-bit little-endian header length H, then H bytes of UTF-8 JSON
 * {@code {"name": {"dtype": "F32", "shape": [out, in], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {"key": "value"}}} (metadata optional), then the data: raw little-endian
 * values, offsets relative to the start of the data, every byte covered by exactly one tensor.
 *
 * <p>Loading is strict and atomic: the whole header is parsed and validated against the file and
 * the model (exactly the model's keys, each with its dtype and shape), the data is read into
 * off-heap staging memory, and only then copied into the model. Any problem is a
 * {@link SafetensorsException} and leaves the model exactly as it was; other I/O failures are
 * plain {@link IOException}s, also before any change. Header lengths above {@value #MAX_HEADER}
 * bytes or past the end of the file are refused before anything is allocated for them. Anything
 * but a regular file (a FIFO, whose opening would block until a writer comes, a device, a
 * directory) is refused before it is opened. Every tensor of the model is checked to be open and
 * accessible before anything is read, so a tensor the caller closed cannot leave the model
 * half-loaded.
 *
 * <p>Compatibility: what PyTorch and the reference reader (the {@code safetensors} package)
 * accept is accepted: {@code "__metadata__": null} or absent, tensor entries with fields besides
 * {@code dtype}, {@code shape} and {@code data_offsets} (ignored), entries in any order, and a
 * file without a BatchNorm's {@code num_batches_tracked} (written before PyTorch had it: the
 * counter is set to 0, as PyTorch's BatchNorm does). What they refuse is refused: metadata other
 * than null or an object of strings, a field missing, data offsets that overlap, leave a gap,
 * run backwards or do not cover the data exactly, shapes that are not arrays of integers >= 0.
 * One deliberate difference: a key twice in one JSON object is refused (the reference reader
 * keeps the last tensor or metadata entry of a name, and refuses a field twice within an entry).
 *
 * <p>The header is parsed in time linear in its length: every JSON token is bounded (numbers at
 * {@value Json#MAX_NUMBER_LENGTH} characters, strings at {@value Json#MAX_STRING_LENGTH}, nesting
 * at {@value Json#MAX_DEPTH} levels, {@value Json#MAX_VALUES} values in all; beyond, a
 * {@link SafetensorsException}). What the header size limit costs in heap: a header of H bytes
 * needs up to about 6·H (4·H when its text is Latin-1: the bytes, the text and the strings parsed
 * from it), plus up to about 150 MB for its at most 2^20 values. Measured: a 97 MB header of
 * ASCII strings loads with {@code -Xmx400m}, one whose strings each hold a character beyond
 * Latin-1 with {@code -Xmx600m}, 2^20 empty objects (a 3 MB header) with {@code -Xmx120m}.
 */
public final class StateDicts {

    /** The largest header accepted, as in the reference implementation (100 MB). */
    public static final long MAX_HEADER = 100_000_000;

    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT;
    private static final Map<String, Integer> DTYPE_SIZES = Map.ofEntries(
            Map.entry("BOOL", 1), Map.entry("U8", 1), Map.entry("I8", 1), Map.entry("F8_E5M2", 1),
            Map.entry("F8_E4M3", 1), Map.entry("I16", 2), Map.entry("U16", 2), Map.entry("F16", 2),
            Map.entry("BF16", 2), Map.entry("I32", 4), Map.entry("U32", 4), Map.entry("F32", 4),
            Map.entry("F64", 8), Map.entry("I64", 8), Map.entry("U64", 8));
    private static final String METADATA = "__metadata__";
    private static final String NUM_BATCHES_TRACKED = "num_batches_tracked";
    private static final Set<String> FIELDS = Set.of("dtype", "shape", "data_offsets");

    private StateDicts() {
    }

    /**
     * Writes the state of {@code module} to {@code path}, with metadata {@code format: pt}. The
     * file is written under a temporary name in the same directory ({@code .<name>.<random>.tmp}),
     * forced to the storage device, and then renamed to {@code path} atomically where the file
     * system supports it (else with a plain replacing move): a failure or a crash during the write
     * leaves the previous file at {@code path} intact, and a failed write removes its temporary file.
     */
    public static void save(Module module, Path path) throws IOException {
        save(module, path, null, UnaryOperator.identity());
    }

    /**
     * {@link #save(Module, Path)} with every tensor written as {@code dtype}: rounded to nearest,
     * ties to even for BF16 and F16 (the model is unchanged). Counters stay I64.
     */
    public static void save(Module module, Path path, DType dtype) throws IOException {
        if (dtype == null) {
            throw new IllegalArgumentException("dtype: expected one of " + Arrays.toString(DType.values()) + ", got null");
        }
        save(module, path, dtype, UnaryOperator.identity());
    }

    /**
     * Writes the state of {@code optimizer} (momentum buffers, Adam's moments and step counts; the
     * keys are described in {@link Optimizer}) to {@code path}, in the same way as a module's.
     * Saved with the model's state, it lets training resume exactly.
     */
    public static void save(Optimizer optimizer, Path path) throws IOException {
        save(optimizer.state(), path);
    }

    /**
     * Replaces the state of {@code optimizer} with the one in {@code path}, all or nothing, like
     * {@link #load(Module, Path)}: the file must hold exactly the optimizer's keys, with their dtypes
     * and shapes (so an optimizer of the same kind and settings over parameters of the same shapes).
     */
    public static void load(Optimizer optimizer, Path path) throws IOException {
        load(optimizer.state(), path);
    }

    /** {@link #save(Module, Path)}, with the data written through {@code channel.apply(file)} (a seam for tests). */
    static void save(Module module, Path path, UnaryOperator<WritableByteChannel> channel) throws IOException {
        save(module, path, null, channel);
    }

    /** The save of every tensor as {@code as}, or in its own dtype when {@code as} is null. */
    private static void save(Module module, Path path, DType as, UnaryOperator<WritableByteChannel> channel)
            throws IOException {
        List<Module.StateEntry> entries = module.stateEntries();
        StringBuilder json = new StringBuilder("{").append(Json.quote(METADATA)).append(":{\"format\":\"pt\"}");
        long offset = 0;
        for (Module.StateEntry e : entries) {
            long bytes = bytes(e, as);
            long[] shape = e.tensor() != null ? e.tensor().shape() : new long[0];
            json.append(',').append(Json.quote(e.key())).append(":{\"dtype\":\"")
                    .append(e.tensor() != null ? dtype(e, as).name() : "I64").append("\",\"shape\":[");
            for (int i = 0; i < shape.length; i++) {
                json.append(i == 0 ? "" : ",").append(shape[i]);
            }
            json.append("],\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        json.append('}');
        byte[] text = json.toString().getBytes(StandardCharsets.UTF_8);
        byte[] header = Arrays.copyOf(text, (text.length + 7) / 8 * 8); // data 8-byte aligned, as safetensors does
        Arrays.fill(header, text.length, header.length, (byte) ' ');
        Path target = path.toAbsolutePath();
        Path temporary = target.resolveSibling("." + target.getFileName() + "."
                + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        boolean moved = false;
        try {
            try (FileChannel ch = FileChannel.open(temporary, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                 Arena staging = Arena.ofConfined()) {
                WritableByteChannel out = channel.apply(ch);
                writeFully(out, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length));
                writeFully(out, ByteBuffer.wrap(header));
                for (Module.StateEntry e : entries) {
                    MemorySegment data = staging.allocate(bytes(e, as), 8);
                    if (e.tensor() != null) {
                        copy(data, dtype(e, as), true, e.tensor().segment(), e.tensor().dtype(), false, e.tensor().size());
                    } else {
                        data.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, e.counter().get());
                    }
                    writeFully(out, data.asByteBuffer());
                }
                ch.force(true); // the data is on the device before the name points at it
            }
            try {
                Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING);
            }
            moved = true;
        } finally {
            if (!moved) {
                try {
                    Files.deleteIfExists(temporary);
                } catch (IOException e) {
                    // the original failure is the one to report; the temporary file is named for cleanup
                }
            }
        }
    }

    /**
     * Replaces the state of {@code module} with the one in {@code path}, all or nothing.
     *
     * @throws SafetensorsException for a malformed file or one that does not fit the model (the model is unchanged)
     * @throws IOException          if the file cannot be read (the model is unchanged)
     */
    public static void load(Module module, Path path) throws IOException {
        List<Module.StateEntry> targets = module.stateEntries();
        for (Module.StateEntry t : targets) { // every tensor written at the end must be writable now
            if (t.tensor() != null) {
                Module.checkWritable(t.key(), t.tensor());
            }
        }
        if (path == null) {
            throw new IllegalArgumentException("path: expected a file, got null");
        }
        // before opening: opening a FIFO for reading blocks until a writer comes, perhaps forever
        BasicFileAttributes attributes = Files.readAttributes(path, BasicFileAttributes.class);
        if (!attributes.isRegularFile()) {
            throw new SafetensorsException(path + ": expected a regular file, got "
                    + (attributes.isDirectory() ? "a directory" : "a special file (FIFO, socket or device)"));
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
             Arena staging = Arena.ofConfined()) {
            Reader r = new Reader(ch, path);
            Map<String, Entry> entries = r.header();
            // the model's view: exactly its keys, with its dtypes and shapes; a missing
            // num_batches_tracked is 0, as PyTorch's BatchNorm loads files written before it existed
            Map<String, Module.StateEntry> byKey = new LinkedHashMap<>();
            targets.forEach(t -> {
                if (t.counter() == null || !t.key().endsWith(NUM_BATCHES_TRACKED) || entries.containsKey(t.key())) {
                    byKey.put(t.key(), t);
                }
            });
            try {
                Module.checkKeys("keys", byKey.keySet(), entries.keySet());
            } catch (IllegalArgumentException e) {
                throw r.bad(e.getMessage());
            }
            List<MemorySegment> data = new ArrayList<>();
            for (Module.StateEntry t : targets) {
                Entry e = entries.get(t.key());
                if (e == null) { // a num_batches_tracked the file does not have
                    data.add(null);
                    continue;
                }
                long[] shape = t.tensor() != null ? t.tensor().shape() : new long[0];
                if (t.tensor() == null ? !e.dtype().equals("I64") : floatDType(e.dtype()) == null) {
                    throw r.bad(t.key() + ": expected dtype " + (t.tensor() == null ? "I64" : "F32, BF16 or F16")
                            + ", got " + e.dtype());
                }
                if (!Arrays.equals(e.shape(), shape)) {
                    throw r.bad(t.key() + ": expected shape " + Arrays.toString(shape) + ", got "
                            + Arrays.toString(e.shape()));
                }
                // the model's element count, not the file's
                MemorySegment segment = staging.allocate(t.tensor() != null
                        ? floatDType(e.dtype()).bytes() * t.tensor().size() : 8, 8);
                r.read(segment, e.begin());
                if (t.counter() != null && segment.get(ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN), 0) < 0) {
                    throw r.bad(t.key() + ": expected a count >= 0, got "
                            + segment.get(ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN), 0));
                }
                data.add(segment);
            }
            // commit: nothing below can fail (same thread, module open, every target open, sizes checked)
            for (int i = 0; i < targets.size(); i++) {
                Module.StateEntry t = targets.get(i);
                if (t.tensor() != null) {
                    copy(t.tensor().segment(), t.tensor().dtype(), false, data.get(i), floatDType(entries.get(t.key()).dtype()),
                            true, t.tensor().size());
                } else {
                    t.counter().set(data.get(i) == null ? 0
                            : data.get(i).get(ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN), 0));
                }
            }
        }
    }

    private static long bytes(Module.StateEntry e, DType as) {
        return e.tensor() != null ? dtype(e, as).bytes() * e.tensor().size() : 8;
    }

    private static DType dtype(Module.StateEntry e, DType as) {
        return as != null ? as : e.tensor().dtype();
    }

    /** The float dtype of a safetensors dtype name, or null for any other. */
    private static DType floatDType(String name) {
        return switch (name) {
            case "F32" -> DType.F32;
            case "BF16" -> DType.BF16;
            case "F16" -> DType.F16;
            default -> null;
        };
    }

    /**
     * Copies n elements from src to dst, converted between the dtypes; a segment flagged
     * little-endian is file data, the other one native order.
     */
    private static void copy(MemorySegment dst, DType dstType, boolean dstLE, MemorySegment src, DType srcType,
                             boolean srcLE, long n) {
        ValueLayout.OfFloat df = dstLE ? LE_FLOAT : FLOAT, sf = srcLE ? LE_FLOAT : FLOAT;
        ValueLayout.OfShort dh = dstLE ? LE_SHORT : SHORT, sh = srcLE ? LE_SHORT : SHORT;
        if (dstType == DType.F32 && srcType == DType.F32) {
            MemorySegment.copy(src, sf, 0, dst, df, 0, n);
        } else if (dstType == srcType) {
            MemorySegment.copy(src, sh, 0, dst, dh, 0, n);
        } else {
            for (long i = 0; i < n; i++) {
                float v = srcType == DType.F32 ? src.getAtIndex(sf, i) : Half.widen(srcType, src.getAtIndex(sh, i));
                if (dstType == DType.F32) {
                    dst.setAtIndex(df, i, v);
                } else {
                    dst.setAtIndex(dh, i, Half.narrow(dstType, v));
                }
            }
        }
    }

    private static void writeFully(WritableByteChannel ch, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            ch.write(buffer);
        }
    }

    /** A tensor's header entry; offsets relative to the start of the data. */
    private record Entry(String dtype, long[] shape, long begin, long end) {
    }

    /** Reads and validates the parts of one file. */
    private static final class Reader {
        private final FileChannel ch;
        private final Path path;
        private final long fileSize;
        private long dataStart;

        Reader(FileChannel ch, Path path) throws IOException {
            this.ch = ch;
            this.path = path;
            this.fileSize = ch.size();
        }

        SafetensorsException bad(String message) {
            return new SafetensorsException(path + ": " + message);
        }

        /** The tensor entries (metadata checked and dropped), validated against the file. */
        Map<String, Entry> header() throws IOException {
            if (fileSize < 8) {
                throw bad("truncated: expected at least 8 bytes (the header length), got a file of " + fileSize + " bytes");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(lengthBytes, 0);
            long length = lengthBytes.getLong(0);
            if (length < 0 || length > fileSize - 8) {
                throw bad("header length " + Long.toUnsignedString(length) + " is past the end of the file: expected at most "
                        + (fileSize - 8) + " (file of " + fileSize + " bytes)");
            }
            if (length > MAX_HEADER) {
                throw bad("header length " + length + ": expected at most " + MAX_HEADER);
            }
            ByteBuffer headerBytes = ByteBuffer.allocate((int) length);
            readFully(headerBytes, 8);
            dataStart = 8 + length;
            checkUtf8(headerBytes.flip());
            String text = new String(headerBytes.array(), 0, headerBytes.limit(), StandardCharsets.UTF_8);
            Object root;
            try {
                root = Json.parse(text);
            } catch (IllegalArgumentException e) {
                throw bad("header: expected JSON, " + e.getMessage());
            }
            if (!(root instanceof Map<?, ?> map)) {
                throw bad("header: expected a JSON object, got " + brief(root));
            }
            Map<String, Entry> entries = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : map.entrySet()) {
                String key = (String) e.getKey();
                if (key.equals(METADATA)) {
                    checkMetadata(e.getValue());
                } else {
                    entries.put(key, entry(key, e.getValue()));
                }
            }
            checkCoverage(entries);
            return entries;
        }

        /** Refuses malformed UTF-8, decoding through a small buffer (no second copy of the header). */
        private void checkUtf8(ByteBuffer bytes) throws SafetensorsException {
            CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
            ByteBuffer in = bytes.duplicate();
            CharBuffer out = CharBuffer.allocate(8192);
            CoderResult result;
            do {
                result = decoder.decode(in, out.clear(), true);
                if (result.isUnderflow()) {
                    result = decoder.flush(out.clear());
                }
                if (result.isError()) {
                    throw bad("header: expected UTF-8 text, got invalid bytes at header byte " + in.position() + " ("
                            + result + ")");
                }
            } while (result.isOverflow());
        }

        /** null or an object of strings, as the reference reader (an {@code Option<HashMap<String, String>>}). */
        private void checkMetadata(Object value) throws SafetensorsException {
            if (value != Json.NULL && (!(value instanceof Map<?, ?> m)
                    || !m.values().stream().allMatch(v -> v instanceof String))) {
                throw bad(METADATA + ": expected null or an object of strings, got " + brief(value));
            }
        }

        /** A value for a message: its text, cut to 200 characters. */
        private static String brief(Object value) {
            String text = String.valueOf(value);
            return text.length() <= 200 ? text : text.substring(0, 200) + "... (" + text.length() + " characters)";
        }

        private Entry entry(String key, Object value) throws SafetensorsException {
            if (!(value instanceof Map<?, ?> m)) {
                throw bad(key + ": expected an object {dtype, shape, data_offsets}, got " + brief(value));
            }
            if (!m.keySet().containsAll(FIELDS)) { // other fields are ignored, as by the reference reader
                throw bad(key + ": expected the fields [dtype, shape, data_offsets], got " + m.keySet());
            }
            if (!(m.get("dtype") instanceof String dtype) || !DTYPE_SIZES.containsKey(dtype)) {
                throw bad(key + ".dtype: expected one of " + DTYPE_SIZES.keySet().stream().sorted().toList()
                        + ", got " + m.get("dtype"));
            }
            long[] shape = integers(key + ".shape", m.get("shape"), -1);
            long[] offsets = integers(key + ".data_offsets", m.get("data_offsets"), 2);
            long bytes = DTYPE_SIZES.get(dtype);
            try {
                for (long d : shape) {
                    bytes = Math.multiplyExact(bytes, d);
                }
            } catch (ArithmeticException ex) {
                throw bad(key + ".shape: expected a size in bytes that fits in 64 bits, got " + Arrays.toString(shape));
            }
            long dataSize = fileSize - dataStart;
            if (offsets[0] > offsets[1] || offsets[1] > dataSize) {
                throw bad(key + ".data_offsets: expected 0 <= begin <= end <= " + dataSize
                        + " (the data size), got " + Arrays.toString(offsets));
            }
            if (offsets[1] - offsets[0] != bytes) {
                throw bad(key + ".data_offsets: expected end - begin = " + bytes + " bytes (" + dtype + " "
                        + Arrays.toString(shape) + "), got " + Arrays.toString(offsets));
            }
            return new Entry(dtype, shape, offsets[0], offsets[1]);
        }

        /** A JSON array of integers >= 0 (of the given length, or any length if -1). */
        private long[] integers(String what, Object value, int length) throws SafetensorsException {
            if (!(value instanceof List<?> list) || (length >= 0 && list.size() != length)) {
                throw bad(what + ": expected an array of " + (length >= 0 ? length + " " : "") + "integers >= 0, got "
                        + brief(value));
            }
            long[] result = new long[list.size()];
            for (int i = 0; i < result.length; i++) {
                if (!(list.get(i) instanceof Long v) || v < 0) {
                    throw bad(what + "[" + i + "]: expected an integer >= 0 (at most 2^63-1), got " + list.get(i));
                }
                result[i] = v;
            }
            return result;
        }

        /** Every data byte belongs to exactly one tensor: no overlap, no gap, nothing after the last. */
        private void checkCoverage(Map<String, Entry> entries) throws SafetensorsException {
            List<Map.Entry<String, Entry>> sorted = new ArrayList<>(entries.entrySet());
            sorted.sort(Comparator.comparingLong((Map.Entry<String, Entry> e) -> e.getValue().begin())
                    .thenComparingLong(e -> e.getValue().end()));
            long covered = 0;
            String previous = null;
            for (Map.Entry<String, Entry> e : sorted) {
                Entry t = e.getValue();
                if (t.begin() < covered) {
                    throw bad(e.getKey() + ".data_offsets: expected no overlap, got [" + t.begin() + ", " + t.end()
                            + ") overlapping " + previous + " (data up to " + covered + ")");
                }
                if (t.begin() > covered) {
                    throw bad(e.getKey() + ".data_offsets: expected data to start at " + covered
                            + " (no gap between tensors), got " + t.begin());
                }
                covered = t.end();
                previous = e.getKey();
            }
            if (covered != fileSize - dataStart) {
                throw bad("data: expected the tensors to cover all " + (fileSize - dataStart)
                        + " bytes after the header, got " + covered + " covered");
            }
        }

        /** Reads {@code segment.byteSize()} bytes of data starting at {@code offset} in the data section. */
        void read(MemorySegment segment, long offset) throws IOException {
            readFully(segment.asByteBuffer(), dataStart + offset);
        }

        private void readFully(ByteBuffer buffer, long position) throws IOException {
            long p = position;
            while (buffer.hasRemaining()) {
                int n = ch.read(buffer, p);
                if (n < 0) {
                    throw bad("truncated: the file ended at byte " + p + " while reading");
                }
                p += n;
            }
        }
    }
}
