package dev.bnorm.bench;

import dev.bnorm.kernel.Layout;

/**
 * A benchmark shape, written {@code LAYOUT:dims} as in the JMH parameter {@code shape}:
 * {@code NC:256x1024} (an m x k matrix, N = m, C = k, S = 1), {@code NCHW:32x64x56x56},
 * {@code NHWC:32x64x56x56} (dims always in N, C, H, W order; S = H*W). {@code dims} alone
 * ({@code 32x64x56x56}) is the floor benchmark's parameter: only the element count matters there.
 */
public record Shape(Layout layout, String dims, long n, long c, long s) {

    /** Parses {@code LAYOUT:dims}, e.g. {@code NHWC:32x256x56x56}. */
    public static Shape parse(String text) {
        int colon = text.indexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("shape: expected LAYOUT:dims such as NCHW:32x64x56x56, got \"" + text + "\"");
        }
        Layout layout;
        try {
            layout = Layout.valueOf(text.substring(0, colon));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("shape: expected layout NC, NCHW or NHWC, got \"" + text + "\"");
        }
        String dims = text.substring(colon + 1);
        long[] d = dims(dims);
        int expected = layout == Layout.NC ? 2 : 4;
        if (d.length != expected) {
            throw new IllegalArgumentException("shape: expected " + expected + " dims for " + layout + ", got \"" + text + "\"");
        }
        return new Shape(layout, dims, d[0], d[1], expected == 2 ? 1 : d[2] * d[3]);
    }

    /** The dimensions of {@code 32x64x56x56}; each must be a positive integer. */
    public static long[] dims(String dims) {
        String[] parts = dims.split("x", -1);
        long[] d = new long[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                d[i] = Long.parseLong(parts[i]);
            } catch (NumberFormatException e) {
                d[i] = 0;
            }
            if (d[i] < 1) {
                throw new IllegalArgumentException("dims: expected positive integers joined by 'x', got \"" + dims + "\"");
            }
        }
        return d;
    }

    /** The element count of {@code dims}. */
    public static long elements(String dims) {
        long count = 1;
        for (long d : dims(dims)) {
            count = Math.multiplyExact(count, d);
        }
        return count;
    }

    /** N*C*S. */
    public long elements() {
        return n * c * s;
    }

    /** M = N*S, the values per channel (the reduction length). */
    public long m() {
        return n * s;
    }

    @Override
    public String toString() {
        return layout + ":" + dims;
    }
}
