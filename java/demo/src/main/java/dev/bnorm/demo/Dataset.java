package dev.bnorm.demo;

import java.util.SplittableRandom;

/**
 * Labelled samples for classification, held in memory: {@code x} is (n, features) row-major with
 * inputs scaled to [0, 1], {@code y} is (n,) with labels in [0, classes).
 */
record Dataset(float[] x, int[] y, int features, int classes) {

    Dataset {
        if (features <= 0) throw new IllegalArgumentException("features: expected > 0, got " + features);
        if (x.length != (long) y.length * features) {
            throw new IllegalArgumentException("x: expected " + y.length + " * " + features + " values, got " + x.length);
        }
        for (int i = 0; i < y.length; i++) {
            if (y[i] < 0 || y[i] >= classes) {
                throw new IllegalArgumentException("y[" + i + "]: expected a label in [0, " + classes + "), got " + y[i]);
            }
        }
    }

    /** Number of samples. */
    int n() {
        return y.length;
    }

    /** The samples at {@code idx}, in that order. */
    Dataset select(int[] idx) {
        float[] sx = new float[idx.length * features];
        int[] sy = new int[idx.length];
        for (int i = 0; i < idx.length; i++) {
            System.arraycopy(x, idx[i] * features, sx, i * features, features);
            sy[i] = y[idx[i]];
        }
        return new Dataset(sx, sy, features, classes);
    }

    /** A training set and a held-out test set. */
    record Split(Dataset train, Dataset test, String description) {}

    /** Shuffles with {@code seed} (Fisher-Yates), then the last {@code testCount} samples are the test set. */
    Split split(int testCount, long seed, String name) {
        if (testCount <= 0 || testCount >= n()) {
            throw new IllegalArgumentException("testCount: expected in [1, " + (n() - 1) + "], got " + testCount);
        }
        int[] perm = permutation(n(), new SplittableRandom(seed));
        int trainCount = n() - testCount;
        int[] trainIdx = java.util.Arrays.copyOfRange(perm, 0, trainCount);
        int[] testIdx = java.util.Arrays.copyOfRange(perm, trainCount, n());
        return new Split(select(trainIdx), select(testIdx),
                name + ": " + trainCount + " train / " + testCount + " test (seeded shuffle)");
    }

    /** A uniformly random permutation of 0..n-1. */
    static int[] permutation(int n, SplittableRandom rnd) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
