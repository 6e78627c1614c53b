package dev.bnorm.kernel;

import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link JavaKernels} against PyTorch's golden values ({@link GoldenCases}). To run the same cases
 * against another implementation, subclass and override {@link #kernels()}.
 */
class GoldenTest {

    protected BatchNormKernels kernels() {
        return JavaKernels.INSTANCE;
    }

    static List<GoldenCases.Case> cases() {
        return GoldenCases.load();
    }

    @Test
    void casesExist() {
        assertFalse(cases().isEmpty(), "no golden cases on the test classpath");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesPyTorch(GoldenCases.Case golden) {
        GoldenCases.check(kernels(), golden);
    }
}
