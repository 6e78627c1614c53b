package dev.bnorm.kernel;

/**
 * The element type of an activation buffer. The codes are those of {@code bn_dtype} in
 * {@code native/include/bn.h}; the names are safetensors' and PyTorch's ({@code torch.float32},
 * {@code torch.bfloat16}, {@code torch.float16}).
 */
public enum DType {
    /** float32, 4 bytes. */
    F32(0, 4),
    /** bfloat16, the top 16 bits of a float32 (8 exponent bits, 7 mantissa bits), 2 bytes. */
    BF16(1, 2),
    /** IEEE 754 binary16 (5 exponent bits, 10 mantissa bits, largest finite 65504), 2 bytes. */
    F16(2, 2);

    /** The {@code bn_dtype} value. */
    public final int code;
    private final int bytes;

    DType(int code, int bytes) {
        this.code = code;
        this.bytes = bytes;
    }

    /** The size of one element in bytes. */
    public int bytes() {
        return bytes;
    }

    /**
     * The kernel flag naming this dtype for the activations: 0 for F32,
     * {@link BatchNormKernels#DATA_BF16}, {@link BatchNormKernels#DATA_F16}.
     */
    public int flags() {
        return switch (this) {
            case F32 -> 0;
            case BF16 -> BatchNormKernels.DATA_BF16;
            case F16 -> BatchNormKernels.DATA_F16;
        };
    }

    /**
     * The activations' dtype named by kernel {@code flags} (other bits are ignored).
     *
     * @throws IllegalArgumentException if both DATA_BF16 and DATA_F16 are set
     */
    public static DType ofFlags(int flags) {
        return switch (flags & (BatchNormKernels.DATA_BF16 | BatchNormKernels.DATA_F16)) {
            case 0 -> F32;
            case BatchNormKernels.DATA_BF16 -> BF16;
            case BatchNormKernels.DATA_F16 -> F16;
            default -> throw new IllegalArgumentException("flags: expected at most one of DATA_BF16 (0x40) and DATA_F16"
                    + " (0x80), got 0x" + Integer.toHexString(flags));
        };
    }
}
