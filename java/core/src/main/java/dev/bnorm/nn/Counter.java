package dev.bnorm.nn;

/**
 * A non-negative int64 scalar in a module's state, PyTorch's 0-d int64 buffers such as
 * {@code BatchNorm}'s {@code num_batches_tracked}. It is kept apart from the float32
 * {@link Module#stateDict()} and saved as {@code I64} by {@link StateDicts}.
 *
 * <p>Incrementing saturates at {@link Long#MAX_VALUE} (2^63-1) instead of overflowing, so that a
 * loaded value at the limit cannot make a call fail half-way: a counter there stays there (PyTorch's
 * int64 tensor would wrap to a negative count). At that count the quantities derived from it are
 * already at their limits ({@code 1/num_batches_tracked} and Adam's {@code beta^step} round to 0).
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

    /** Adds 1, saturating at {@link Long#MAX_VALUE}. */
    void increment() {
        if (value != Long.MAX_VALUE) {
            value++;
        }
    }

    @Override
    public String toString() {
        return Long.toString(value);
    }
}
