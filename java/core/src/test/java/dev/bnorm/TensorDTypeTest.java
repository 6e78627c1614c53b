package dev.bnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.DType;
import dev.bnorm.nn.ReLU;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** Tensors of BF16 and F16: their memory, and the conversions of every float-valued method. */
class TensorDTypeTest {

    // values worked by hand: bf16 keeps 8 significant bits, f16 11
    static final float[] VALUES = {1.00390625f, 1.01171875f, -3.0f, 1000.01f, 65520f, 1e-40f, Float.NaN};
    static final float[] AS_BF16 = {1.0f, 1.015625f, -3.0f, 1000.0f, 65536f, 1e-40f /* see below */, Float.NaN};
    static final float[] AS_F16 = {1.00390625f, 1.01171875f, -3.0f, 1000.0f, Float.POSITIVE_INFINITY, 0f, Float.NaN};

    static {
        // 1e-40 is a float subnormal 0x000116c2: bf16 keeps its top 16 bits, 0x0001, and rounds
        // the dropped 0x16c2 (less than half of 0x10000) down: 0x00010000 as a float
        AS_BF16[5] = Float.intBitsToFloat(0x00010000);
    }

    @Test
    void elementSizeShapeAndMemory() {
        for (DType d : DType.values()) {
            try (Tensor t = Tensor.zeros(d, Format.NCHW, 2, 3, 5, 7)) {
                assertEquals(d, t.dtype());
                assertEquals(210, t.size());
                assertEquals(d.bytes() * 210L, t.segment().byteSize(), d + " bytes");
                assertEquals(0f, t.get(1, 2, 4, 6));
                try (Tensor r = t.reshape(Format.NC, 6, 35)) {
                    assertEquals(d, r.dtype(), "a reshape keeps the dtype");
                    assertTrue(r.sameMemory(t.reshape(Format.NC, 6, 35)));
                }
            }
        }
        assertEquals(4, DType.F32.bytes());
        assertEquals(2, DType.BF16.bytes());
        assertEquals(2, DType.F16.bytes());
    }

    @Test
    void floatsAreRoundedToNearestEvenOnTheWayInAndWidenedExactlyOnTheWayOut() {
        try (Tensor b = Tensor.of(DType.BF16, Format.C, VALUES, VALUES.length);
             Tensor h = Tensor.of(DType.F16, Format.C, VALUES, VALUES.length)) {
            assertArrayEquals(AS_BF16, b.toArray());
            assertArrayEquals(AS_F16, h.toArray());
            assertEquals((short) 0x3f80, b.segment().getAtIndex(ValueLayout.JAVA_SHORT, 0), "bf16 bits of 1");
            assertEquals((short) 0xc200, h.segment().getAtIndex(ValueLayout.JAVA_SHORT, 2), "f16 bits of -3");
            for (int i = 0; i < VALUES.length; i++) {
                assertEquals(AS_BF16[i], b.get(i), "bf16 get " + i);
                assertEquals(AS_F16[i], h.get(i), "f16 get " + i);
            }
            b.set(1.01171875f, 0);
            assertEquals(1.015625f, b.get(0));
            h.fill(65519f);
            assertEquals(65504f, h.get(3));
            h.fill(0f);
            assertEquals(0f, h.get(6));
        }
    }

    @Test
    void copyingBetweenDTypesConvertsOnce() {
        try (Tensor f = Tensor.of(Format.C, VALUES, VALUES.length);
             Tensor b = Tensor.zeros(DType.BF16, Format.C, VALUES.length);
             Tensor back = Tensor.zeros(Format.C, VALUES.length);
             Tensor h = Tensor.zeros(DType.F16, Format.C, VALUES.length)) {
            b.copyFrom(f);
            assertArrayEquals(AS_BF16, b.toArray());
            back.copyFrom(b);
            assertArrayEquals(AS_BF16, back.toArray(), "bf16 to f32 is exact");
            h.copyFrom(f);
            assertArrayEquals(AS_F16, h.toArray());
            Tensor b2 = Tensor.zeros(DType.BF16, Format.C, VALUES.length);
            b2.copyFrom(b);
            assertEquals(-1, b2.segment().mismatch(b.segment()), "same dtype: a byte copy");
            b2.close();
        }
    }

    @Test
    void wrapTakesTheElementSizeAndAlignment() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(64, 8);
            try (Tensor t = Tensor.wrap(s.asSlice(2), DType.BF16, Format.NC, 3, 5)) {
                assertEquals(30, t.segment().byteSize());
                t.set(2.5f, 0, 0);
                assertEquals((short) 0x4020, s.get(ValueLayout.JAVA_SHORT_UNALIGNED, 2));
            }
            assertThrows(IllegalArgumentException.class, () -> Tensor.wrap(s.asSlice(1), DType.F16, Format.C, 4));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Tensor.wrap(s, DType.F16, Format.C, 33));
            assertTrue(e.getMessage().contains("expected at least 66 bytes"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(null, Format.C, 4));
            assertTrue(e.getMessage().startsWith("dtype: expected one of [F32, BF16, F16], got null"), e.getMessage());
        }
    }

    @Test
    void halfTensorsOverlapByTheirBytes() {
        try (Tensor t = Tensor.zeros(DType.BF16, Format.C, 8); Tensor other = Tensor.zeros(DType.BF16, Format.C, 8)) {
            try (Tensor last = Tensor.wrap(t.segment().asSlice(14), DType.BF16, Format.C, 1)) {
                assertTrue(t.overlaps(last), "the last element (bytes 14, 15)");
                assertTrue(last.overlaps(t));
            }
            try (Tensor first = Tensor.wrap(t.segment().asSlice(0, 2), DType.BF16, Format.C, 1)) {
                assertTrue(t.overlaps(first));
                assertFalse(t.sameMemory(first));
            }
            assertFalse(t.overlaps(other));
        }
    }

    @Test
    void modulesWithoutHalfSupportRefuseAHalfInputByName() {
        try (ReLU relu = new ReLU();
             Tensor x = Tensor.zeros(DType.BF16, Format.NC, 4, 3)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> relu.forward(x));
            assertTrue(e.getMessage().startsWith("inp: expected dtype F32, got BF16"), e.getMessage());
        }
    }

    @Test
    void toStringNamesAHalfDType() {
        try (Tensor t = Tensor.zeros(DType.F16, Format.C, 2); Tensor f = Tensor.zeros(Format.C, 2)) {
            assertEquals("Tensor[F16 C [2], owned]", t.toString());
            assertEquals("Tensor[C [2], owned]", f.toString());
        }
    }
}
