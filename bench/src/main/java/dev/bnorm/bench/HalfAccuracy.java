package dev.bnorm.bench;

import static dev.bnorm.kernel.BatchNormKernels.DATA_BF16;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;

import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.kernel.Layout;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * bnorm's side of {@code bench/peers/half_accuracy.py}: for every case directory under the
 * directory given ({@code shape.txt} "N C H W", {@code x.bf16}, {@code dout.bf16} NCHW,
 * {@code gamma.f32}, {@code beta.f32}, little-endian), runs the native kernels with bf16
 * activations: forward training (batch statistics, scale and shift), then the backward of all
 * three gradients with the statistics the forward saved; writes {@code bnorm.out.bf16},
 * {@code bnorm.dinp.bf16}, {@code bnorm.dgamma.f32} and {@code bnorm.dbeta.f32} next to them.
 * The script compares them with float64. {@code java -cp benchmarks.jar dev.bnorm.bench.HalfAccuracy DIR}
 */
public final class HalfAccuracy {

    private static final double EPS = 1e-5;

    private HalfAccuracy() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: HalfAccuracy <directory of cases written by half_accuracy.py inputs>");
            System.exit(2);
        }
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalStateException("the case files are little-endian; this machine is not");
        }
        List<Path> cases;
        try (Stream<Path> list = Files.list(Path.of(args[0]))) {
            cases = list.filter(d -> Files.exists(d.resolve("shape.txt"))).sorted().toList();
        }
        if (cases.isEmpty()) {
            throw new IllegalArgumentException("directory: expected case directories with shape.txt, got none in " + args[0]);
        }
        BatchNormKernels kernels = Kernels.named("native");
        for (Path dir : cases) {
            run(kernels, dir);
            System.out.println("bnorm " + kernels.name() + " bf16: wrote " + dir.resolve("bnorm.*"));
        }
    }

    private static void run(BatchNormKernels kernels, Path dir) throws IOException {
        long[] d = Shape.dims(Files.readString(dir.resolve("shape.txt")).strip().replace(' ', 'x'));
        if (d.length != 4) {
            throw new IllegalArgumentException(dir.resolve("shape.txt") + ": expected N C H W, got " + d.length + " numbers");
        }
        long n = d[0];
        long c = d[1];
        long s = d[2] * d[3];
        long count = n * c * s;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = read(arena, dir.resolve("x.bf16"), 2 * count);
            MemorySegment dout = read(arena, dir.resolve("dout.bf16"), 2 * count);
            MemorySegment gamma = read(arena, dir.resolve("gamma.f32"), 4 * c);
            MemorySegment beta = read(arena, dir.resolve("beta.f32"), 4 * c);
            MemorySegment out = arena.allocate(2 * count, 64);
            MemorySegment dinp = arena.allocate(2 * count, 64);
            MemorySegment mean = arena.allocate(4 * c, 64);
            MemorySegment rstd = arena.allocate(4 * c, 64);
            MemorySegment dgamma = arena.allocate(4 * c, 64);
            MemorySegment dbeta = arena.allocate(4 * c, 64);
            kernels.forwardTraining(out, mean, rstd, null, null, x, gamma, beta, EPS, 0.1, USE_SCALE | USE_SHIFT | DATA_BF16,
                    Layout.NCHW, n, c, s);
            kernels.backward(dinp, dgamma, dbeta, dout, x, gamma, mean, rstd, USE_SCALE | DATA_BF16,
                    DIFF_INP | DIFF_SCALE | DIFF_SHIFT, Layout.NCHW, n, c, s);
            Files.write(dir.resolve("bnorm.out.bf16"), out.toArray(ValueLayout.JAVA_BYTE));
            Files.write(dir.resolve("bnorm.dinp.bf16"), dinp.toArray(ValueLayout.JAVA_BYTE));
            Files.write(dir.resolve("bnorm.dgamma.f32"), dgamma.toArray(ValueLayout.JAVA_BYTE));
            Files.write(dir.resolve("bnorm.dbeta.f32"), dbeta.toArray(ValueLayout.JAVA_BYTE));
        }
    }

    /** The file's bytes in a 64-byte aligned native segment; it must hold exactly {@code bytes}. */
    private static MemorySegment read(Arena arena, Path file, long bytes) throws IOException {
        byte[] data = Files.readAllBytes(file);
        if (data.length != bytes) {
            throw new IllegalArgumentException(file + ": expected " + bytes + " bytes, got " + data.length);
        }
        return arena.allocate(bytes, 64).copyFrom(MemorySegment.ofArray(data));
    }
}
