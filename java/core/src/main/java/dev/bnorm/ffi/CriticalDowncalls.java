package dev.bnorm.ffi;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Critical downcall handles ({@link Linker.Option#critical(boolean)}, heap access not allowed) of
 * the one-shot, split-phase and Linear kernels, beside {@link bn_h}'s ordinary ones and with the same
 * descriptors. A critical
 * downcall skips the thread-state transition of an ordinary one and so holds up the garbage
 * collector for as long as it runs: only for calls that are short and never wait for the library's
 * threads (see {@code dev.bnorm.kernel.NativeKernels#CRITICAL_MAX}). Built on first use, which
 * must come after {@link NativeLibrary#load()} (the symbols resolve through the loader lookup).
 */
public final class CriticalDowncalls {

    private CriticalDowncalls() {}

    /** {@code bn_forward_training} as a critical downcall. */
    public static MethodHandle bn_forward_training() {
        return Handles.TRAINING;
    }

    /** {@code bn_forward_inference} as a critical downcall. */
    public static MethodHandle bn_forward_inference() {
        return Handles.INFERENCE;
    }

    /** {@code bn_backward} as a critical downcall. */
    public static MethodHandle bn_backward() {
        return Handles.BACKWARD;
    }

    /** {@code bn_stats_local} as a critical downcall. */
    public static MethodHandle bn_stats_local() {
        return SplitHandles.STATS_LOCAL;
    }

    /** {@code bn_stats_merge} as a critical downcall. */
    public static MethodHandle bn_stats_merge() {
        return SplitHandles.STATS_MERGE;
    }

    /** {@code bn_forward_apply} as a critical downcall. */
    public static MethodHandle bn_forward_apply() {
        return SplitHandles.FORWARD_APPLY;
    }

    /** {@code bn_backward_reduce} as a critical downcall. */
    public static MethodHandle bn_backward_reduce() {
        return SplitHandles.BACKWARD_REDUCE;
    }

    /** {@code bn_backward_apply} as a critical downcall. */
    public static MethodHandle bn_backward_apply() {
        return SplitHandles.BACKWARD_APPLY;
    }

    /** {@code bn_linear_forward} as a critical downcall. */
    public static MethodHandle bn_linear_forward() {
        return LinearHandles.FORWARD;
    }

    /** {@code bn_linear_forward_t} as a critical downcall. */
    public static MethodHandle bn_linear_forward_t() {
        return LinearHandles.FORWARD_T;
    }

    /** {@code bn_linear_backward} as a critical downcall. */
    public static MethodHandle bn_linear_backward() {
        return LinearHandles.BACKWARD;
    }

    private static MethodHandle critical(MemorySegment address, FunctionDescriptor descriptor) {
        return Linker.nativeLinker().downcallHandle(address, descriptor, Linker.Option.critical(false));
    }

    private static final class Handles {
        static final MethodHandle TRAINING = critical(bn_h.bn_forward_training$address(),
                bn_h.bn_forward_training$descriptor());
        static final MethodHandle INFERENCE = critical(bn_h.bn_forward_inference$address(),
                bn_h.bn_forward_inference$descriptor());
        static final MethodHandle BACKWARD = critical(bn_h.bn_backward$address(), bn_h.bn_backward$descriptor());
    }

    private static final class LinearHandles {
        static final MethodHandle FORWARD = critical(bn_h.bn_linear_forward$address(),
                bn_h.bn_linear_forward$descriptor());
        static final MethodHandle FORWARD_T = critical(bn_h.bn_linear_forward_t$address(),
                bn_h.bn_linear_forward_t$descriptor());
        static final MethodHandle BACKWARD = critical(bn_h.bn_linear_backward$address(),
                bn_h.bn_linear_backward$descriptor());
    }

    private static final class SplitHandles {
        static final MethodHandle STATS_LOCAL = critical(bn_h.bn_stats_local$address(),
                bn_h.bn_stats_local$descriptor());
        static final MethodHandle STATS_MERGE = critical(bn_h.bn_stats_merge$address(),
                bn_h.bn_stats_merge$descriptor());
        static final MethodHandle FORWARD_APPLY = critical(bn_h.bn_forward_apply$address(),
                bn_h.bn_forward_apply$descriptor());
        static final MethodHandle BACKWARD_REDUCE = critical(bn_h.bn_backward_reduce$address(),
                bn_h.bn_backward_reduce$descriptor());
        static final MethodHandle BACKWARD_APPLY = critical(bn_h.bn_backward_apply$address(),
                bn_h.bn_backward_apply$descriptor());
    }
}
