// In the shape jextract generates from native/include/bn.h with native/jextract.args, but written
// and extended by hand (jextract is not installed where this was written): regenerate it with
// ./mvnw -pl java/core -Pjextract generate-sources. BindingsTest checks it against bn.h.

package dev.bnorm.ffi;

import java.lang.invoke.*;
import java.lang.foreign.*;
import java.nio.ByteOrder;
import java.util.*;
import java.util.function.*;
import java.util.stream.*;

import static java.lang.foreign.ValueLayout.*;
import static java.lang.foreign.MemoryLayout.PathElement.*;

public class bn_h {

    bn_h() {
        // Should not be called directly
    }

    static final Arena LIBRARY_ARENA = Arena.ofAuto();
    static final boolean TRACE_DOWNCALLS = Boolean.getBoolean("jextract.trace.downcalls");

    static void traceDowncall(String name, Object... args) {
         String traceArgs = Arrays.stream(args)
                       .map(Object::toString)
                       .collect(Collectors.joining(", "));
         System.out.printf("%s(%s)\n", name, traceArgs);
    }

    static MemorySegment findOrThrow(String symbol) {
        return SYMBOL_LOOKUP.find(symbol)
            .orElseThrow(() -> new UnsatisfiedLinkError("unresolved symbol: " + symbol));
    }

    static MethodHandle upcallHandle(Class<?> fi, String name, FunctionDescriptor fdesc) {
        try {
            return MethodHandles.lookup().findVirtual(fi, name, fdesc.toMethodType());
        } catch (ReflectiveOperationException ex) {
            throw new AssertionError(ex);
        }
    }

    static MemoryLayout align(MemoryLayout layout, long align) {
        return switch (layout) {
            case PaddingLayout p -> p;
            case ValueLayout v -> v.withByteAlignment(align);
            case GroupLayout g -> {
                MemoryLayout[] alignedMembers = g.memberLayouts().stream()
                        .map(m -> align(m, align)).toArray(MemoryLayout[]::new);
                yield g instanceof StructLayout ?
                        MemoryLayout.structLayout(alignedMembers) : MemoryLayout.unionLayout(alignedMembers);
            }
            case SequenceLayout s -> MemoryLayout.sequenceLayout(s.elementCount(), align(s.elementLayout(), align));
        };
    }

    static final SymbolLookup SYMBOL_LOOKUP = SymbolLookup.loaderLookup()
            .or(Linker.nativeLinker().defaultLookup());

    public static final ValueLayout.OfBoolean C_BOOL = ValueLayout.JAVA_BOOLEAN;
    public static final ValueLayout.OfByte C_CHAR = ValueLayout.JAVA_BYTE;
    public static final ValueLayout.OfShort C_SHORT = ValueLayout.JAVA_SHORT;
    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    public static final ValueLayout.OfLong C_LONG_LONG = ValueLayout.JAVA_LONG;
    public static final ValueLayout.OfFloat C_FLOAT = ValueLayout.JAVA_FLOAT;
    public static final ValueLayout.OfDouble C_DOUBLE = ValueLayout.JAVA_DOUBLE;
    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS
            .withTargetLayout(MemoryLayout.sequenceLayout(java.lang.Long.MAX_VALUE, JAVA_BYTE));
    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
    private static final int BN_OK = (int)0L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_OK = 0
     * }
     */
    public static int BN_OK() {
        return BN_OK;
    }
    private static final int BN_ERR_NULL_POINTER = (int)1L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_NULL_POINTER = 1
     * }
     */
    public static int BN_ERR_NULL_POINTER() {
        return BN_ERR_NULL_POINTER;
    }
    private static final int BN_ERR_BAD_DIMENSION = (int)2L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_BAD_DIMENSION = 2
     * }
     */
    public static int BN_ERR_BAD_DIMENSION() {
        return BN_ERR_BAD_DIMENSION;
    }
    private static final int BN_ERR_OVERFLOW = (int)3L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_OVERFLOW = 3
     * }
     */
    public static int BN_ERR_OVERFLOW() {
        return BN_ERR_OVERFLOW;
    }
    private static final int BN_ERR_BAD_LAYOUT = (int)4L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_BAD_LAYOUT = 4
     * }
     */
    public static int BN_ERR_BAD_LAYOUT() {
        return BN_ERR_BAD_LAYOUT;
    }
    private static final int BN_ERR_BAD_FLAGS = (int)5L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_BAD_FLAGS = 5
     * }
     */
    public static int BN_ERR_BAD_FLAGS() {
        return BN_ERR_BAD_FLAGS;
    }
    private static final int BN_ERR_BAD_EPS = (int)6L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_BAD_EPS = 6
     * }
     */
    public static int BN_ERR_BAD_EPS() {
        return BN_ERR_BAD_EPS;
    }
    private static final int BN_ERR_BAD_MOMENTUM = (int)7L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_BAD_MOMENTUM = 7
     * }
     */
    public static int BN_ERR_BAD_MOMENTUM() {
        return BN_ERR_BAD_MOMENTUM;
    }
    private static final int BN_ERR_SINGLE_VALUE = (int)8L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_SINGLE_VALUE = 8
     * }
     */
    public static int BN_ERR_SINGLE_VALUE() {
        return BN_ERR_SINGLE_VALUE;
    }
    private static final int BN_ERR_MISALIGNED = (int)9L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_MISALIGNED = 9
     * }
     */
    public static int BN_ERR_MISALIGNED() {
        return BN_ERR_MISALIGNED;
    }
    private static final int BN_ERR_ALIAS = (int)10L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_ALIAS = 10
     * }
     */
    public static int BN_ERR_ALIAS() {
        return BN_ERR_ALIAS;
    }
    private static final int BN_ERR_BAD_MASK = (int)11L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_BAD_MASK = 11
     * }
     */
    public static int BN_ERR_BAD_MASK() {
        return BN_ERR_BAD_MASK;
    }
    private static final int BN_ERR_BAD_DTYPE = (int)12L;
    /**
     * {@snippet lang=c :
     * enum bn_status.BN_ERR_BAD_DTYPE = 12
     * }
     */
    public static int BN_ERR_BAD_DTYPE() {
        return BN_ERR_BAD_DTYPE;
    }
    private static final int BN_LAYOUT_NC = (int)0L;
    /**
     * {@snippet lang=c :
     * enum bn_layout.BN_LAYOUT_NC = 0
     * }
     */
    public static int BN_LAYOUT_NC() {
        return BN_LAYOUT_NC;
    }
    private static final int BN_LAYOUT_NCHW = (int)1L;
    /**
     * {@snippet lang=c :
     * enum bn_layout.BN_LAYOUT_NCHW = 1
     * }
     */
    public static int BN_LAYOUT_NCHW() {
        return BN_LAYOUT_NCHW;
    }
    private static final int BN_LAYOUT_NHWC = (int)2L;
    /**
     * {@snippet lang=c :
     * enum bn_layout.BN_LAYOUT_NHWC = 2
     * }
     */
    public static int BN_LAYOUT_NHWC() {
        return BN_LAYOUT_NHWC;
    }
    private static final int BN_USE_SCALE = (int)1L;
    /**
     * {@snippet lang=c :
     * #define BN_USE_SCALE 1
     * }
     */
    public static int BN_USE_SCALE() {
        return BN_USE_SCALE;
    }
    private static final int BN_USE_SHIFT = (int)2L;
    /**
     * {@snippet lang=c :
     * #define BN_USE_SHIFT 2
     * }
     */
    public static int BN_USE_SHIFT() {
        return BN_USE_SHIFT;
    }
    private static final int BN_UPDATE_RUNNING = (int)4L;
    /**
     * {@snippet lang=c :
     * #define BN_UPDATE_RUNNING 4
     * }
     */
    public static int BN_UPDATE_RUNNING() {
        return BN_UPDATE_RUNNING;
    }
    private static final int BN_USE_GLOBAL_STATS = (int)8L;
    /**
     * {@snippet lang=c :
     * #define BN_USE_GLOBAL_STATS 8
     * }
     */
    public static int BN_USE_GLOBAL_STATS() {
        return BN_USE_GLOBAL_STATS;
    }
    private static final int BN_FUSE_RELU = (int)16L;
    /**
     * {@snippet lang=c :
     * #define BN_FUSE_RELU 16
     * }
     */
    public static int BN_FUSE_RELU() {
        return BN_FUSE_RELU;
    }
    private static final int BN_FUSE_ADD = (int)32L;
    /**
     * {@snippet lang=c :
     * #define BN_FUSE_ADD 32
     * }
     */
    public static int BN_FUSE_ADD() {
        return BN_FUSE_ADD;
    }
    private static final int BN_DATA_BF16 = (int)64L;
    /**
     * {@snippet lang=c :
     * #define BN_DATA_BF16 64
     * }
     */
    public static int BN_DATA_BF16() {
        return BN_DATA_BF16;
    }
    private static final int BN_DATA_F16 = (int)128L;
    /**
     * {@snippet lang=c :
     * #define BN_DATA_F16 128
     * }
     */
    public static int BN_DATA_F16() {
        return BN_DATA_F16;
    }
    private static final int BN_DIFF_INP = (int)1L;
    /**
     * {@snippet lang=c :
     * #define BN_DIFF_INP 1
     * }
     */
    public static int BN_DIFF_INP() {
        return BN_DIFF_INP;
    }
    private static final int BN_DIFF_SCALE = (int)2L;
    /**
     * {@snippet lang=c :
     * #define BN_DIFF_SCALE 2
     * }
     */
    public static int BN_DIFF_SCALE() {
        return BN_DIFF_SCALE;
    }
    private static final int BN_DIFF_SHIFT = (int)4L;
    /**
     * {@snippet lang=c :
     * #define BN_DIFF_SHIFT 4
     * }
     */
    public static int BN_DIFF_SHIFT() {
        return BN_DIFF_SHIFT;
    }
    private static final int BN_DIFF_RES = (int)8L;
    /**
     * {@snippet lang=c :
     * #define BN_DIFF_RES 8
     * }
     */
    public static int BN_DIFF_RES() {
        return BN_DIFF_RES;
    }

    private static class bn_version {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_POINTER
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_version");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * const char *bn_version()
     * }
     */
    public static FunctionDescriptor bn_version$descriptor() {
        return bn_version.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * const char *bn_version()
     * }
     */
    public static MethodHandle bn_version$handle() {
        return bn_version.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * const char *bn_version()
     * }
     */
    public static MemorySegment bn_version$address() {
        return bn_version.ADDR;
    }

    /**
     * {@snippet lang=c :
     * const char *bn_version()
     * }
     */
    public static MemorySegment bn_version() {
        var mh$ = bn_version.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_version");
            }
            return (MemorySegment)mh$.invokeExact();
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_strerror {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_POINTER,
            bn_h.C_INT
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_strerror");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * const char *bn_strerror(int status)
     * }
     */
    public static FunctionDescriptor bn_strerror$descriptor() {
        return bn_strerror.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * const char *bn_strerror(int status)
     * }
     */
    public static MethodHandle bn_strerror$handle() {
        return bn_strerror.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * const char *bn_strerror(int status)
     * }
     */
    public static MemorySegment bn_strerror$address() {
        return bn_strerror.ADDR;
    }

    /**
     * {@snippet lang=c :
     * const char *bn_strerror(int status)
     * }
     */
    public static MemorySegment bn_strerror(int status) {
        var mh$ = bn_strerror.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_strerror", status);
            }
            return (MemorySegment)mh$.invokeExact(status);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_forward_training {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_DOUBLE,
            bn_h.C_DOUBLE,
            bn_h.C_INT,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_forward_training");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_forward_training(void *out, float *save_mean, float *save_rstd, float *running_mean, float *running_var, const void *inp, const void *res, const float *gamma, const float *beta, double eps, double momentum, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static FunctionDescriptor bn_forward_training$descriptor() {
        return bn_forward_training.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_forward_training(void *out, float *save_mean, float *save_rstd, float *running_mean, float *running_var, const void *inp, const void *res, const float *gamma, const float *beta, double eps, double momentum, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MethodHandle bn_forward_training$handle() {
        return bn_forward_training.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_forward_training(void *out, float *save_mean, float *save_rstd, float *running_mean, float *running_var, const void *inp, const void *res, const float *gamma, const float *beta, double eps, double momentum, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MemorySegment bn_forward_training$address() {
        return bn_forward_training.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_forward_training(void *out, float *save_mean, float *save_rstd, float *running_mean, float *running_var, const void *inp, const void *res, const float *gamma, const float *beta, double eps, double momentum, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static int bn_forward_training(MemorySegment out, MemorySegment save_mean, MemorySegment save_rstd, MemorySegment running_mean, MemorySegment running_var, MemorySegment inp, MemorySegment res, MemorySegment gamma, MemorySegment beta, double eps, double momentum, int flags, int layout, long N, long C, long S) {
        var mh$ = bn_forward_training.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_forward_training", out, save_mean, save_rstd, running_mean, running_var, inp, res, gamma, beta, eps, momentum, flags, layout, N, C, S);
            }
            return (int)mh$.invokeExact(out, save_mean, save_rstd, running_mean, running_var, inp, res, gamma, beta, eps, momentum, flags, layout, N, C, S);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_forward_inference {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_DOUBLE,
            bn_h.C_INT,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_forward_inference");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_forward_inference(void *out, const void *inp, const void *res, const float *mean, const float *var, const float *gamma, const float *beta, double eps, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static FunctionDescriptor bn_forward_inference$descriptor() {
        return bn_forward_inference.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_forward_inference(void *out, const void *inp, const void *res, const float *mean, const float *var, const float *gamma, const float *beta, double eps, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MethodHandle bn_forward_inference$handle() {
        return bn_forward_inference.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_forward_inference(void *out, const void *inp, const void *res, const float *mean, const float *var, const float *gamma, const float *beta, double eps, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MemorySegment bn_forward_inference$address() {
        return bn_forward_inference.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_forward_inference(void *out, const void *inp, const void *res, const float *mean, const float *var, const float *gamma, const float *beta, double eps, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static int bn_forward_inference(MemorySegment out, MemorySegment inp, MemorySegment res, MemorySegment mean, MemorySegment var, MemorySegment gamma, MemorySegment beta, double eps, int flags, int layout, long N, long C, long S) {
        var mh$ = bn_forward_inference.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_forward_inference", out, inp, res, mean, var, gamma, beta, eps, flags, layout, N, C, S);
            }
            return (int)mh$.invokeExact(out, inp, res, mean, var, gamma, beta, eps, flags, layout, N, C, S);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_backward {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_INT,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_backward");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_backward(void *dinp, void *dres, float *dgamma, float *dbeta, const void *dout, const void *out, const void *inp, const float *gamma, const float *mean, const float *rstd, unsigned int flags, unsigned int mask, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static FunctionDescriptor bn_backward$descriptor() {
        return bn_backward.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_backward(void *dinp, void *dres, float *dgamma, float *dbeta, const void *dout, const void *out, const void *inp, const float *gamma, const float *mean, const float *rstd, unsigned int flags, unsigned int mask, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MethodHandle bn_backward$handle() {
        return bn_backward.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_backward(void *dinp, void *dres, float *dgamma, float *dbeta, const void *dout, const void *out, const void *inp, const float *gamma, const float *mean, const float *rstd, unsigned int flags, unsigned int mask, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MemorySegment bn_backward$address() {
        return bn_backward.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_backward(void *dinp, void *dres, float *dgamma, float *dbeta, const void *dout, const void *out, const void *inp, const float *gamma, const float *mean, const float *rstd, unsigned int flags, unsigned int mask, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static int bn_backward(MemorySegment dinp, MemorySegment dres, MemorySegment dgamma, MemorySegment dbeta, MemorySegment dout, MemorySegment out, MemorySegment inp, MemorySegment gamma, MemorySegment mean, MemorySegment rstd, int flags, int mask, int layout, long N, long C, long S) {
        var mh$ = bn_backward.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_backward", dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, flags, mask, layout, N, C, S);
            }
            return (int)mh$.invokeExact(dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, flags, mask, layout, N, C, S);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_set_num_threads {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_INT
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_set_num_threads");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * int bn_set_num_threads(int num_threads)
     * }
     */
    public static FunctionDescriptor bn_set_num_threads$descriptor() {
        return bn_set_num_threads.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * int bn_set_num_threads(int num_threads)
     * }
     */
    public static MethodHandle bn_set_num_threads$handle() {
        return bn_set_num_threads.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * int bn_set_num_threads(int num_threads)
     * }
     */
    public static MemorySegment bn_set_num_threads$address() {
        return bn_set_num_threads.ADDR;
    }

    /**
     * {@snippet lang=c :
     * int bn_set_num_threads(int num_threads)
     * }
     */
    public static int bn_set_num_threads(int num_threads) {
        var mh$ = bn_set_num_threads.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_set_num_threads", num_threads);
            }
            return (int)mh$.invokeExact(num_threads);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_get_num_threads {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_get_num_threads");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * int bn_get_num_threads()
     * }
     */
    public static FunctionDescriptor bn_get_num_threads$descriptor() {
        return bn_get_num_threads.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * int bn_get_num_threads()
     * }
     */
    public static MethodHandle bn_get_num_threads$handle() {
        return bn_get_num_threads.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * int bn_get_num_threads()
     * }
     */
    public static MemorySegment bn_get_num_threads$address() {
        return bn_get_num_threads.ADDR;
    }

    /**
     * {@snippet lang=c :
     * int bn_get_num_threads()
     * }
     */
    public static int bn_get_num_threads() {
        var mh$ = bn_get_num_threads.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_get_num_threads");
            }
            return (int)mh$.invokeExact();
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_stats_local {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_stats_local");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_stats_local(double *stats, const void *inp, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static FunctionDescriptor bn_stats_local$descriptor() {
        return bn_stats_local.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_stats_local(double *stats, const void *inp, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MethodHandle bn_stats_local$handle() {
        return bn_stats_local.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_stats_local(double *stats, const void *inp, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MemorySegment bn_stats_local$address() {
        return bn_stats_local.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_stats_local(double *stats, const void *inp, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static int bn_stats_local(MemorySegment stats, MemorySegment inp, int flags, int layout, long N, long C, long S) {
        var mh$ = bn_stats_local.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_stats_local", stats, inp, flags, layout, N, C, S);
            }
            return (int)mh$.invokeExact(stats, inp, flags, layout, N, C, S);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }
    private static class bn_stats_merge {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_DOUBLE,
            bn_h.C_DOUBLE,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_stats_merge");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_stats_merge(double *mean, double *rstd, float *running_mean, float *running_var, const double *stats, double eps, double momentum, unsigned int flags, int64_t C, int64_t P)
     * }
     */
    public static FunctionDescriptor bn_stats_merge$descriptor() {
        return bn_stats_merge.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_stats_merge(double *mean, double *rstd, float *running_mean, float *running_var, const double *stats, double eps, double momentum, unsigned int flags, int64_t C, int64_t P)
     * }
     */
    public static MethodHandle bn_stats_merge$handle() {
        return bn_stats_merge.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_stats_merge(double *mean, double *rstd, float *running_mean, float *running_var, const double *stats, double eps, double momentum, unsigned int flags, int64_t C, int64_t P)
     * }
     */
    public static MemorySegment bn_stats_merge$address() {
        return bn_stats_merge.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_stats_merge(double *mean, double *rstd, float *running_mean, float *running_var, const double *stats, double eps, double momentum, unsigned int flags, int64_t C, int64_t P)
     * }
     */
    public static int bn_stats_merge(MemorySegment mean, MemorySegment rstd, MemorySegment running_mean, MemorySegment running_var, MemorySegment stats, double eps, double momentum, int flags, long C, long P) {
        var mh$ = bn_stats_merge.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_stats_merge", mean, rstd, running_mean, running_var, stats, eps, momentum, flags, C, P);
            }
            return (int)mh$.invokeExact(mean, rstd, running_mean, running_var, stats, eps, momentum, flags, C, P);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }
    private static class bn_forward_apply {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_forward_apply");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_forward_apply(void *out, const void *inp, const void *res, const double *mean, const double *rstd, const float *gamma, const float *beta, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static FunctionDescriptor bn_forward_apply$descriptor() {
        return bn_forward_apply.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_forward_apply(void *out, const void *inp, const void *res, const double *mean, const double *rstd, const float *gamma, const float *beta, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MethodHandle bn_forward_apply$handle() {
        return bn_forward_apply.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_forward_apply(void *out, const void *inp, const void *res, const double *mean, const double *rstd, const float *gamma, const float *beta, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MemorySegment bn_forward_apply$address() {
        return bn_forward_apply.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_forward_apply(void *out, const void *inp, const void *res, const double *mean, const double *rstd, const float *gamma, const float *beta, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static int bn_forward_apply(MemorySegment out, MemorySegment inp, MemorySegment res, MemorySegment mean, MemorySegment rstd, MemorySegment gamma, MemorySegment beta, int flags, int layout, long N, long C, long S) {
        var mh$ = bn_forward_apply.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_forward_apply", out, inp, res, mean, rstd, gamma, beta, flags, layout, N, C, S);
            }
            return (int)mh$.invokeExact(out, inp, res, mean, rstd, gamma, beta, flags, layout, N, C, S);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }
    private static class bn_backward_reduce {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_backward_reduce");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_backward_reduce(double *sums, const void *dout, const void *out, const void *inp, const double *mean, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static FunctionDescriptor bn_backward_reduce$descriptor() {
        return bn_backward_reduce.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_backward_reduce(double *sums, const void *dout, const void *out, const void *inp, const double *mean, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MethodHandle bn_backward_reduce$handle() {
        return bn_backward_reduce.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_backward_reduce(double *sums, const void *dout, const void *out, const void *inp, const double *mean, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static MemorySegment bn_backward_reduce$address() {
        return bn_backward_reduce.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_backward_reduce(double *sums, const void *dout, const void *out, const void *inp, const double *mean, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S)
     * }
     */
    public static int bn_backward_reduce(MemorySegment sums, MemorySegment dout, MemorySegment out, MemorySegment inp, MemorySegment mean, int flags, int layout, long N, long C, long S) {
        var mh$ = bn_backward_reduce.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_backward_reduce", sums, dout, out, inp, mean, flags, layout, N, C, S);
            }
            return (int)mh$.invokeExact(sums, dout, out, inp, mean, flags, layout, N, C, S);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }
    private static class bn_backward_apply {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_INT,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_backward_apply");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_backward_apply(void *dinp, void *dres, float *dgamma, float *dbeta, const void *dout, const void *out, const void *inp, const float *gamma, const double *mean, const double *rstd, const double *sums, unsigned int flags, unsigned int mask, int layout, int64_t N, int64_t C, int64_t S, int64_t P)
     * }
     */
    public static FunctionDescriptor bn_backward_apply$descriptor() {
        return bn_backward_apply.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_backward_apply(void *dinp, void *dres, float *dgamma, float *dbeta, const void *dout, const void *out, const void *inp, const float *gamma, const double *mean, const double *rstd, const double *sums, unsigned int flags, unsigned int mask, int layout, int64_t N, int64_t C, int64_t S, int64_t P)
     * }
     */
    public static MethodHandle bn_backward_apply$handle() {
        return bn_backward_apply.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_backward_apply(void *dinp, void *dres, float *dgamma, float *dbeta, const void *dout, const void *out, const void *inp, const float *gamma, const double *mean, const double *rstd, const double *sums, unsigned int flags, unsigned int mask, int layout, int64_t N, int64_t C, int64_t S, int64_t P)
     * }
     */
    public static MemorySegment bn_backward_apply$address() {
        return bn_backward_apply.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_backward_apply(void *dinp, void *dres, float *dgamma, float *dbeta, const void *dout, const void *out, const void *inp, const float *gamma, const double *mean, const double *rstd, const double *sums, unsigned int flags, unsigned int mask, int layout, int64_t N, int64_t C, int64_t S, int64_t P)
     * }
     */
    public static int bn_backward_apply(MemorySegment dinp, MemorySegment dres, MemorySegment dgamma, MemorySegment dbeta, MemorySegment dout, MemorySegment out, MemorySegment inp, MemorySegment gamma, MemorySegment mean, MemorySegment rstd, MemorySegment sums, int flags, int mask, int layout, long N, long C, long S, long P) {
        var mh$ = bn_backward_apply.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_backward_apply", dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, sums, flags, mask, layout, N, C, S, P);
            }
            return (int)mh$.invokeExact(dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, sums, flags, mask, layout, N, C, S, P);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }
    private static final int BN_ACT_NONE = (int)0L;
    /**
     * {@snippet lang=c :
     * enum bn_activation.BN_ACT_NONE = 0
     * }
     */
    public static int BN_ACT_NONE() {
        return BN_ACT_NONE;
    }
    private static final int BN_ACT_RELU = (int)1L;
    /**
     * {@snippet lang=c :
     * enum bn_activation.BN_ACT_RELU = 1
     * }
     */
    public static int BN_ACT_RELU() {
        return BN_ACT_RELU;
    }
    private static final int BN_ACT_SIGMOID = (int)2L;
    /**
     * {@snippet lang=c :
     * enum bn_activation.BN_ACT_SIGMOID = 2
     * }
     */
    public static int BN_ACT_SIGMOID() {
        return BN_ACT_SIGMOID;
    }
    private static final int BN_LINEAR_ACCUMULATE = (int)1L;
    /**
     * {@snippet lang=c :
     * #define BN_LINEAR_ACCUMULATE 1
     * }
     */
    public static int BN_LINEAR_ACCUMULATE() {
        return BN_LINEAR_ACCUMULATE;
    }

    private static class bn_linear_forward {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_linear_forward");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int activation, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static FunctionDescriptor bn_linear_forward$descriptor() {
        return bn_linear_forward.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int activation, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static MethodHandle bn_linear_forward$handle() {
        return bn_linear_forward.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int activation, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static MemorySegment bn_linear_forward$address() {
        return bn_linear_forward.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int activation, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static int bn_linear_forward(MemorySegment out, MemorySegment inp, MemorySegment weight, MemorySegment bias, int activation, long N, long I, long O) {
        var mh$ = bn_linear_forward.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_linear_forward", out, inp, weight, bias, activation, N, I, O);
            }
            return (int)mh$.invokeExact(out, inp, weight, bias, activation, N, I, O);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_linear_forward_t {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_linear_forward_t");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_linear_forward_t(float *out, const float *inp, const float *weight_t, const float *bias, int activation, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static FunctionDescriptor bn_linear_forward_t$descriptor() {
        return bn_linear_forward_t.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_linear_forward_t(float *out, const float *inp, const float *weight_t, const float *bias, int activation, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static MethodHandle bn_linear_forward_t$handle() {
        return bn_linear_forward_t.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_linear_forward_t(float *out, const float *inp, const float *weight_t, const float *bias, int activation, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static MemorySegment bn_linear_forward_t$address() {
        return bn_linear_forward_t.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_linear_forward_t(float *out, const float *inp, const float *weight_t, const float *bias, int activation, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static int bn_linear_forward_t(MemorySegment out, MemorySegment inp, MemorySegment weight_t, MemorySegment bias, int activation, long N, long I, long O) {
        var mh$ = bn_linear_forward_t.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_linear_forward_t", out, inp, weight_t, bias, activation, N, I, O);
            }
            return (int)mh$.invokeExact(out, inp, weight_t, bias, activation, N, I, O);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_linear_backward {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_linear_backward");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight, unsigned int flags, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static FunctionDescriptor bn_linear_backward$descriptor() {
        return bn_linear_backward.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight, unsigned int flags, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static MethodHandle bn_linear_backward$handle() {
        return bn_linear_backward.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight, unsigned int flags, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static MemorySegment bn_linear_backward$address() {
        return bn_linear_backward.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight, unsigned int flags, int64_t N, int64_t I, int64_t O)
     * }
     */
    public static int bn_linear_backward(MemorySegment dinp, MemorySegment dweight, MemorySegment dbias, MemorySegment dout, MemorySegment inp, MemorySegment weight, int flags, long N, long I, long O) {
        var mh$ = bn_linear_backward.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_linear_backward", dinp, dweight, dbias, dout, inp, weight, flags, N, I, O);
            }
            return (int)mh$.invokeExact(dinp, dweight, dbias, dout, inp, weight, flags, N, I, O);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }
    private static final int BN_F32 = (int)0L;
    /**
     * {@snippet lang=c :
     * enum bn_dtype.BN_F32 = 0
     * }
     */
    public static int BN_F32() {
        return BN_F32;
    }
    private static final int BN_BF16 = (int)1L;
    /**
     * {@snippet lang=c :
     * enum bn_dtype.BN_BF16 = 1
     * }
     */
    public static int BN_BF16() {
        return BN_BF16;
    }
    private static final int BN_F16 = (int)2L;
    /**
     * {@snippet lang=c :
     * enum bn_dtype.BN_F16 = 2
     * }
     */
    public static int BN_F16() {
        return BN_F16;
    }

    private static class bn_convert {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_convert");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_convert(void *dst, int dst_dtype, const void *src, int src_dtype, int64_t n)
     * }
     */
    public static FunctionDescriptor bn_convert$descriptor() {
        return bn_convert.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_convert(void *dst, int dst_dtype, const void *src, int src_dtype, int64_t n)
     * }
     */
    public static MethodHandle bn_convert$handle() {
        return bn_convert.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_convert(void *dst, int dst_dtype, const void *src, int src_dtype, int64_t n)
     * }
     */
    public static MemorySegment bn_convert$address() {
        return bn_convert.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_convert(void *dst, int dst_dtype, const void *src, int src_dtype, int64_t n)
     * }
     */
    public static int bn_convert(MemorySegment dst, int dst_dtype, MemorySegment src, int src_dtype, long n) {
        var mh$ = bn_convert.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_convert", dst, dst_dtype, src, src_dtype, n);
            }
            return (int)mh$.invokeExact(dst, dst_dtype, src, src_dtype, n);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_im2col {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_im2col");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_im2col(float *cols, const float *inp, int layout, int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t n0, int64_t count)
     * }
     */
    public static FunctionDescriptor bn_im2col$descriptor() {
        return bn_im2col.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_im2col(float *cols, const float *inp, int layout, int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t n0, int64_t count)
     * }
     */
    public static MethodHandle bn_im2col$handle() {
        return bn_im2col.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_im2col(float *cols, const float *inp, int layout, int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t n0, int64_t count)
     * }
     */
    public static MemorySegment bn_im2col$address() {
        return bn_im2col.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_im2col(float *cols, const float *inp, int layout, int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t n0, int64_t count)
     * }
     */
    public static int bn_im2col(MemorySegment cols, MemorySegment inp, int layout, long N, long C, long H, long W, long KH, long KW, long stride_h, long stride_w, long pad_h, long pad_w, long n0, long count) {
        var mh$ = bn_im2col.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_im2col", cols, inp, layout, N, C, H, W, KH, KW, stride_h, stride_w, pad_h, pad_w, n0, count);
            }
            return (int)mh$.invokeExact(cols, inp, layout, N, C, H, W, KH, KW, stride_h, stride_w, pad_h, pad_w, n0, count);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_col2im {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_INT,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_col2im");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_col2im(float *dinp, const float *dcols, int layout, int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t n0, int64_t count)
     * }
     */
    public static FunctionDescriptor bn_col2im$descriptor() {
        return bn_col2im.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_col2im(float *dinp, const float *dcols, int layout, int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t n0, int64_t count)
     * }
     */
    public static MethodHandle bn_col2im$handle() {
        return bn_col2im.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_col2im(float *dinp, const float *dcols, int layout, int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t n0, int64_t count)
     * }
     */
    public static MemorySegment bn_col2im$address() {
        return bn_col2im.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_col2im(float *dinp, const float *dcols, int layout, int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t n0, int64_t count)
     * }
     */
    public static int bn_col2im(MemorySegment dinp, MemorySegment dcols, int layout, long N, long C, long H, long W, long KH, long KW, long stride_h, long stride_w, long pad_h, long pad_w, long n0, long count) {
        var mh$ = bn_col2im.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_col2im", dinp, dcols, layout, N, C, H, W, KH, KW, stride_h, stride_w, pad_h, pad_w, n0, count);
            }
            return (int)mh$.invokeExact(dinp, dcols, layout, N, C, H, W, KH, KW, stride_h, stride_w, pad_h, pad_w, n0, count);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }

    private static class bn_transpose {
        public static final FunctionDescriptor DESC = FunctionDescriptor.of(
            bn_h.C_INT,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_POINTER,
            bn_h.C_LONG,
            bn_h.C_LONG,
            bn_h.C_LONG
        );

        public static final MemorySegment ADDR = bn_h.findOrThrow("bn_transpose");

        public static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);
    }

    /**
     * Function descriptor for:
     * {@snippet lang=c :
     * bn_status bn_transpose(float *out, const float *inp, const float *bias, int64_t N, int64_t R, int64_t C)
     * }
     */
    public static FunctionDescriptor bn_transpose$descriptor() {
        return bn_transpose.DESC;
    }

    /**
     * Downcall method handle for:
     * {@snippet lang=c :
     * bn_status bn_transpose(float *out, const float *inp, const float *bias, int64_t N, int64_t R, int64_t C)
     * }
     */
    public static MethodHandle bn_transpose$handle() {
        return bn_transpose.HANDLE;
    }

    /**
     * Address for:
     * {@snippet lang=c :
     * bn_status bn_transpose(float *out, const float *inp, const float *bias, int64_t N, int64_t R, int64_t C)
     * }
     */
    public static MemorySegment bn_transpose$address() {
        return bn_transpose.ADDR;
    }

    /**
     * {@snippet lang=c :
     * bn_status bn_transpose(float *out, const float *inp, const float *bias, int64_t N, int64_t R, int64_t C)
     * }
     */
    public static int bn_transpose(MemorySegment out, MemorySegment inp, MemorySegment bias, long N, long R, long C) {
        var mh$ = bn_transpose.HANDLE;
        try {
            if (TRACE_DOWNCALLS) {
                traceDowncall("bn_transpose", out, inp, bias, N, R, C);
            }
            return (int)mh$.invokeExact(out, inp, bias, N, R, C);
        } catch (Error | RuntimeException ex) {
           throw ex;
        } catch (Throwable ex$) {
           throw new AssertionError("should not reach here", ex$);
        }
    }
}
