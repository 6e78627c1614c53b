package dev.bnorm.kernel;

/** The C kernels against PyTorch's golden values: the same cases as {@link GoldenTest}. */
class NativeGoldenTest extends GoldenTest {
    @Override
    protected BatchNormKernels kernels() {
        return NativeKernels.get();
    }
}
