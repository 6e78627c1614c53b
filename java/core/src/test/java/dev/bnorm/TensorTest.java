package dev.bnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.Layout;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;

class TensorTest {

    @Test
    void dimensionsOfEveryFormat() {
        record Case(Format f, long[] shape, long n, long c, long s, Layout layout) {
        }
        Case[] cases = {
            new Case(Format.NC, new long[] {4, 3}, 4, 3, 1, Layout.NC),
            new Case(Format.NCL, new long[] {4, 3, 5}, 4, 3, 5, Layout.NCHW),
            new Case(Format.NCHW, new long[] {4, 3, 5, 2}, 4, 3, 10, Layout.NCHW),
            new Case(Format.NHWC, new long[] {4, 5, 2, 3}, 4, 3, 10, Layout.NHWC),
            new Case(Format.C, new long[] {7}, 1, 7, 1, Layout.NC),
        };
        for (Case k : cases) {
            try (Tensor t = Tensor.zeros(k.f(), k.shape())) {
                assertEquals(k.n(), t.n(), k.f() + " n");
                assertEquals(k.c(), t.c(), k.f() + " c");
                assertEquals(k.s(), t.s(), k.f() + " s");
                assertEquals(k.n() * k.c() * k.s(), t.size(), k.f() + " size");
                assertEquals(k.layout(), t.format().layout(), k.f() + " layout");
                assertEquals(4 * t.size(), t.segment().byteSize(), k.f() + " bytes");
                assertEquals(0, t.segment().address() % 4);
            }
        }
    }

    @Test
    void ofCopiesAndIndexesRowMajor() {
        float[] data = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
        try (Tensor t = Tensor.of(Format.NCL, data, 2, 3, 2)) {
            data[0] = 99; // a copy, not a view of the array
            assertEquals(0f, t.get(0, 0, 0));
            assertEquals(7f, t.get(1, 0, 1)); // (1*3 + 0)*2 + 1
            t.set(-1f, 1, 2, 1);
            assertEquals(-1f, t.toArray()[11]);
            t.copyFrom(new float[12]);
            assertArrayEquals(new float[12], t.toArray());
            t.fill(2.5f);
            assertEquals(2.5f, t.get(0, 1, 0));
        }
    }

    @Test
    void badShapesAndIndicesNameTheArgument() {
        assertMessage(IllegalArgumentException.class, "shape: expected 4 dimensions for NCHW",
                () -> Tensor.zeros(Format.NCHW, 2, 3));
        assertMessage(IllegalArgumentException.class, "shape[1]: expected at least 1, got 0",
                () -> Tensor.zeros(Format.NC, 2, 0));
        assertMessage(IllegalArgumentException.class, "shape: expected at most",
                () -> Tensor.zeros(Format.NC, Long.MAX_VALUE / 2, 3));
        assertMessage(IllegalArgumentException.class, "data: expected 6 values for shape [2, 3], got 5",
                () -> Tensor.of(Format.NC, new float[5], 2, 3));
        assertMessage(IllegalArgumentException.class, "format: expected one of", () -> Tensor.zeros(null, 2));
        try (Tensor t = Tensor.zeros(Format.NC, 2, 3)) {
            assertMessage(IndexOutOfBoundsException.class, "idx[1]: expected 0 <= idx < 3, got 3", () -> t.get(1, 3));
            assertMessage(IndexOutOfBoundsException.class, "idx[0]: expected 0 <= idx < 2, got -1",
                    () -> t.set(1f, -1, 0));
            assertMessage(IllegalArgumentException.class, "idx: expected 2 indices", () -> t.get(1));
            assertMessage(IllegalArgumentException.class, "data: expected 6 values, got 7",
                    () -> t.copyFrom(new float[7]));
            assertMessage(IllegalArgumentException.class, "shape: expected 6 elements",
                    () -> t.reshape(Format.NC, 3, 3));
        }
    }

    @Test
    void closedTensorsFailLoudlyAndCloseIsIdempotent() {
        long live = Tensor.liveBytes();
        Tensor t = Tensor.zeros(Format.NC, 2, 3);
        assertEquals(live + 24, Tensor.liveBytes());
        MemorySegment segment = t.segment();
        t.close();
        t.close();
        assertEquals(live, Tensor.liveBytes());
        assertFalse(t.isAlive());
        assertFalse(segment.scope().isAlive(), "owned memory is freed");
        assertMessage(IllegalStateException.class, "tensor is closed", () -> t.get(0, 0));
        assertMessage(IllegalStateException.class, "tensor is closed", t::toArray);
        assertMessage(IllegalStateException.class, "tensor is closed", t::segment);
    }

    @Test
    void wrapBorrowsWithoutCopyingAndValidates() {
        Arena arena = Arena.ofConfined();
        MemorySegment memory = arena.allocate(4 * 8, 4);
        long allocated = Tensor.allocatedBytes();
        Tensor t = Tensor.wrap(memory, Format.NC, 2, 3);
        assertEquals(allocated, Tensor.allocatedBytes(), "wrap allocates nothing");
        assertFalse(t.ownsMemory());
        memory.setAtIndex(ValueLayout.JAVA_FLOAT, 4, 3f);
        assertEquals(3f, t.get(1, 1), "a view of the caller's memory");
        t.set(5f, 0, 0);
        assertEquals(5f, memory.getAtIndex(ValueLayout.JAVA_FLOAT, 0));
        t.close();
        assertTrue(memory.scope().isAlive(), "closing a borrowed tensor does not free the memory");
        assertMessage(IllegalStateException.class, "tensor is closed", () -> t.get(0, 0));

        assertMessage(IllegalArgumentException.class, "segment: expected at least 36 bytes for shape [3, 3], got 32",
                () -> Tensor.wrap(memory, Format.NC, 3, 3));
        assertMessage(IllegalArgumentException.class, "segment: expected a 4-byte aligned address",
                () -> Tensor.wrap(memory.asSlice(2), Format.NC, 1, 2));
        assertMessage(IllegalArgumentException.class, "segment: expected a native (off-heap) segment",
                () -> Tensor.wrap(MemorySegment.ofArray(new float[8]), Format.NC, 2, 3));
        assertMessage(IllegalArgumentException.class, "segment: expected a native segment, got null",
                () -> Tensor.wrap(null, Format.NC, 2, 3));
        Tensor view = Tensor.wrap(memory, Format.C, 8);
        arena.close();
        assertMessage(IllegalStateException.class, "memory is freed", () -> view.get(0));
        assertMessage(IllegalStateException.class, "segment: expected an alive segment",
                () -> Tensor.wrap(memory, Format.C, 1));
    }

    @Test
    void reshapeIsABorrowedView() {
        try (Tensor t = Tensor.of(Format.NCHW, new float[] {1, 2, 3, 4, 5, 6}, 1, 3, 2, 1)) {
            long allocated = Tensor.allocatedBytes();
            Tensor flat = t.reshape(Format.NC, 1, 6);
            assertEquals(allocated, Tensor.allocatedBytes());
            assertEquals(6f, flat.get(0, 5));
            flat.close();
            assertEquals(6f, t.get(0, 2, 1, 0), "closing the view leaves the owner intact");
        }
    }

    @Test
    void anotherThreadGetsWrongThreadException() {
        Tensor t = Tensor.of(Format.C, new float[] {1, 2}, 2);
        CompletableFuture<Object> f = CompletableFuture.supplyAsync(() -> t.get(0), Thread::startVirtualThread);
        ExecutionException e = assertThrows(ExecutionException.class, f::get);
        assertTrue(e.getCause() instanceof WrongThreadException, e.getCause().toString());
        assertTrue(e.getCause().getMessage().contains("confined to another thread"), e.getCause().getMessage());
        CompletableFuture<Object> c = CompletableFuture.supplyAsync(() -> {
            t.close();
            return null;
        }, Thread::startVirtualThread);
        assertTrue(assertThrows(ExecutionException.class, c::get).getCause() instanceof WrongThreadException);
        assertEquals(1f, t.get(0), "the failed close from another thread left the tensor open");
        t.close();
    }

    @Test
    void allocationCountersTrackOwnedMemory() {
        long bytes = Tensor.allocatedBytes();
        long count = Tensor.allocations();
        long live = Tensor.liveBytes();
        try (Tensor a = Tensor.zeros(Format.NC, 10, 10); Tensor b = Tensor.of(Format.C, new float[3], 3)) {
            assertEquals(3, b.size());
            assertEquals(bytes + 400 + 12, Tensor.allocatedBytes());
            assertEquals(count + 2, Tensor.allocations());
            assertEquals(live + 412, Tensor.liveBytes());
            a.reshape(Format.C, 100).close();
        }
        assertEquals(live, Tensor.liveBytes());
    }

    static <T extends Throwable> void assertMessage(Class<T> type, String part, org.junit.jupiter.api.function.Executable e) {
        T thrown = assertThrows(type, e);
        assertTrue(thrown.getMessage() != null && thrown.getMessage().contains(part),
                "expected a message containing \"" + part + "\", got \"" + thrown.getMessage() + "\"");
    }
}
