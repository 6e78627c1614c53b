package dev.bnorm.kernel;

import dev.bnorm.ffi.NativeLibraryException;

/** Chooses the kernels: native where the library loads, else pure Java (logged once, never silent). */
public final class Kernels {

    private static volatile BatchNormKernels best;

    private Kernels() {}

    /** The native kernels if libbnorm can be loaded, otherwise {@link JavaKernels} with one warning. */
    public static BatchNormKernels best() {
        BatchNormKernels k = best;
        if (k == null) {
            synchronized (Kernels.class) {
                k = best;
                if (k == null) {
                    try {
                        k = NativeKernels.get();
                    } catch (NativeLibraryException e) {
                        System.getLogger("dev.bnorm").log(System.Logger.Level.WARNING,
                                "bnorm: using the pure-Java kernels (slower): " + e.getMessage());
                        k = JavaKernels.INSTANCE;
                    }
                    best = k;
                }
            }
        }
        return k;
    }

    /** By name: "native" (fails if the library cannot be loaded) or "java". */
    public static BatchNormKernels named(String name) {
        return switch (name) {
            case "native" -> NativeKernels.get();
            case "java" -> JavaKernels.INSTANCE;
            default -> throw new IllegalArgumentException("kernels: expected \"native\" or \"java\", got \"" + name + "\"");
        };
    }
}
