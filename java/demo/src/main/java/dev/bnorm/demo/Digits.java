package dev.bnorm.demo;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The UCI "Optical Recognition of Handwritten Digits" test set (1,797 8x8 images, CC BY 4.0; see
 * {@code digits/README.md} beside the bundled copy): one sample per line, 64 integer pixels in
 * 0..16 then the label 0..9, comma-separated, optionally gzip-compressed. Pixels are scaled by 1/16.
 */
final class Digits {

    static final int PIXELS = 64;
    static final int MAX_PIXEL = 16;
    static final int CLASSES = 10;
    static final String RESOURCE = "digits/digits.csv.gz";

    private Digits() {}

    /** The copy bundled in this jar. */
    static Dataset bundled() {
        InputStream in = Digits.class.getResourceAsStream(RESOURCE);
        if (in == null) throw new DemoException("bundled data " + RESOURCE + " is missing from the class path");
        return parse(DataFiles.readAll(in, "bundled " + RESOURCE), "bundled " + RESOURCE);
    }

    /** A file in the same format. */
    static Dataset load(Path file) {
        return parse(DataFiles.readAll(file), file.toString());
    }

    static Dataset parse(byte[] bytes, String source) {
        String[] lines = new String(bytes, StandardCharsets.US_ASCII).split("\r?\n");
        int n = 0;
        for (String line : lines) if (!line.isBlank()) n++;
        if (n == 0) throw new DemoException(source + ": no samples");
        float[] x = new float[n * PIXELS];
        int[] y = new int[n];
        int i = 0;
        for (int ln = 0; ln < lines.length; ln++) {
            if (lines[ln].isBlank()) continue;
            String[] f = lines[ln].split(",", -1);
            String where = source + " line " + (ln + 1);
            if (f.length != PIXELS + 1) {
                throw new DemoException(where + ": expected " + (PIXELS + 1)
                        + " comma-separated integers (64 pixels, then the label), got " + f.length + " fields");
            }
            for (int p = 0; p < PIXELS; p++) {
                x[i * PIXELS + p] = integer(f[p], 0, MAX_PIXEL, where, "pixel " + p) / (float) MAX_PIXEL;
            }
            y[i++] = integer(f[PIXELS], 0, CLASSES - 1, where, "label");
        }
        return new Dataset(x, y, PIXELS, CLASSES);
    }

    private static int integer(String s, int min, int max, String where, String what) {
        int v;
        try {
            v = Integer.parseInt(s.strip());
        } catch (NumberFormatException e) {
            throw new DemoException(where + ": " + what + ": expected an integer in " + min + ".." + max + ", got \"" + s + "\"");
        }
        if (v < min || v > max) {
            throw new DemoException(where + ": " + what + ": expected an integer in " + min + ".." + max + ", got " + v);
        }
        return v;
    }
}
