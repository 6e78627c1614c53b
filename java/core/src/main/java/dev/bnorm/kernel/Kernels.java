package dev.bnorm.kernel;

import dev.bnorm.NativeLibraryException;
import dev.bnorm.ffi.NativeLibrary;
import java.util.Locale;

/**
 * Chooses the kernels: native where the library loads, else pure Java (logged, never silent).
 *
 * <p>The choice of {@link #best()} is set by the system property {@value #PROPERTY}, else the
 * environment variable {@value #ENV}: {@code auto} (the default: native if the library loads,
 * else Java with a warning), {@code native} (strict: fail with the loader's
 * {@link NativeLibraryException} instead of falling back) or {@code java} (the pure-Java kernels,
 * without loading the library). The choice is logged once (System.Logger {@code dev.bnorm}, level
 * DEBUG, which is java.util.logging's FINE): the kernels, the library file, its instruction set
 * and the number of threads.
 */
public final class Kernels {

    /** System property choosing the kernels of {@link #best()}: auto, native or java. */
    public static final String PROPERTY = "bnorm.kernels";
    /** Environment variable choosing the kernels of {@link #best()}: auto, native or java. */
    public static final String ENV = "BNORM_KERNELS";

    private static final System.Logger LOG = System.getLogger("dev.bnorm");
    private static volatile BatchNormKernels best;

    private Kernels() {}

    /**
     * The kernels chosen by {@value #PROPERTY} / {@value #ENV} (see the class comment); by default
     * the native kernels if libbnorm can be loaded, otherwise {@link JavaKernels} with one warning.
     *
     * @throws NativeLibraryException with {@code native} when the library cannot be loaded
     * @throws IllegalArgumentException when the setting is none of auto, native, java
     */
    public static BatchNormKernels best() {
        BatchNormKernels k = best;
        if (k == null) {
            synchronized (Kernels.class) {
                k = best;
                if (k == null) {
                    k = choose(mode(System.getProperty(PROPERTY), System.getenv(ENV)));
                    best = k;
                }
            }
        }
        return k;
    }

    /** The setting: the property if given, else the environment variable, else "auto". */
    static String mode(String property, String env) {
        String given = property != null && !property.isBlank() ? property
                : env != null && !env.isBlank() ? env : "auto";
        String mode = given.strip().toLowerCase(Locale.ROOT);
        if (!mode.equals("auto") && !mode.equals("native") && !mode.equals("java")) {
            String where = property != null && !property.isBlank() ? "-D" + PROPERTY : ENV;
            throw new IllegalArgumentException(where + ": expected auto, native or java, got \"" + given + "\"");
        }
        return mode;
    }

    private static BatchNormKernels choose(String mode) {
        switch (mode) {
            case "java" -> {
                LOG.log(System.Logger.Level.DEBUG, "bnorm: pure-Java kernels (" + PROPERTY + "=java)");
                return JavaKernels.INSTANCE;
            }
            case "native" -> {
                try {
                    return logNative(NativeKernels.get());
                } catch (NativeLibraryException e) {
                    throw new NativeLibraryException("the native kernels are required (-D" + PROPERTY
                            + "=native or " + ENV + "=native), but " + e.getMessage(), e);
                }
            }
            default -> {
                try {
                    return logNative(NativeKernels.get());
                } catch (NativeLibraryException e) {
                    LOG.log(System.Logger.Level.WARNING, "bnorm: using the pure-Java kernels (slower): "
                            + e.getMessage() + " (-D" + PROPERTY + "=native makes this an error)");
                    return JavaKernels.INSTANCE;
                }
            }
        }
    }

    private static BatchNormKernels logNative(NativeKernels k) {
        NativeLibrary.Loaded l = NativeLibrary.load();
        String isa = System.getenv("BNORM_ISA");
        LOG.log(System.Logger.Level.DEBUG, "bnorm: native kernels, libbnorm " + l.version() + " at " + l.path()
                + ", instruction set chosen by the library at run time (widest the CPU supports"
                + (isa == null || isa.isBlank() ? "" : ", capped by BNORM_ISA=" + isa) + "), "
                + NativeKernels.numThreads() + " threads for large calls");
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
