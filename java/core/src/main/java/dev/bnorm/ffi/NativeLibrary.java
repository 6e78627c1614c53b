package dev.bnorm.ffi;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Properties;

/**
 * Finds, verifies and loads libbnorm, once per class loader, so that the bindings in {@link bn_h}
 * (which look symbols up with {@link SymbolLookup#loaderLookup()}) resolve. Call {@link #load()}
 * before using {@code bn_h} directly; the kernels do it for you.
 *
 * <p>Where the library comes from, first match wins:
 * <ol>
 *   <li>system property {@value #PROPERTY}: the library file, or a directory holding it;</li>
 *   <li>environment variable {@value #ENV}: the same;</li>
 *   <li>the class path resource {@code META-INF/native/<os>-<arch>/libbnorm.so} (the platform jar
 *       {@code bnorm-<version>-<os>-<arch>.jar}), extracted into a fresh owner-only temporary
 *       directory and checked against the SHA-256 recorded beside it at build time.</li>
 * </ol>
 * The loaded library must export every function of {@code bn.h} and report the same version as
 * this jar. Every failure is a {@link NativeLibraryException} saying what happened and what to do.
 *
 * <p>Run {@code java -cp <jars> dev.bnorm.ffi.NativeLibrary} to see what would be loaded.
 */
public final class NativeLibrary {

    /** System property naming the library file or its directory. */
    public static final String PROPERTY = "bnorm.library.path";
    /** Environment variable naming the library file or its directory. */
    public static final String ENV = "BNORM_LIBRARY_PATH";
    /** Every function of bn.h; a library missing one is refused. */
    static final List<String> SYMBOLS = List.of(
            "bn_version", "bn_strerror", "bn_forward_training", "bn_forward_inference", "bn_backward",
            "bn_set_num_threads", "bn_get_num_threads", "bn_linear_forward", "bn_linear_forward_t",
            "bn_linear_backward");

    /** What was loaded: the file and where it came from. */
    public record Loaded(Path path, String source, String version) {}

    private static Loaded loaded;
    private static NativeLibraryException failure;

    private NativeLibrary() {}

    /** Loads the library if that has not been done; rethrows the first failure on later calls. */
    public static synchronized Loaded load() {
        if (loaded != null) return loaded;
        if (failure != null) throw failure;
        try {
            Located at = locate(System.getProperty(PROPERTY), System.getenv(ENV),
                    NativeLibrary.class.getClassLoader(), System.getProperty("os.name", ""),
                    System.getProperty("os.arch", ""));
            loaded = loadVerified(at.path(), at.source());
            return loaded;
        } catch (NativeLibraryException e) {
            failure = e;
            throw e;
        }
    }

    /** True if {@link #load()} succeeds (or did). */
    public static boolean isAvailable() {
        try {
            load();
            return true;
        } catch (NativeLibraryException e) {
            return false;
        }
    }

    /** The version of this jar (pom.xml's project version). */
    public static String javaVersion() {
        try (InputStream in = NativeLibrary.class.getResourceAsStream("/dev/bnorm/bnorm.properties")) {
            if (in == null) throw new IllegalStateException("dev/bnorm/bnorm.properties is missing from the bnorm jar");
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    record Located(Path path, String source) {}

    /** Decides where the library comes from (see the class comment); extracts a bundled one. */
    static Located locate(String property, String env, ClassLoader loader, String osName, String osArch) {
        String platform = Platform.of(osName, osArch);
        // A directory is searched for the OS's file name, so a self-built library also works on a
        // platform bnorm does not list (windows-aarch64: bnorm.dll).
        String fileName = Platform.libraryFileName(Objects.requireNonNullElse(Platform.os(osName), "linux"));
        if (property != null && !property.isBlank()) {
            return new Located(file(Path.of(property), fileName, "-D" + PROPERTY), "system property " + PROPERTY);
        }
        if (env != null && !env.isBlank()) {
            return new Located(file(Path.of(env), fileName, ENV), "environment variable " + ENV);
        }
        if (platform == null) {
            throw new NativeLibraryException("bnorm has no native library for this platform (os.name=" + osName
                    + ", os.arch=" + osArch + "; known platforms: " + String.join(", ", Platform.KNOWN)
                    + "). " + howToProvide("<os>-<arch>"));
        }
        String resource = Platform.resourcePath(platform);
        if (loader.getResource(resource) == null) {
            throw new NativeLibraryException("bnorm's native library for " + platform + " is not on the class path ("
                    + resource + " not found). " + howToProvide(platform));
        }
        return new Located(extract(loader, platform), "class path resource " + resource);
    }

    static String howToProvide(String platform) {
        return "Provide one in any of three ways: add the platform jar bnorm-" + javaVersion() + "-" + platform
                + ".jar (Maven classifier " + platform + ") to the class path; or run java with -D" + PROPERTY
                + "=/path/to/libbnorm; or set the environment variable " + ENV + "=/path/to/libbnorm"
                + " (a library file or the directory that holds it; build one with ./mvnw package).";
    }

    private static Path file(Path given, String fileName, String where) {
        Path p = Files.isDirectory(given) ? given.resolve(fileName) : given;
        if (!Files.isRegularFile(p) || !Files.isReadable(p)) {
            throw new NativeLibraryException(where + " names " + given.toAbsolutePath()
                    + ", but " + p.toAbsolutePath() + " is not a readable file");
        }
        return p.toAbsolutePath();
    }

    /**
     * Copies the bundled library of {@code platform} into a fresh owner-only temporary directory,
     * hashing it on the way, and refuses it unless the SHA-256 matches the one recorded at build time.
     */
    static Path extract(ClassLoader loader, String platform) {
        String resource = Platform.resourcePath(platform);
        String expected = recordedSha256(loader, resource);
        try {
            Path dir = FileSystems.getDefault().supportedFileAttributeViews().contains("posix")
                    ? Files.createTempDirectory("bnorm-", PosixFilePermissions.asFileAttribute(
                            PosixFilePermissions.fromString("rwx------")))
                    : Files.createTempDirectory("bnorm-");
            Path target = dir.resolve(Platform.libraryFileName(platform));
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            try (InputStream in = new DigestInputStream(loader.getResourceAsStream(resource), sha);
                 OutputStream out = Files.newOutputStream(target)) {
                in.transferTo(out);
            }
            dir.toFile().deleteOnExit();
            target.toFile().deleteOnExit();
            String actual = HexFormat.of().formatHex(sha.digest());
            if (!actual.equals(expected)) {
                Files.deleteIfExists(target);
                throw new NativeLibraryException("checksum mismatch for the bundled " + resource + ": expected SHA-256 "
                        + expected + " (recorded at build time), got " + actual
                        + "; the jar is corrupt or was tampered with, so the library was not loaded");
            }
            return target;
        } catch (IOException e) {
            throw new NativeLibraryException("cannot extract " + resource + " to a temporary directory: " + e, e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String recordedSha256(ClassLoader loader, String resource) {
        try (InputStream in = loader.getResourceAsStream(resource + ".sha256")) {
            if (in == null) {
                throw new NativeLibraryException(resource + ".sha256 is missing beside the bundled library: cannot verify it");
            }
            String s = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
            if (!s.matches("[0-9a-f]{64}")) {
                throw new NativeLibraryException(resource + ".sha256 does not hold a SHA-256 (got '" + s + "')");
            }
            return s;
        } catch (IOException e) {
            throw new NativeLibraryException("cannot read " + resource + ".sha256: " + e, e);
        }
    }

    private static Loaded loadVerified(Path path, String source) {
        try {
            System.load(path.toString());
        } catch (IllegalCallerException e) {
            Module m = NativeLibrary.class.getModule();
            String flag = "--enable-native-access=" + (m.isNamed() ? m.getName() : "ALL-UNNAMED");
            throw new NativeLibraryException("native access is refused to bnorm; run java with " + flag, e);
        } catch (UnsatisfiedLinkError e) {
            throw new NativeLibraryException("cannot load " + path + " (from " + source + "): " + e.getMessage(), e);
        }
        SymbolLookup lookup = SymbolLookup.loaderLookup();
        for (String symbol : SYMBOLS) {
            if (lookup.find(symbol).isEmpty()) {
                throw new NativeLibraryException("symbol missing: " + path + " (from " + source + ") does not export "
                        + symbol + "; it is not a libbnorm " + javaVersion());
            }
        }
        String version = bn_h.bn_version().getString(0);
        if (!version.equals(javaVersion())) {
            throw new NativeLibraryException("version mismatch: " + path + " (from " + source + ") is libbnorm "
                    + version + ", but this bnorm jar is " + javaVersion());
        }
        return new Loaded(path, source, version);
    }

    /** The text of {@code bn_strerror(status)}. */
    public static String strerror(int status) {
        load();
        MemorySegment s = bn_h.bn_strerror(status);
        return s.getString(0);
    }

    /** Prints what would be loaded, or why nothing can be. */
    public static void main(String[] args) {
        Loaded l = load();
        System.out.println("bnorm " + l.version() + " " + l.path() + " (" + l.source() + ")");
    }
}
