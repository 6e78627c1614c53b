package dev.bnorm.bench;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** The setup check must pass equal results and fail, naming the worst index, on a wrong one. */
class VerifyTest {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    @Test
    void passesWithinToleranceAndFailsBeyondIt() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment expected = Data.uniform(arena, 100, -1, 1, 1);
            MemorySegment actual = Data.floats(arena, 100).copyFrom(expected);
            double tol = Verify.tol(100);
            actual.setAtIndex(F, 7, expected.getAtIndex(F, 7) + (float) (0.5 * tol));
            assertDoesNotThrow(() -> Verify.close("out", expected, actual, 100, tol, tol));
            actual.setAtIndex(F, 42, expected.getAtIndex(F, 42) + 1e-2f);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> Verify.close("out", expected, actual, 100, tol, tol));
            assertTrue(e.getMessage().startsWith("out: 1 of 100 values differ") && e.getMessage().contains("[42]"),
                    e.getMessage());
        }
    }

    @Test
    void nanMatchesOnlyNan() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment expected = Data.floats(arena, 3);
            MemorySegment actual = Data.floats(arena, 3);
            expected.setAtIndex(F, 1, Float.NaN);
            assertThrows(IllegalStateException.class, () -> Verify.close("x", expected, actual, 3, 1, 1));
            actual.setAtIndex(F, 1, Float.NaN);
            assertDoesNotThrow(() -> Verify.close("x", expected, actual, 3, 1, 1));
        }
    }

    @Test
    void toScaleJudgesAgainstTheLargestValue() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment expected = Data.floats(arena, 2);
            MemorySegment actual = Data.floats(arena, 2);
            expected.setAtIndex(F, 0, 1000f);
            actual.setAtIndex(F, 0, 1000f);
            actual.setAtIndex(F, 1, 5e-3f); // 5e-6 of the scale 1000: within tol(1) = 1e-5 * 1.03
            assertDoesNotThrow(() -> Verify.closeToScale("dinp", expected, actual, 2, Verify.tol(1)));
            assertThrows(IllegalStateException.class, () -> Verify.close("dinp", expected, actual, 2, Verify.tol(1), Verify.tol(1)));
        }
    }
}
