package dev.bnorm.ffi;

import dev.bnorm.NativeLibraryException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.module.FindException;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReader;
import java.lang.module.ModuleReference;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;

/**
 * Finds, verifies and loads libbnorm, once per class loader, so that the bindings in {@link bn_h}
 * (which look symbols up with {@link SymbolLookup#loaderLookup()}) resolve. Call {@link #load()}
 * before using {@code bn_h} directly; the kernels do it for you.
 *
 * <p>Where the library comes from, first match wins:
 * <ol>
 *   <li>system property {@value #PROPERTY}: the library file, or a directory holding it;</li>
 *   <li>environment variable {@value #ENV}: the same;</li>
 *   <li>the resource {@code META-INF/native/<os>-<arch>/libbnorm.so} of the platform jar
 *       {@code bnorm-<version>-<os>-<arch>.jar}, on the class path or on the module path (there
 *       it need not be resolved: the module path is searched), extracted as described below.</li>
 * </ol>
 *
 * <p>Extraction: into the directory named by the system property {@value #EXTRACT_PROPERTY}, else
 * the environment variable {@value #EXTRACT_ENV}, else {@code <java.io.tmpdir>/bnorm-<user.name>}
 * (created owner-only). A directory that users other than its owner may write, or (where the
 * owner can be looked up) that another user owns, is refused. The file is named after its SHA-256
 * ({@code libbnorm-<sha256>.so}), recorded beside the resource at build time: a file of that name
 * whose content has that SHA-256 is reused, so every JVM of the same bnorm shares one file and
 * nothing is left behind per JVM (also not after a crash or a kill). Otherwise the resource is
 * copied to a temporary file in the directory, hashed on the way, refused on a mismatch, and
 * renamed atomically onto that name, so JVMs extracting at the same time never see a partial file.
 * Temporary files older than an hour (left by a JVM killed while extracting) are deleted.
 *
 * <p>The loaded library must export every function of {@code bn.h} and report the same version as
 * this jar. Every failure is a {@link NativeLibraryException} saying what happened and what to do,
 * including a file system mounted {@code noexec} (the library is there but cannot be mapped as
 * code). What was loaded is logged once (System.Logger {@code dev.bnorm}, level DEBUG).
 *
 * <p>Run {@code java -cp <jars> dev.bnorm.ffi.NativeLibrary} (or, on the module path,
 * {@code java -p <jars> -m dev.bnorm/dev.bnorm.ffi.NativeLibrary}) to see what would be loaded.
 */
public final class NativeLibrary {

    /** System property naming the library file or its directory. */
    public static final String PROPERTY = "bnorm.library.path";
    /** Environment variable naming the library file or its directory. */
    public static final String ENV = "BNORM_LIBRARY_PATH";
    /** System property naming the directory the bundled library is extracted into. */
    public static final String EXTRACT_PROPERTY = "bnorm.extract.dir";
    /** Environment variable naming the directory the bundled library is extracted into. */
    public static final String EXTRACT_ENV = "BNORM_EXTRACT_DIR";
    /** Every function of bn.h; a library missing one is refused. */
    static final List<String> SYMBOLS = List.of(
            "bn_version", "bn_strerror", "bn_forward_training", "bn_forward_inference", "bn_backward",
            "bn_set_num_threads", "bn_get_num_threads",
            "bn_stats_local", "bn_stats_merge", "bn_forward_apply", "bn_backward_reduce", "bn_backward_apply",
            "bn_linear_forward", "bn_linear_forward_t", "bn_linear_backward",
            "bn_convert",
            "bn_im2col", "bn_col2im", "bn_transpose");
    /** Age after which a temporary file in the extraction directory is a leftover. */
    private static final Duration STALE = Duration.ofHours(1);
    private static final System.Logger LOG = System.getLogger("dev.bnorm");

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
                    extractDir(System.getProperty(EXTRACT_PROPERTY), System.getenv(EXTRACT_ENV),
                            System.getProperty("java.io.tmpdir"), System.getProperty("user.name", "")),
                    Resources.of(NativeLibrary.class.getClassLoader()), System.getProperty("os.name", ""),
                    System.getProperty("os.arch", ""));
            loaded = loadVerified(at);
            LOG.log(System.Logger.Level.DEBUG, "bnorm: loaded libbnorm " + loaded.version() + " from "
                    + loaded.path() + " (" + loaded.source() + ")");
            return loaded;
        } catch (NativeLibraryException e) {
            failure = e;
            throw e;
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

    /** Where the library is: the file, where it came from, and whether it was extracted. */
    record Located(Path path, String source, boolean extracted) {}

    /** The extraction directory and the setting that chose it (for messages). */
    record ExtractDir(Path path, String source) {}

    /** The extraction directory: the system property, else the environment variable, else the default. */
    static ExtractDir extractDir(String property, String env, String tmpdir, String user) {
        if (property != null && !property.isBlank()) {
            return new ExtractDir(Path.of(property).toAbsolutePath(), "-D" + EXTRACT_PROPERTY);
        }
        if (env != null && !env.isBlank()) {
            return new ExtractDir(Path.of(env).toAbsolutePath(), "environment variable " + EXTRACT_ENV);
        }
        String name = "bnorm-" + (user.isBlank() ? "user" : user.replaceAll("[^A-Za-z0-9._-]", "_"));
        return new ExtractDir(Path.of(tmpdir, name).toAbsolutePath(), "the default (java.io.tmpdir)");
    }

    /** Decides where the library comes from (see the class comment); extracts a bundled one. */
    static Located locate(String property, String env, ExtractDir extractDir, Resources resources,
                          String osName, String osArch) {
        String platform = Platform.of(osName, osArch);
        // A directory is searched for the OS's file name, so a self-built library also works on a
        // platform bnorm does not list (windows-aarch64: bnorm.dll).
        String fileName = Platform.libraryFileName(Objects.requireNonNullElse(Platform.os(osName), "linux"));
        if (property != null && !property.isBlank()) {
            return new Located(file(Path.of(property), fileName, "-D" + PROPERTY), "system property " + PROPERTY, false);
        }
        if (env != null && !env.isBlank()) {
            return new Located(file(Path.of(env), fileName, ENV), "environment variable " + ENV, false);
        }
        if (platform == null) {
            throw new NativeLibraryException("bnorm has no native library for this platform (os.name=" + osName
                    + ", os.arch=" + osArch + "; known platforms: " + String.join(", ", Platform.KNOWN)
                    + "). " + howToProvide("<os>-<arch>"));
        }
        String resource = Platform.resourcePath(platform);
        if (!resources.exists(resource)) {
            throw new NativeLibraryException("bnorm's native library for " + platform + " is not on the class path"
                    + " or the module path (" + resource + " not found). " + howToProvide(platform));
        }
        Extracted e = extract(resources, platform, extractDir);
        return new Located(e.path(), "bundled resource " + resource + ", " + (e.reused()
                ? "already extracted" : "extracted") + " into " + extractDir.path() + " (" + extractDir.source() + ")", true);
    }

    static String howToProvide(String platform) {
        return "Provide one in any of three ways: add the platform jar bnorm-" + javaVersion() + "-" + platform
                + ".jar (Maven classifier " + platform + ") to the class path or the module path; or run java with -D"
                + PROPERTY + "=/path/to/libbnorm; or set the environment variable " + ENV + "=/path/to/libbnorm"
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
     * Resources of the platform jars: through the class loader (the class path, and modules that
     * are resolved), then, if not found there, in the modules of the module path
     * ({@code jdk.module.path}), which a platform jar is on without being resolved when nothing
     * requires it (it holds no classes, only {@code META-INF/native/}).
     */
    interface Resources {
        /** The resource's content, or null if there is none. */
        InputStream open(String name) throws IOException;

        default boolean exists(String name) {
            try (InputStream in = open(name)) {
                return in != null;
            } catch (IOException e) {
                return false;
            }
        }

        static Resources of(ClassLoader loader) {
            String modulePath = System.getProperty("jdk.module.path");
            return name -> {
                InputStream in = loader.getResourceAsStream(name);
                return in != null || modulePath == null ? in : fromModulePath(modulePath, name);
            };
        }
    }

    private static InputStream fromModulePath(String modulePath, String name) throws IOException {
        List<Path> entries = new ArrayList<>();
        for (String entry : modulePath.split(java.io.File.pathSeparator)) {
            if (!entry.isBlank()) entries.add(Path.of(entry));
        }
        try {
            for (ModuleReference ref : ModuleFinder.of(entries.toArray(Path[]::new)).findAll()) {
                ModuleReader reader = ref.open();
                Optional<InputStream> in = reader.open(name);
                if (in.isPresent()) {
                    InputStream stream = in.get();
                    return new java.io.FilterInputStream(stream) {
                        @Override
                        public void close() throws IOException {
                            try {
                                super.close();
                            } finally {
                                reader.close();
                            }
                        }
                    };
                }
                reader.close();
            }
        } catch (FindException e) {
            LOG.log(System.Logger.Level.DEBUG, "bnorm: cannot search the module path for " + name, e);
        }
        return null;
    }

    /** The extracted library and whether an earlier extraction was reused. */
    record Extracted(Path path, boolean reused) {}

    /**
     * Puts the bundled library of {@code platform} into the extraction directory under a name
     * holding its SHA-256, reusing a file already there with that content (see the class comment).
     */
    static Extracted extract(Resources resources, String platform, ExtractDir dir) {
        String resource = Platform.resourcePath(platform);
        String expected = recordedSha256(resources, resource);
        Path target = dir.path().resolve(cachedName(Platform.libraryFileName(platform), expected));
        try {
            prepare(dir);
            if (Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS) && sha256(target).equals(expected)) {
                deleteStale(dir.path());
                return new Extracted(target, true);
            }
            boolean posix = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
            FileAttribute<?>[] ownerOnly = posix
                    ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"))}
                    : new FileAttribute<?>[0];
            Path tmp = Files.createTempFile(dir.path(), "." + target.getFileName() + ".", ".tmp", ownerOnly);
            try {
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                try (InputStream in = new DigestInputStream(Objects.requireNonNull(resources.open(resource), resource), sha);
                     OutputStream out = Files.newOutputStream(tmp)) {
                    in.transferTo(out);
                }
                String actual = HexFormat.of().formatHex(sha.digest());
                if (!actual.equals(expected)) {
                    throw new NativeLibraryException("checksum mismatch for the bundled " + resource + ": expected SHA-256 "
                            + expected + " (recorded at build time), got " + actual
                            + "; the jar is corrupt or was tampered with, so the library was not loaded");
                }
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException e) {
                    // Another JVM put the same file there first, and it cannot be replaced (Windows:
                    // a loaded DLL): use it if it is right.
                    if (!(Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS) && sha256(target).equals(expected))) throw e;
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
            deleteStale(dir.path());
            return new Extracted(target, false);
        } catch (IOException e) {
            throw new NativeLibraryException("cannot extract " + resource + " into " + dir.path() + " (" + dir.source()
                    + "): " + e + ". " + chooseAnother(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** {@code libbnorm.so} with SHA-256 {@code h}: {@code libbnorm-h.so}. */
    static String cachedName(String fileName, String sha256) {
        int dot = fileName.lastIndexOf('.');
        return fileName.substring(0, dot) + "-" + sha256 + fileName.substring(dot);
    }

    private static String chooseAnother() {
        return "Choose a directory only you can write, on a file system that allows executables: run java with -D"
                + EXTRACT_PROPERTY + "=/path/to/dir or set the environment variable " + EXTRACT_ENV + "=/path/to/dir.";
    }

    /** Creates the directory owner-only if it is missing; refuses one other users can write. */
    private static void prepare(ExtractDir dir) throws IOException {
        Path d = dir.path();
        boolean posix = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
        if (!Files.exists(d)) {
            try {
                if (posix) {
                    Files.createDirectories(d, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                } else {
                    Files.createDirectories(d);
                }
            } catch (FileAlreadyExistsException e) {
                // created by another JVM in the meantime; checked below like any existing directory
            }
        }
        if (!Files.isDirectory(d)) {
            throw new NativeLibraryException("the extraction directory " + d + " (" + dir.source() + ") is not a directory. "
                    + chooseAnother());
        }
        if (!posix) return;
        PosixFileAttributes attributes = Files.readAttributes(d, PosixFileAttributes.class);
        Set<PosixFilePermission> permissions = attributes.permissions();
        if (permissions.contains(PosixFilePermission.GROUP_WRITE) || permissions.contains(PosixFilePermission.OTHERS_WRITE)) {
            throw new NativeLibraryException("the extraction directory " + d + " (" + dir.source() + ") is writable by"
                    + " other users (" + PosixFilePermissions.toString(permissions) + "), who could replace the library"
                    + " before it is loaded. " + chooseAnother());
        }
        Optional<UserPrincipal> me = currentUser();
        if (me.isPresent() && !me.get().equals(attributes.owner())) {
            throw new NativeLibraryException("the extraction directory " + d + " (" + dir.source() + ") belongs to "
                    + attributes.owner().getName() + ", not to " + me.get().getName() + ". " + chooseAnother());
        }
    }

    private static Optional<UserPrincipal> currentUser() {
        try {
            return Optional.of(FileSystems.getDefault().getUserPrincipalLookupService()
                    .lookupPrincipalByName(System.getProperty("user.name", "")));
        } catch (IOException | UnsupportedOperationException e) {
            return Optional.empty(); // a user without a name (a container's bare uid): permissions decide
        }
    }

    /** Deletes temporary files of extractions that never finished (their JVM was killed). */
    private static void deleteStale(Path dir) {
        FileTime before = FileTime.from(Instant.now().minus(STALE));
        try (DirectoryStream<Path> tmps = Files.newDirectoryStream(dir, ".*.tmp")) {
            for (Path tmp : tmps) {
                if (Files.getLastModifiedTime(tmp, LinkOption.NOFOLLOW_LINKS).compareTo(before) < 0) {
                    Files.deleteIfExists(tmp);
                }
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "bnorm: cannot clean " + dir, e);
        }
    }

    private static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) sha.update(buffer, 0, n);
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String recordedSha256(Resources resources, String resource) {
        try (InputStream in = resources.open(resource + ".sha256")) {
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

    private static Loaded loadVerified(Located at) {
        Path path = at.path();
        String source = at.source();
        try {
            System.load(path.toString());
        } catch (IllegalCallerException e) {
            throw new NativeLibraryException("native access is refused to bnorm; run java with "
                    + nativeAccessFlag(NativeLibrary.class.getModule()), e);
        } catch (UnsatisfiedLinkError e) {
            throw new NativeLibraryException(loadFailure(path, source, e.getMessage(),
                    Files.isRegularFile(path) && Files.isReadable(path), at.extracted()), e);
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

    /** The flag that grants native access to bnorm's module: its name on the module path, else ALL-UNNAMED. */
    static String nativeAccessFlag(Module module) {
        return "--enable-native-access=" + (module.isNamed() ? module.getName() : "ALL-UNNAMED");
    }

    /**
     * The message for a library file that {@code System.load} refused. When the file is there and
     * readable but could not be mapped (the dynamic loader's "failed to map segment" or "operation
     * not permitted"), its file system is most likely mounted {@code noexec}: say so and how to
     * choose another place.
     */
    static String loadFailure(Path path, String source, String error, boolean present, boolean extracted) {
        String m = "cannot load " + path + " (from " + source + "): " + error;
        String e = String.valueOf(error).toLowerCase(java.util.Locale.ROOT);
        if (present && (e.contains("failed to map segment") || e.contains("operation not permitted"))) {
            m += ". The file is there and readable, but the system refused to map it as code: its file system is"
                    + " probably mounted noexec (see `mount`). " + (extracted ? chooseAnother()
                    : "Put the library on a file system that allows executables.");
        }
        return m;
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
