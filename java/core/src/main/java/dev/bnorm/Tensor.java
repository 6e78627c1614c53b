package dev.bnorm;

import dev.bnorm.kernel.DType;
import dev.bnorm.kernel.Half;
import dev.bnorm.kernel.Layout;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A tensor in off-heap memory: a shape, a {@link Format}, an element type ({@link DType}: float32,
 * the default, or the 16-bit BF16 and F16) and a {@link MemorySegment} of exactly
 * {@code dtype().bytes() * size()} bytes in native byte order, row-major over {@link #shape()}.
 *
 * <p><b>Element types.</b> Every float-valued method ({@link #get}, {@link #set}, {@link #fill},
 * {@link #toArray}, {@link #copyFrom(float[])}, {@link #copyFrom(Tensor)}) converts: reading a
 * 16-bit element widens it exactly, writing a float rounds it to nearest, ties to even, once (the
 * conversions of {@link Half}; NaN stays NaN, too large a value becomes an infinity). Whole
 * arrays and tensors convert in libbnorm when the native kernels are in use, else in plain Java,
 * with the same bits.
 *
 * <p><b>Ownership.</b> {@link #zeros} and {@link #of} allocate memory the tensor owns, in its own
 * {@link Arena}: {@link #close()} frees it. {@link #wrap} borrows a caller's native
 * segment without copying: {@link #close()} then only ends this tensor's use of it, and the memory
 * lives as long as the caller's arena. {@link #reshape} is a borrowed view of the same memory.
 *
 * <p><b>Threads.</b> An owned tensor is confined to the thread that created it: any access from
 * another thread throws {@link WrongThreadException}, and so does {@link #close()} while that
 * thread is alive. Once it has ended, any thread may close the tensor (and nothing else), so
 * that memory created on a short-lived thread can still be freed. The confinement is this
 * class's check, not the arena's: the arena is shared (closing one costs a handshake with the
 * JVM's threads, microseconds, which is why modules reuse their tensors), so a segment taken
 * from {@link #segment()} and handed to another thread is not stopped by the JVM. A borrowed
 * tensor follows the rules of the caller's segment. Closing is idempotent; using a closed tensor
 * throws {@link IllegalStateException}.
 *
 * <p><b>Checks.</b> Every element access is bounds- and liveness-checked; a failure names the
 * argument with the expected and actual values. Dimensions are at least 1.
 *
 * <p><b>Allocation statistics.</b> {@link #allocatedBytes()}, {@link #allocations()} and
 * {@link #liveBytes()} count the native memory that tensors allocate and free, over all threads:
 * tests use them to show that a training loop in its steady state allocates nothing.
 */
public final class Tensor implements AutoCloseable {

    /**
     * How the dimensions of a tensor are named, and the kernel {@link Layout} of activations.
     * The shape is given in the order of the name, which is also the memory order: NHWC shapes
     * are {@code (N, H, W, C)}.
     */
    public enum Format {
        /** {@code (N, C)}: a batch of feature vectors; also any 2-d matrix such as a Linear weight (out, in). */
        NC(2, Layout.NC),
        /** {@code (N, C, L)}: a batch of sequences, each channel contiguous (S = L). */
        NCL(3, Layout.NCHW),
        /** {@code (N, C, H, W)}: a batch of images, each channel contiguous (S = H*W). */
        NCHW(4, Layout.NCHW),
        /** {@code (N, H, W, C)}: a batch of images, channels last (S = H*W). */
        NHWC(4, Layout.NHWC),
        /** {@code (C,)}: one value per feature or channel: a bias, gamma, beta, running statistics. */
        C(1, Layout.NC);

        private final int rank;
        private final Layout layout;

        Format(int rank, Layout layout) {
            this.rank = rank;
            this.layout = layout;
        }

        /** The number of dimensions. */
        public int rank() {
            return rank;
        }

        /** The kernel layout of this format, with the dimensions {@link #n()}, {@link #c()}, {@link #s()}. */
        public Layout layout() {
            return layout;
        }

        /** N of a tensor of this format and {@code shape}, the batch size (1 for {@link #C}). */
        public long n(long[] shape) {
            return this == C ? 1 : shape[0];
        }

        /** C of a tensor of this format and {@code shape}, the number of channels or features. */
        public long c(long[] shape) {
            return switch (this) {
                case C -> shape[0];
                case NHWC -> shape[3];
                default -> shape[1];
            };
        }

        /** S of a tensor of this format and {@code shape}: 1 for NC and C, L for NCL, H*W for NCHW and NHWC. */
        public long s(long[] shape) {
            return switch (this) {
                case NC, C -> 1;
                case NCL -> shape[2];
                case NCHW -> shape[2] * shape[3];
                case NHWC -> shape[1] * shape[2];
            };
        }
    }

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfShort H = ValueLayout.JAVA_SHORT;
    private static final long ALIGNMENT = 64;
    private static final AtomicLong ALLOCATED_BYTES = new AtomicLong();
    private static final AtomicLong ALLOCATIONS = new AtomicLong();
    private static final AtomicLong LIVE_BYTES = new AtomicLong();

    private final DType dtype;
    private final Format format;
    private final long[] shape;
    private final long size;
    private final MemorySegment segment;
    private final Arena arena; // null when borrowed
    private final Thread owner; // the creator of an owned tensor (and of its views), else null
    private boolean closed;

    private Tensor(DType dtype, Format format, long[] shape, long size, MemorySegment segment, Arena arena,
                   Thread owner) {
        this.dtype = dtype;
        this.format = format;
        this.shape = shape;
        this.size = size;
        this.segment = segment;
        this.arena = arena;
        this.owner = owner;
    }

    /** A new float32 tensor of zeros that owns its memory. */
    public static Tensor zeros(Format format, long... shape) {
        return zeros(DType.F32, format, shape);
    }

    /** A new tensor of {@code dtype} of zeros that owns its memory. */
    public static Tensor zeros(DType dtype, Format format, long... shape) {
        checkDType(dtype);
        long[] s = checkShape(dtype, format, shape);
        long bytes = dtype.bytes() * size(s);
        Arena arena = Arena.ofShared(); // confined by checkAccess; shared so that close() outlives the thread
        MemorySegment segment;
        try {
            segment = arena.allocate(bytes, ALIGNMENT); // zeroed
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
        ALLOCATED_BYTES.addAndGet(bytes);
        ALLOCATIONS.incrementAndGet();
        LIVE_BYTES.addAndGet(bytes);
        return new Tensor(dtype, format, s, bytes / dtype.bytes(), segment, arena, Thread.currentThread());
    }

    /** A new float32 tensor that owns its memory, holding a copy of {@code data} (length = product of the shape). */
    public static Tensor of(Format format, float[] data, long... shape) {
        return of(DType.F32, format, data, shape);
    }

    /**
     * A new tensor of {@code dtype} that owns its memory, holding {@code data} (length = product of
     * the shape) rounded to {@code dtype}.
     */
    public static Tensor of(DType dtype, Format format, float[] data, long... shape) {
        if (data == null) {
            throw new IllegalArgumentException("data: expected an array, got null");
        }
        checkDType(dtype);
        long[] s = checkShape(dtype, format, shape);
        if (data.length != size(s)) {
            throw new IllegalArgumentException("data: expected " + size(s) + " values for shape "
                    + Arrays.toString(s) + ", got " + data.length);
        }
        Tensor t = zeros(dtype, format, s);
        try {
            t.copyFrom(data);
        } catch (RuntimeException | Error e) {
            t.close();
            throw e;
        }
        return t;
    }

    /** A float32 tensor over a caller's native segment: {@link #wrap(MemorySegment, DType, Format, long...)}. */
    public static Tensor wrap(MemorySegment segment, Format format, long... shape) {
        return wrap(segment, DType.F32, format, shape);
    }

    /**
     * A tensor of {@code dtype} over the first {@code dtype.bytes() * size} bytes of a caller's
     * native segment, without copying. The segment must be native, alive, accessible by this
     * thread, aligned to the element size and large enough. Closing the tensor does not free the
     * segment.
     *
     * <p>A segment mapped from a file ({@code FileChannel.map}) is read by the kernels like any
     * other memory. If another process truncates the file while it is mapped, reading the pages
     * past the new end raises SIGBUS inside the native code, which kills the JVM: neither Java nor
     * bnorm can check for it (the mapping keeps its size in Java's view). Map only files that
     * nothing truncates while they are in use, or copy the data into a tensor of its own first.
     */
    public static Tensor wrap(MemorySegment segment, DType dtype, Format format, long... shape) {
        if (segment == null) {
            throw new IllegalArgumentException("segment: expected a native segment, got null");
        }
        checkDType(dtype);
        long[] s = checkShape(dtype, format, shape);
        long bytes = dtype.bytes() * size(s);
        if (!segment.isNative()) {
            throw new IllegalArgumentException("segment: expected a native (off-heap) segment, got a heap segment");
        }
        if (!segment.scope().isAlive()) {
            throw new IllegalStateException("segment: expected an alive segment, got a closed one");
        }
        if (!segment.isAccessibleBy(Thread.currentThread())) {
            throw new WrongThreadException("segment: expected a segment accessible by thread "
                    + Thread.currentThread().getName() + ", got one confined to another thread");
        }
        if (segment.address() % dtype.bytes() != 0) {
            throw new IllegalArgumentException("segment: expected a " + dtype.bytes() + "-byte aligned address, got 0x"
                    + Long.toHexString(segment.address()));
        }
        if (segment.byteSize() < bytes) {
            throw new IllegalArgumentException("segment: expected at least " + bytes + " bytes for shape "
                    + Arrays.toString(s) + ", got " + segment.byteSize());
        }
        return new Tensor(dtype, format, s, bytes / dtype.bytes(), segment.asSlice(0, bytes), null, null);
    }

    /** A borrowed view of this tensor's memory with another format and shape of the same size. */
    public Tensor reshape(Format format, long... shape) {
        checkAccess();
        long[] s = checkShape(dtype, format, shape);
        if (size(s) != size) {
            throw new IllegalArgumentException("shape: expected " + size + " elements like " + this + ", got "
                    + Arrays.toString(s) + " (" + size(s) + " elements)");
        }
        return new Tensor(dtype, format, s, size, segment, null, owner); // confined like this tensor
    }

    // ---- shape ----

    /** The element type. */
    public DType dtype() {
        return dtype;
    }

    /** The format. */
    public Format format() {
        return format;
    }

    /** A copy of the shape, in the order of the format's name. */
    public long[] shape() {
        return shape.clone();
    }

    /** Dimension {@code i} of the shape. */
    public long dim(int i) {
        if (i < 0 || i >= shape.length) {
            throw new IndexOutOfBoundsException("i: expected 0 <= i < " + shape.length + ", got " + i);
        }
        return shape[i];
    }

    /** The number of elements. */
    public long size() {
        return size;
    }

    /** N, the batch size (1 for {@link Format#C}). */
    public long n() {
        return format.n(shape);
    }

    /** C, the number of channels or features. */
    public long c() {
        return format.c(shape);
    }

    /** S, the spatial size: 1 for NC and C, L for NCL, H*W for NCHW and NHWC. */
    public long s() {
        return format.s(shape);
    }

    /** Whether {@code other} has the same format and shape. */
    public boolean sameShape(Tensor other) {
        return other != null && format == other.format && Arrays.equals(shape, other.shape);
    }

    // ---- memory ----

    /** The memory: exactly {@code dtype().bytes() * size()} bytes of {@link #dtype()} in native byte order. */
    public MemorySegment segment() {
        checkAccess();
        return segment;
    }

    /**
     * Whether this tensor's memory and {@code other}'s share at least one byte: true for a tensor
     * and its {@link #reshape}, a {@link #wrap} of (part of) its segment, or any other view of the
     * same memory, whatever the objects. Compares address ranges only (closed tensors included).
     */
    public boolean overlaps(Tensor other) {
        long a = segment.address();
        long b = other.segment.address();
        return a < b + other.dtype.bytes() * other.size && b < a + dtype.bytes() * size;
    }

    /** Whether {@code other} is this tensor's memory exactly: the same address, dtype, format and shape. */
    public boolean sameMemory(Tensor other) {
        return segment.address() == other.segment.address() && dtype == other.dtype && sameShape(other);
    }

    /** Whether this tensor owns (and frees on close) its memory. */
    public boolean ownsMemory() {
        return arena != null;
    }

    /** Whether the tensor can be used: not closed, and its memory alive. */
    public boolean isAlive() {
        return !closed && segment.scope().isAlive();
    }

    /** The elements, copied (widened exactly) to a new array in memory order. */
    public float[] toArray() {
        checkAccess();
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("toArray: expected at most " + (Integer.MAX_VALUE - 8)
                    + " elements, got " + size);
        }
        float[] a = new float[(int) size];
        if (dtype == DType.F32) {
            MemorySegment.copy(segment, F, 0, a, 0, a.length);
        } else {
            Half.convert(MemorySegment.ofArray(a), DType.F32, segment, dtype, size);
        }
        return a;
    }

    /** Copies {@code data} (exactly {@link #size()} values, memory order, rounded to {@link #dtype()}) into this tensor. */
    public void copyFrom(float[] data) {
        checkAccess();
        if (data == null || data.length != size) {
            throw new IllegalArgumentException("data: expected " + size + " values, got "
                    + (data == null ? "null" : data.length));
        }
        if (dtype == DType.F32) {
            MemorySegment.copy(data, 0, segment, F, 0, data.length);
        } else {
            Half.convert(segment, dtype, MemorySegment.ofArray(data), DType.F32, size);
        }
    }

    /**
     * Copies the elements of {@code src}, which must have the same size, into this tensor, converted
     * to {@link #dtype()} if {@code src} has another (rounded once; the two must not overlap then).
     */
    public void copyFrom(Tensor src) {
        checkAccess();
        if (src == null || src.size != size) {
            throw new IllegalArgumentException("src: expected a tensor of " + size + " elements, got "
                    + (src == null ? "null" : src + " (" + src.size + " elements)"));
        }
        if (src.dtype == dtype) {
            MemorySegment.copy(src.segment(), 0, segment, 0, dtype.bytes() * size);
        } else {
            Half.convert(segment, dtype, src.segment(), src.dtype, size);
        }
    }

    /** Sets every element to {@code value} (rounded to {@link #dtype()}). */
    public void fill(float value) {
        checkAccess();
        if (value == 0f && Float.floatToRawIntBits(value) == 0) {
            segment.fill((byte) 0);
        } else if (dtype != DType.F32) {
            short h = Half.narrow(dtype, value);
            for (long i = 0; i < size; i++) {
                segment.setAtIndex(H, i, h);
            }
        } else {
            for (long i = 0; i < size; i++) {
                segment.setAtIndex(F, i, value);
            }
        }
    }

    /** The element at {@code idx} (one index per dimension, in shape order), widened exactly to float. */
    public float get(long... idx) {
        checkAccess();
        long i = offset(idx);
        return dtype == DType.F32 ? segment.getAtIndex(F, i) : Half.widen(dtype, segment.getAtIndex(H, i));
    }

    /** Sets the element at {@code idx} (one index per dimension, in shape order) to {@code value} rounded to {@link #dtype()}. */
    public void set(float value, long... idx) {
        checkAccess();
        long i = offset(idx);
        if (dtype == DType.F32) {
            segment.setAtIndex(F, i, value);
        } else {
            segment.setAtIndex(H, i, Half.narrow(dtype, value));
        }
    }

    /** Frees owned memory (idempotent); a borrowed tensor only becomes unusable. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (arena != null) {
            if (Thread.currentThread() != owner && owner.isAlive()) {
                throw new WrongThreadException(this + ": confined to thread \"" + owner.getName()
                        + "\", which is alive, closed from thread \"" + Thread.currentThread().getName() + "\"");
            }
            arena.close();
            LIVE_BYTES.addAndGet(-dtype.bytes() * size);
        }
        closed = true;
    }

    @Override
    public String toString() {
        return "Tensor[" + (dtype == DType.F32 ? "" : dtype + " ") + format + " " + Arrays.toString(shape) + (arena != null ? ", owned" : ", borrowed")
                + (closed ? ", closed" : "") + "]";
    }

    // ---- allocation statistics ----

    /** Total native bytes allocated by tensors since the JVM started (never decreases). */
    public static long allocatedBytes() {
        return ALLOCATED_BYTES.get();
    }

    /** Number of native allocations made by tensors since the JVM started. */
    public static long allocations() {
        return ALLOCATIONS.get();
    }

    /** Native bytes currently held by open owned tensors. */
    public static long liveBytes() {
        return LIVE_BYTES.get();
    }

    // ---- checks ----

    private void checkAccess() {
        if (closed) {
            throw new IllegalStateException(this + ": tensor is closed");
        }
        if (!segment.scope().isAlive()) {
            throw new IllegalStateException(this + ": memory is freed (its arena is closed)");
        }
        if (owner != null ? Thread.currentThread() != owner : !segment.isAccessibleBy(Thread.currentThread())) {
            throw new WrongThreadException(this + ": confined to another thread, accessed from thread "
                    + Thread.currentThread().getName());
        }
    }

    private long offset(long[] idx) {
        if (idx == null || idx.length != shape.length) {
            throw new IllegalArgumentException("idx: expected " + shape.length + " indices for shape "
                    + Arrays.toString(shape) + ", got " + (idx == null ? "null" : idx.length));
        }
        long off = 0;
        for (int d = 0; d < shape.length; d++) {
            if (idx[d] < 0 || idx[d] >= shape[d]) {
                throw new IndexOutOfBoundsException("idx[" + d + "]: expected 0 <= idx < " + shape[d] + ", got "
                        + idx[d]);
            }
            off = off * shape[d] + idx[d];
        }
        return off;
    }

    private static void checkDType(DType dtype) {
        if (dtype == null) {
            throw new IllegalArgumentException("dtype: expected one of " + Arrays.toString(DType.values())
                    + ", got null");
        }
    }

    private static long[] checkShape(DType dtype, Format format, long[] shape) {
        if (format == null) {
            throw new IllegalArgumentException("format: expected one of " + Arrays.toString(Format.values())
                    + ", got null");
        }
        if (shape == null || shape.length != format.rank) {
            throw new IllegalArgumentException("shape: expected " + format.rank + " dimensions for " + format
                    + ", got " + (shape == null ? "null" : Arrays.toString(shape)));
        }
        long[] s = shape.clone();
        long bytes = dtype.bytes();
        for (int d = 0; d < s.length; d++) {
            if (s[d] < 1) {
                throw new IllegalArgumentException("shape[" + d + "]: expected at least 1, got " + s[d]);
            }
            try {
                bytes = Math.multiplyExact(bytes, s[d]);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("shape: expected at most " + Long.MAX_VALUE
                        + " bytes, got " + Arrays.toString(s) + " of " + dtype);
            }
        }
        return s;
    }

    private static long size(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }
}
