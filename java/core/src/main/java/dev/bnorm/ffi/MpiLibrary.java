package dev.bnorm.ffi;

import dev.bnorm.NativeLibraryException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds the MPI library for {@link mpi_h}, once: Open MPI's {@code libmpi}, an optional run-time
 * dependency (everything else in bnorm works without it). First match wins:
 * <ol>
 *   <li>system property {@value #PROPERTY}: the library file;</li>
 *   <li>environment variable {@value #ENV}: the same;</li>
 *   <li>the system's library search path: {@code libmpi.so.40} (Open MPI 3 and 4), then
 *       {@code libmpi.so}.</li>
 * </ol>
 * The library must be Open MPI's (it exports its predefined handles as symbols such as
 * {@code ompi_mpi_comm_world}); MPICH, whose handles are integer constants, is refused with a
 * message saying so. Failures are {@link NativeLibraryException}s naming what to install.
 */
public final class MpiLibrary {

    /** System property naming the MPI library file. */
    public static final String PROPERTY = "bnorm.mpi.library";
    /** Environment variable naming the MPI library file. */
    public static final String ENV = "BNORM_MPI_LIBRARY";
    /** What to install on Debian and Ubuntu. */
    public static final String INSTALL = "apt-get install openmpi-bin libopenmpi-dev";

    private static final List<String> SYSTEM_NAMES = List.of("libmpi.so.40", "libmpi.so");

    private static SymbolLookup lookup;
    private static String source;

    private MpiLibrary() {}

    /** The library's symbols, loading it if needed; the same lookup on every call. */
    public static synchronized SymbolLookup lookup() {
        if (lookup == null) {
            Found f = find(System.getProperty(PROPERTY), System.getenv(ENV));
            lookup = f.lookup();
            source = f.source();
        }
        return lookup;
    }

    /** Where the library came from, or null before {@link #lookup()}. */
    public static synchronized String source() {
        return source;
    }

    /** True if an Open MPI library can be loaded. */
    public static boolean isAvailable() {
        try {
            lookup();
            return true;
        } catch (NativeLibraryException e) {
            return false;
        }
    }

    /** A loaded library and where it came from. */
    record Found(SymbolLookup lookup, String source) {}

    static Found find(String property, String env) {
        String source = null;
        String given = property != null && !property.isBlank() ? property : env != null && !env.isBlank() ? env : null;
        String how = property != null && !property.isBlank() ? "-D" + PROPERTY : ENV;
        SymbolLookup l;
        if (given != null) {
            Path p = Path.of(given);
            if (!Files.isRegularFile(p)) {
                throw new NativeLibraryException(how + " names " + given + ", which is not a file. Give the path of "
                        + "Open MPI's libmpi.so.40, or install Open MPI: " + INSTALL);
            }
            try {
                l = SymbolLookup.libraryLookup(p, Arena.global());
            } catch (IllegalArgumentException e) {
                throw new NativeLibraryException("cannot load the MPI library " + given + " (" + how + "): "
                        + e.getMessage(), e);
            }
            source = given + " (" + how + ")";
        } else {
            l = null;
            List<String> tried = new ArrayList<>();
            for (String name : SYSTEM_NAMES) {
                try {
                    l = SymbolLookup.libraryLookup(name, Arena.global());
                    source = name + " (system library path)";
                    break;
                } catch (IllegalArgumentException e) {
                    tried.add(name);
                }
            }
            if (l == null) {
                throw new NativeLibraryException("no MPI library found (tried " + String.join(", ", tried)
                        + " on the system library path). Install Open MPI: " + INSTALL + "; or name the library with -D"
                        + PROPERTY + "=/path/to/libmpi.so.40 or " + ENV + ".");
            }
        }
        if (l.find("ompi_mpi_comm_world").isEmpty()) {
            throw new NativeLibraryException("the MPI library " + source + " is not Open MPI (it does not export "
                    + "ompi_mpi_comm_world): bnorm supports Open MPI only (MPICH's handles are integer constants, "
                    + "not symbols). Install Open MPI: " + INSTALL);
        }
        return new Found(l, source);
    }
}
