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
}
