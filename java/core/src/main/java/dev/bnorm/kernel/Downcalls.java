package dev.bnorm.kernel;

import dev.bnorm.ffi.NativeLibrary;
import dev.bnorm.ffi.bn_h;
import java.lang.foreign.MemorySegment;

/** What every native kernel class does around a downcall: optional buffers, throwables, statuses. */
final class Downcalls {

    private Downcalls() {}

    /** An optional buffer as the C side takes it: null becomes {@code NULL}. */
    static MemorySegment p(MemorySegment segment) {
        return segment == null ? MemorySegment.NULL : segment;
    }

    /** A downcall's throwable as it is (the bindings' wrappers do the same). */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        throw new AssertionError("should not reach here", t);
    }

    /**
     * Throws unless {@code status} is {@code BN_OK}: after the Java checks a non-OK status means the
     * two validations disagree, reported with {@code bn_strerror}'s text.
     */
    static void status(String function, int status) {
        if (status != bn_h.BN_OK()) {
            throw new IllegalArgumentException(function + " returned status " + status + ": "
                    + NativeLibrary.strerror(status));
        }
    }
}
