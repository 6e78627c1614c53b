package dev.bnorm.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DigitsTest {

    @TempDir
    Path dir;

    @Test
    void bundledCopyHasTheDocumentedShapeAndRanges() {
        Dataset d = Digits.bundled();
        assertEquals(1797, d.n());
        assertEquals(64, d.features());
        assertEquals(10, d.classes());
        int[] perClass = new int[10];
        for (int label : d.y()) perClass[label]++;
        for (int c = 0; c < 10; c++) assertTrue(perClass[c] > 150, "class " + c + " has " + perClass[c] + " samples");
        for (float v : d.x()) assertTrue(v >= 0 && v <= 1, "input " + v + " outside [0, 1]");
        // The first line of digits.csv.gz (zcat | head -1): 0,0,5,13,9,1,0,0,... label 0.
        float[] first = Arrays.copyOf(d.x(), 6);
        assertArrayEquals(new float[] {0, 0, 5 / 16f, 13 / 16f, 9 / 16f, 1 / 16f}, first);
        assertEquals(0, d.y()[0]);
    }

    @Test
    void splitIsSeededDisjointAndComplete() {
        Dataset.Split s = DataSpec.parse("digits").load();
        assertEquals(1497, s.train().n());
        assertEquals(300, s.test().n());
        Dataset.Split again = DataSpec.parse("digits").load();
        assertArrayEquals(s.test().y(), again.test().y());
        assertArrayEquals(s.test().x(), again.test().x());
        // Every sample lands in exactly one part: the label histograms add up to the whole set's.
        Dataset all = Digits.bundled();
        int[] whole = new int[10];
        int[] parts = new int[10];
        for (int y : all.y()) whole[y]++;
        for (int y : s.train().y()) parts[y]++;
        for (int y : s.test().y()) parts[y]++;
        assertArrayEquals(whole, parts);
        // Shuffled: the test set is not simply the file's last 300 lines.
        int[] tail = Arrays.copyOfRange(all.y(), 1497, 1797);
        assertTrue(!Arrays.equals(tail, s.test().y()));
    }

    @Test
    void readsPlainAndGzipFiles() throws IOException {
        String csv = row(3, 7) + "\n" + row(16, 9) + "\n";
        Path plain = Files.writeString(dir.resolve("d.csv"), csv);
        Path gz = Files.write(dir.resolve("d.csv.gz"), gzip(csv.getBytes(StandardCharsets.US_ASCII)));
        for (Path p : new Path[] {plain, gz}) {
            Dataset d = Digits.load(p);
            assertEquals(2, d.n());
            assertEquals(3 / 16f, d.x()[0]);
            assertEquals(1f, d.x()[64]);
            assertArrayEquals(new int[] {7, 9}, d.y());
        }
    }

    @Test
    void malformedFilesFailWithTheLineAndTheProblem() throws IOException {
        assertMessage(row(1, 2) + "\n1,2,3\n", "line 2: expected 65 comma-separated integers");
        assertMessage(row(1, 2).replaceFirst("1", "x"), "line 1: pixel 0: expected an integer in 0..16, got \"x\"");
        assertMessage(row(17, 2), "line 1: pixel 0: expected an integer in 0..16, got 17");
        assertMessage(row(1, 10), "line 1: label: expected an integer in 0..9, got 10");
        assertMessage("\n\n", "no samples");
    }

    @Test
    void unreadableFilesFailWithTheReason() throws IOException {
        DemoException e = assertThrows(DemoException.class, () -> Digits.load(dir.resolve("missing.csv")));
        assertTrue(e.getMessage().endsWith("missing.csv: cannot read: no such file"), e.getMessage());
        e = assertThrows(DemoException.class, () -> Digits.load(dir));
        assertTrue(e.getMessage().contains("expected a file, got a directory"), e.getMessage());
        byte[] z = gzip(row(1, 1).getBytes(StandardCharsets.US_ASCII));
        Path truncated = Files.write(dir.resolve("t.csv.gz"), Arrays.copyOf(z, z.length / 2));
        e = assertThrows(DemoException.class, () -> Digits.load(truncated));
        assertTrue(e.getMessage().contains("t.csv.gz: cannot read: "), e.getMessage());
    }

    private void assertMessage(String content, String expected) throws IOException {
        Path p = Files.writeString(dir.resolve("bad.csv"), content);
        DemoException e = assertThrows(DemoException.class, () -> Digits.load(p));
        assertTrue(e.getMessage().contains(expected), "expected \"" + expected + "\" in: " + e.getMessage());
    }

    /** A line of 64 pixels of value {@code pixel} and the label. */
    static String row(int pixel, int label) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 64; i++) sb.append(pixel).append(',');
        return sb.append(label).toString();
    }

    static byte[] gzip(byte[] b) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
            gz.write(b);
        }
        return bos.toByteArray();
    }
}
