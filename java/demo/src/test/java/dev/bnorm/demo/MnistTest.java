package dev.bnorm.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The IDX reader on small files written here: 5 training and 2 test images of 3x4 pixels. */
class MnistTest {

    @TempDir
    Path dir;

    @Test
    void readsPlainFiles() throws IOException {
        writeAll(false);
        check(Mnist.load(dir));
    }

    @Test
    void readsGzipFiles() throws IOException {
        writeAll(true);
        check(Mnist.load(dir));
    }

    @Test
    void theDataOptionReadsMnist() throws IOException {
        writeAll(true);
        check(DataSpec.parse("mnist:" + dir).load());
    }

    private static void check(Dataset.Split s) {
        assertEquals(5, s.train().n());
        assertEquals(2, s.test().n());
        assertEquals(12, s.train().features());
        assertArrayEquals(new int[] {0, 1, 2, 3, 9}, s.train().y());
        assertArrayEquals(new int[] {4, 5}, s.test().y());
        // pixel (i, p) was written as (i * 12 + p * 21) % 256
        for (int i = 0; i < 5; i++) {
            for (int p = 0; p < 12; p++) {
                assertEquals(((i * 12 + p * 21) % 256) / 255f, s.train().x()[i * 12 + p], "image " + i + " pixel " + p);
            }
        }
        assertEquals(((12 + 21) % 256) / 255f, s.test().x()[12 + 1]);
    }

    @Test
    void badMagicIsRefused() throws IOException {
        writeAll(false);
        byte[] b = Files.readAllBytes(dir.resolve("train-images-idx3-ubyte"));
        b[2] = 0x0d; // float data, not unsigned bytes
        Files.write(dir.resolve("train-images-idx3-ubyte"), b);
        assertMessage("train-images-idx3-ubyte: not an IDX file of unsigned bytes with 3 dimension(s): "
                + "expected magic 0x00000803, got 0x00000d03");
    }

    @Test
    void truncatedDataIsRefused() throws IOException {
        writeAll(false);
        Path p = dir.resolve("t10k-images-idx3-ubyte");
        byte[] b = Files.readAllBytes(p);
        Files.write(p, Arrays.copyOf(b, b.length - 1));
        assertMessage("t10k-images-idx3-ubyte: expected 24 data bytes after the header, got 23 (truncated?)");
        Files.write(p, Arrays.copyOf(b, 7));
        assertMessage("not an IDX file: expected a header of 16 bytes, the file has 7");
    }

    @Test
    void labelCountMustMatchImageCount() throws IOException {
        writeAll(false);
        Files.write(dir.resolve("train-labels-idx1-ubyte"), idx(new int[] {4}, new byte[] {0, 1, 2, 3}));
        assertMessage("train-labels-idx1-ubyte: expected 5 labels (as many as images in train-images-idx3-ubyte), got 4");
    }

    @Test
    void labelsMustBeDigits() throws IOException {
        writeAll(false);
        Files.write(dir.resolve("t10k-labels-idx1-ubyte"), idx(new int[] {2}, new byte[] {4, 10}));
        assertMessage("t10k-labels-idx1-ubyte: label 1: expected 0..9, got 10");
    }

    @Test
    void missingFilesAreNamed() throws IOException {
        writeAll(false);
        Files.delete(dir.resolve("t10k-labels-idx1-ubyte"));
        assertMessage("no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz");
        DemoException e = assertThrows(DemoException.class, () -> Mnist.load(dir.resolve("nope")));
        assertTrue(e.getMessage().contains("expected a directory"), e.getMessage());
    }

    private void assertMessage(String expected) {
        DemoException e = assertThrows(DemoException.class, () -> Mnist.load(dir));
        assertTrue(e.getMessage().contains(expected), "expected \"" + expected + "\" in: " + e.getMessage());
    }

    private void writeAll(boolean gz) throws IOException {
        write("train-images-idx3-ubyte", images(5), gz);
        write("train-labels-idx1-ubyte", idx(new int[] {5}, new byte[] {0, 1, 2, 3, 9}), gz);
        write("t10k-images-idx3-ubyte", images(2), gz);
        write("t10k-labels-idx1-ubyte", idx(new int[] {2}, new byte[] {4, 5}), gz);
    }

    private void write(String name, byte[] b, boolean gz) throws IOException {
        if (gz) Files.write(dir.resolve(name + ".gz"), DigitsTest.gzip(b));
        else Files.write(dir.resolve(name), b);
    }

    private static byte[] images(int n) throws IOException {
        byte[] px = new byte[n * 12];
        for (int i = 0; i < n; i++) for (int p = 0; p < 12; p++) px[i * 12 + p] = (byte) ((i * 12 + p * 21) % 256);
        return idx(new int[] {n, 3, 4}, px);
    }

    /** An IDX file of unsigned bytes, written by hand from the format's description. */
    private static byte[] idx(int[] dims, byte[] data) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bos); // big-endian
        out.writeByte(0);
        out.writeByte(0);
        out.writeByte(0x08);
        out.writeByte(dims.length);
        for (int d : dims) out.writeInt(d);
        out.write(data);
        out.flush();
        return bos.toByteArray();
    }
}
