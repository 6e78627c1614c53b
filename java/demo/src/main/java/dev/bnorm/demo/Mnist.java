package dev.bnorm.demo;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * MNIST in its IDX files (LeCun et al.), read from a directory holding
 * {@code train-images-idx3-ubyte}, {@code train-labels-idx1-ubyte}, {@code t10k-images-idx3-ubyte}
 * and {@code t10k-labels-idx1-ubyte}, each optionally gzip-compressed ({@code .gz}). The train files
 * are the training set and the t10k files the held-out set. Pixels (0..255) are scaled by 1/255.
 *
 * <p>IDX: a big-endian header {@code 0, 0, type, ndims} (type 0x08 = unsigned byte), then
 * {@code ndims} big-endian int32 sizes, then the data: images (n, rows, cols), labels (n,).
 */
final class Mnist {

    static final int CLASSES = 10;
    private static final int UBYTE = 0x08;

    private Mnist() {}

    static Dataset.Split load(Path dir) {
        if (!Files.isDirectory(dir)) throw new DemoException("mnist: " + dir + ": expected a directory with the IDX files");
        Dataset train = load(dir, "train");
        Dataset test = load(dir, "t10k");
        if (train.features() != test.features()) {
            throw new DemoException("mnist: " + dir + ": train images have " + train.features()
                    + " pixels, t10k images " + test.features());
        }
        return new Dataset.Split(train, test,
                "MNIST " + dir + ": " + train.n() + " train / " + test.n() + " test (t10k)");
    }

    /** One part ("train" or "t10k"): its images and labels. */
    static Dataset load(Path dir, String part) {
        Path imagesFile = find(dir, part + "-images-idx3-ubyte");
        Path labelsFile = find(dir, part + "-labels-idx1-ubyte");
        Idx images = Idx.parse(DataFiles.readAll(imagesFile), imagesFile.toString(), 3);
        Idx labels = Idx.parse(DataFiles.readAll(labelsFile), labelsFile.toString(), 1);
        int n = images.dims[0];
        if (labels.dims[0] != n) {
            throw new DemoException(labelsFile + ": expected " + n + " labels (as many as images in "
                    + imagesFile.getFileName() + "), got " + labels.dims[0]);
        }
        int features = images.dims[1] * images.dims[2];
        float[] x = new float[images.data.remaining()];
        for (int i = 0; i < x.length; i++) x[i] = (images.data.get(i) & 0xff) / 255f;
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = labels.data.get(i) & 0xff;
            if (y[i] >= CLASSES) {
                throw new DemoException(labelsFile + ": label " + i + ": expected 0.." + (CLASSES - 1) + ", got " + y[i]);
            }
        }
        return new Dataset(x, y, features, CLASSES);
    }

    private static Path find(Path dir, String name) {
        Path plain = dir.resolve(name);
        if (Files.exists(plain)) return plain;
        Path gz = dir.resolve(name + ".gz");
        if (Files.exists(gz)) return gz;
        throw new DemoException("mnist: " + dir + ": no " + name + " or " + name + ".gz");
    }

    /** An unsigned-byte IDX array: its sizes and the data after the header. */
    record Idx(int[] dims, ByteBuffer data) {

        static Idx parse(byte[] bytes, String source, int ndims) {
            int header = 4 + 4 * ndims;
            if (bytes.length < header) {
                throw new DemoException(source + ": not an IDX file: expected a header of " + header
                        + " bytes, the file has " + bytes.length);
            }
            ByteBuffer b = ByteBuffer.wrap(bytes); // big-endian, as IDX
            int magic = b.getInt();
            int expected = (UBYTE << 8) | ndims;
            if (magic != expected) {
                throw new DemoException(source + ": not an IDX file of unsigned bytes with " + ndims
                        + " dimension(s): expected magic 0x" + String.format("%08x", expected)
                        + ", got 0x" + String.format("%08x", magic));
            }
            int[] dims = new int[ndims];
            long count = 1;
            for (int d = 0; d < ndims; d++) {
                dims[d] = b.getInt();
                if (dims[d] <= 0) throw new DemoException(source + ": size " + d + ": expected > 0, got " + dims[d]);
                count *= dims[d];
            }
            if (count != bytes.length - header) {
                throw new DemoException(source + ": expected " + count + " data bytes after the header, got "
                        + (bytes.length - header) + (count > bytes.length - header ? " (truncated?)" : ""));
            }
            return new Idx(dims, b.slice(header, bytes.length - header));
        }
    }
}
