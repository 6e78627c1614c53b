package dev.bnorm.demo;

import java.nio.file.Path;

/**
 * The {@code --data} option: {@code digits} (the bundled copy), {@code digits:<file>} (a file in the
 * same format) or {@code mnist:<dir>} (the four MNIST IDX files).
 *
 * @param kind "digits" or "mnist"
 * @param path the file or directory, null for the bundled digits
 */
record DataSpec(String kind, Path path) {

    /** Held-out samples of a digits file: 300, or a fifth of a file of fewer than 600 samples. */
    static final int DIGITS_TEST = 300;
    /** The split is fixed, whatever --seed says, so that runs with different seeds share a test set. */
    static final long SPLIT_SEED = 20150211L;

    static DataSpec parse(String spec) {
        if (spec.equals("digits")) return new DataSpec("digits", null);
        int colon = spec.indexOf(':');
        if (colon > 0 && colon < spec.length() - 1) {
            String kind = spec.substring(0, colon);
            if (kind.equals("digits") || kind.equals("mnist")) return new DataSpec(kind, Path.of(spec.substring(colon + 1)));
        }
        throw new IllegalArgumentException("expected digits, digits:<file> or mnist:<dir>, got \"" + spec + "\"");
    }

    /** Reads the data; {@link DemoException} when it cannot be read or is malformed. */
    Dataset.Split load() {
        if (kind.equals("mnist")) return Mnist.load(path);
        if (path == null) return split(Digits.bundled(), "digits (bundled, UCI, CC BY 4.0)");
        return split(Digits.load(path), "digits " + path);
    }

    private static Dataset.Split split(Dataset d, String name) {
        if (d.n() < 10) throw new DemoException(name + ": expected at least 10 samples, got " + d.n());
        int test = d.n() >= 2 * DIGITS_TEST ? DIGITS_TEST : d.n() / 5;
        return d.split(test, SPLIT_SEED, name);
    }

    @Override
    public String toString() {
        return path == null ? kind : kind + ":" + path;
    }
}
