package dev.bnorm.nn;

/**
 * A non-negative int64 scalar in a module's state, PyTorch's 0-d int64 buffers such as
 * {@code BatchNorm}'s {@code num_batches_tracked}. It is kept apart from the float32
 * {@link Module#stateDict()} and saved as {@code I64} by {@link StateDicts}.
 */
public final class Counter {

    private long value;

    Counter() {
    }

    /** The value. */
    public long get() {
        return value;
    }

    /** Sets the value, which must be at least 0. */
    public void set(long value) {
        if (value < 0) {
            throw new IllegalArgumentException("value: expected at least 0, got " + value);
        }
        this.value = value;
    }

    void increment() {
        value = Math.incrementExact(value);
    }

    @Override
    public String toString() {
        return Long.toString(value);
    }
}
