package dev.bnorm.ffi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.bnorm.NativeLibraryException;
import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class NativeLibraryTest {

    static final String PLATFORM = System.getProperty("bnorm.test.platform");
    static final Path NATIVE_DIR = Path.of(System.getProperty("bnorm.test.native.dir"));
    static final Path LIBRARY = NATIVE_DIR.resolve(Platform.libraryFileName(PLATFORM));
    /** target/native-classes: the root of the bundled-resource tree. */
    static final Path RESOURCE_ROOT = NATIVE_DIR.getParent().getParent().getParent();

    @org.junit.jupiter.api.BeforeAll
    static void load() {
        NativeLibrary.load(); // before bn_h is touched (it resolves through the loader lookup)
    }

    @Test
    void versionThroughTheBindingsIsThePomVersion() {
        NativeLibrary.Loaded loaded = NativeLibrary.load();
        String pom = System.getProperty("bnorm.test.pom.version");
        assertEquals(pom, bn_h.bn_version().getString(0));
        assertEquals(pom, loaded.version());
        assertEquals(pom, NativeLibrary.javaVersion());
    }

    @Test
    void strerrorComesFromTheLibrary() {
        assertEquals("expected more than 1 value per channel when training",
                NativeLibrary.strerror(bn_h.BN_ERR_SINGLE_VALUE()));
        assertEquals("unknown bn_status", NativeLibrary.strerror(-1));
    }

    @Test
    void loadsFromTheSystemPropertyGivenADirectory(@TempDir Path tmp) throws Exception {
        Path copy = Files.copy(LIBRARY, tmp.resolve(LIBRARY.getFileName()));
        String out = runLoader(List.of("-D" + NativeLibrary.PROPERTY + "=" + tmp), Map.of(), false);
        assertTrue(out.contains(copy.toString()) && out.contains("system property " + NativeLibrary.PROPERTY), out);
    }

    @Test
    void loadsFromTheEnvironmentVariableGivenAFile(@TempDir Path tmp) throws Exception {
        Path copy = Files.copy(LIBRARY, tmp.resolve("renamed-" + LIBRARY.getFileName()));
        String out = runLoader(List.of(), Map.of(NativeLibrary.ENV, copy.toString()), false);
        assertTrue(out.contains(copy.toString()) && out.contains("environment variable " + NativeLibrary.ENV), out);
    }

    @Test
    void thePropertyWinsOverTheEnvironmentVariable(@TempDir Path tmp) throws Exception {
        String out = runLoader(List.of("-D" + NativeLibrary.PROPERTY + "=" + LIBRARY),
                Map.of(NativeLibrary.ENV, tmp.resolve("nothing-here").toString()), false);
        assertTrue(out.contains("system property"), out);
    }

    @Test
    void loadsTheBundledResourceIntoAnOwnerOnlyDirectory(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("a/b");
        String out = runLoader(List.of("-D" + NativeLibrary.EXTRACT_PROPERTY + "=" + dir), Map.of(), true);
        assertTrue(out.contains("bundled resource " + Platform.resourcePath(PLATFORM)), out);
        Path extracted = extract(dir).path();
        assertTrue(out.contains(extracted.toString()), out);
        assertArrayEquals(Files.readAllBytes(LIBRARY), Files.readAllBytes(extracted));
        if (Files.getFileStore(extracted).supportsFileAttributeView("posix")) {
            Set<PosixFilePermission> ownerOnly = Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
                    PosixFilePermission.OWNER_EXECUTE);
            assertEquals(ownerOnly, Files.getPosixFilePermissions(dir));
            assertEquals(ownerOnly, Files.getPosixFilePermissions(extracted));
        }
    }

    @Test
    void withoutAnyLibraryTheMessageNamesTheThreeWays() throws Exception {
        String out = runLoaderExpectingFailure(List.of(), Map.of());
        assertTrue(out.contains("not on the class path") && out.contains("-D" + NativeLibrary.PROPERTY)
                && out.contains(NativeLibrary.ENV) && out.contains("-" + PLATFORM + ".jar"), out);
    }

    @Test
    void aTamperedBundledLibraryIsRefused(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("META-INF/native/" + PLATFORM));
        byte[] lib = Files.readAllBytes(LIBRARY);
        lib[lib.length / 2] ^= 0x5a;
        Files.write(dir.resolve(LIBRARY.getFileName()), lib);
        Files.copy(NATIVE_DIR.resolve(LIBRARY.getFileName() + ".sha256"), dir.resolve(LIBRARY.getFileName() + ".sha256"));
        try (URLClassLoader loader = new URLClassLoader(new URL[] {tmp.toUri().toURL()}, null)) {
            var e = assertThrows(NativeLibraryException.class, () -> NativeLibrary.extract(
                    NativeLibrary.Resources.of(loader), PLATFORM, new NativeLibrary.ExtractDir(tmp.resolve("x"), "test")));
            try (var left = Files.list(tmp.resolve("x"))) {
                assertEquals(List.of(), left.toList(), "nothing may stay behind of a refused library");
            }
            assertTrue(e.getMessage().startsWith("checksum mismatch for the bundled " + Platform.resourcePath(PLATFORM)), e.getMessage());
        }
    }

    @Test
    void aBundledLibraryWithoutItsChecksumIsRefused(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("META-INF/native/" + PLATFORM));
        Files.copy(LIBRARY, dir.resolve(LIBRARY.getFileName()));
        try (URLClassLoader loader = new URLClassLoader(new URL[] {tmp.toUri().toURL()}, null)) {
            var e = assertThrows(NativeLibraryException.class, () -> NativeLibrary.extract(
                    NativeLibrary.Resources.of(loader), PLATFORM, new NativeLibrary.ExtractDir(tmp.resolve("x"), "test")));
            assertTrue(e.getMessage().contains(".sha256 is missing"), e.getMessage());
        }
    }

    @Test
    void anUnsupportedPlatformNamesItselfAndTheThreeWays() {
        var e = assertThrows(NativeLibraryException.class, () -> NativeLibrary.locate(
                null, null, null, resources(), "SunOS", "sparcv9"));
        String m = e.getMessage();
        for (String part : List.of("os.name=SunOS", "os.arch=sparcv9", "linux-x86_64", "-D" + NativeLibrary.PROPERTY,
                NativeLibrary.ENV, "bnorm-" + NativeLibrary.javaVersion() + "-<os>-<arch>.jar")) {
            assertTrue(m.contains(part), "missing '" + part + "' in: " + m);
        }
    }

    @Test
    void aDirectoryIsSearchedForTheFileNameOfTheOsAlsoOnAnUnlistedPlatform(@TempDir Path tmp) throws Exception {
        // windows-aarch64 has no bnorm jar, but a self-built bnorm.dll in a named directory is found.
        Path dll = Files.copy(LIBRARY, tmp.resolve("bnorm.dll"));
        var at = NativeLibrary.locate(tmp.toString(), null, null, resources(), "Windows 11", "aarch64");
        assertEquals(dll.toAbsolutePath(), at.path());
        var e = assertThrows(NativeLibraryException.class, () -> NativeLibrary.locate(
                null, tmp.toString(), null, resources(), "Linux", "riscv64"));
        assertTrue(e.getMessage().contains(tmp.resolve("libbnorm.so").toAbsolutePath().toString()), e.getMessage());
    }

    @Test
    void anUnreadablePathIsReported(@TempDir Path tmp) {
        var e = assertThrows(NativeLibraryException.class, () -> NativeLibrary.locate(
                tmp.resolve("missing.so").toString(), null, null, resources(), "Linux", "amd64"));
        assertTrue(e.getMessage().contains("-D" + NativeLibrary.PROPERTY) && e.getMessage().contains("not a readable file"),
                e.getMessage());
    }

    @Test
    void aLibraryMissingASymbolIsRefused(@TempDir Path tmp) throws Exception {
        // Any shared library that is not libbnorm: the JDK's own libjava exports no bn_ symbol.
        Path javaHome = Path.of(System.getProperty("java.home"));
        Path other = javaHome.resolve("lib").resolve(System.mapLibraryName("java"));
        String out = runLoaderExpectingFailure(List.of("-D" + NativeLibrary.PROPERTY + "=" + other), Map.of());
        assertTrue(out.contains("symbol missing") && out.contains("bn_version"), out);
    }

    // --- extraction: one file per library content, reused, shared by concurrent JVMs ---

    @Test
    void aSecondJvmReusesTheExtractedLibraryInsteadOfExtractingAgain(@TempDir Path tmp) throws Exception {
        List<String> args = List.of("-D" + NativeLibrary.EXTRACT_PROPERTY + "=" + tmp);
        String first = runLoader(args, Map.of(), true);
        assertTrue(first.contains(", extracted into " + tmp), first);
        Path file = onlyLibraryIn(tmp);
        Object key = Files.readAttributes(file, BasicFileAttributes.class).fileKey();
        FileTime written = Files.getLastModifiedTime(file);
        String second = runLoader(args, Map.of(), true);
        assertTrue(second.contains(", already extracted into " + tmp) && second.contains(file.toString()), second);
        assertEquals(file, onlyLibraryIn(tmp));
        assertEquals(key, Files.readAttributes(file, BasicFileAttributes.class).fileKey(), "the file was replaced");
        assertEquals(written, Files.getLastModifiedTime(file), "the file was written again");
    }

    @Test
    void jvmsExtractingAtTheSameTimeAllLoadTheOneFile(@TempDir Path tmp) throws Exception {
        List<String> args = List.of("-D" + NativeLibrary.EXTRACT_PROPERTY + "=" + tmp);
        List<Process> jvms = new ArrayList<>();
        for (int i = 0; i < 3; i++) jvms.add(start(NativeLibrary.class.getName(), args, Map.of(), true));
        for (Process p : jvms) {
            Result r = finish(p);
            assertEquals(0, r.exit, r.output);
        }
        Path file = onlyLibraryIn(tmp);
        assertArrayEquals(Files.readAllBytes(LIBRARY), Files.readAllBytes(file));
        try (var left = Files.list(tmp)) {
            assertEquals(List.of(file), left.toList(), "no temporary file may stay behind");
        }
    }

    @Test
    void aCorruptedExtractedFileIsReplacedNotLoaded(@TempDir Path tmp) throws Exception {
        Path file = extract(tmp).path();
        Files.write(file, new byte[] {1, 2, 3});
        NativeLibrary.Extracted again = extract(tmp);
        assertEquals(file, again.path());
        assertFalse(again.reused());
        assertArrayEquals(Files.readAllBytes(LIBRARY), Files.readAllBytes(file));
        assertTrue(extract(tmp).reused());
    }

    @Test
    void anExtractionDirectoryOthersCanWriteIsRefused(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.getFileStore(tmp).supportsFileAttributeView("posix"), "POSIX permissions");
        Path shared = Files.createDirectory(tmp.resolve("shared"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        var e = assertThrows(NativeLibraryException.class, () -> extract(shared));
        assertTrue(e.getMessage().contains("is writable by other users (rwxrwxrwx)")
                && e.getMessage().contains("-D" + NativeLibrary.EXTRACT_PROPERTY + "=")
                && e.getMessage().contains(NativeLibrary.EXTRACT_ENV + "="), e.getMessage());
        try (var left = Files.list(shared)) {
            assertEquals(0, left.count(), "nothing may be written into a refused directory");
        }
    }

    @Test
    void theExtractionDirectoryComesFromThePropertyThenTheEnvironmentThenTheTempDirectory() {
        var both = NativeLibrary.extractDir("/p", "/e", "/tmp", "ann");
        assertEquals(Path.of("/p"), both.path());
        assertEquals("-D" + NativeLibrary.EXTRACT_PROPERTY, both.source());
        var env = NativeLibrary.extractDir(" ", "/e", "/tmp", "ann");
        assertEquals(Path.of("/e"), env.path());
        assertEquals("environment variable " + NativeLibrary.EXTRACT_ENV, env.source());
        assertEquals(Path.of("/tmp/bnorm-ann"), NativeLibrary.extractDir(null, "", "/tmp", "ann").path());
        assertEquals(Path.of("/tmp/bnorm-a_b_c"), NativeLibrary.extractDir(null, null, "/tmp", "a/b c").path());
        assertEquals(Path.of("/tmp/bnorm-user"), NativeLibrary.extractDir(null, null, "/tmp", "").path());
        assertEquals("libbnorm-abc.so", NativeLibrary.cachedName("libbnorm.so", "abc"));
        assertEquals("bnorm-abc.dll", NativeLibrary.cachedName("bnorm.dll", "abc"));
    }

    // --- messages that name the fix ---

    @Test
    void aLibraryThatCannotBeMappedIsReportedAsANoexecMount() {
        // glibc's dlopen error for a file on a noexec mount (seen on Linux with tmpfs -o noexec).
        String glibc = "/tmp/x/libbnorm.so: failed to map segment from shared object";
        String extracted = NativeLibrary.loadFailure(Path.of("/tmp/x/libbnorm.so"), "class path resource", glibc, true, true);
        assertTrue(extracted.contains("mounted noexec") && extracted.contains("-D" + NativeLibrary.EXTRACT_PROPERTY + "=")
                && extracted.contains(NativeLibrary.EXTRACT_ENV), extracted);
        String given = NativeLibrary.loadFailure(Path.of("/mnt/libbnorm.so"), "system property", glibc, true, false);
        assertTrue(given.contains("mounted noexec") && !given.contains(NativeLibrary.EXTRACT_PROPERTY), given);
        // Not a mapping failure, or no file: no guess.
        assertFalse(NativeLibrary.loadFailure(Path.of("/x.so"), "s", "wrong ELF class: ELFCLASS32", true, true)
                .contains("noexec"));
        assertFalse(NativeLibrary.loadFailure(Path.of("/x.so"), "s", glibc, false, true).contains("noexec"));
    }

    @Test
    void onANoexecMountTheLoaderSaysSo() throws Exception {
        Path noexec = writableNoexecMount();
        assumeTrue(noexec != null, "no writable noexec mount on this machine (see /proc/mounts)");
        Path dir = Files.createTempDirectory(noexec, "bnorm-test-");
        try {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
            Result r = run(List.of("-D" + NativeLibrary.EXTRACT_PROPERTY + "=" + dir), Map.of(), true);
            assertTrue(r.exit != 0 && r.output.contains("mounted noexec")
                    && r.output.contains("-D" + NativeLibrary.EXTRACT_PROPERTY + "="), r.output);
        } finally {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) Files.delete(f);
            }
            Files.delete(dir);
        }
    }

    @Test
    void theNativeAccessFlagNamesTheModuleOrAllUnnamed() {
        assertEquals("--enable-native-access=ALL-UNNAMED", NativeLibrary.nativeAccessFlag(getClass().getModule()));
        assertEquals("--enable-native-access=java.base", NativeLibrary.nativeAccessFlag(Object.class.getModule()));
    }

    // --- Kernels.best(): auto, strict native, java ---

    @Test
    void strictNativeModeFailsWhenThereIsNoLibrary() throws Exception {
        Result r = run(BestKernels.class.getName(), List.of("-Dbnorm.kernels=native"), Map.of(), false);
        assertTrue(r.exit != 0 && r.output.contains(NativeLibraryException.class.getName())
                && r.output.contains("the native kernels are required (-Dbnorm.kernels=native or BNORM_KERNELS=native)")
                && r.output.contains("not on the class path"), r.output);
        Result env = run(BestKernels.class.getName(), List.of(), Map.of("BNORM_KERNELS", "native"), false);
        assertTrue(env.exit != 0 && env.output.contains("the native kernels are required"), env.output);
    }

    @Test
    void withoutStrictModeTheMissingLibraryFallsBackToJavaWithAWarning() throws Exception {
        Result r = run(BestKernels.class.getName(), List.of(), Map.of(), false);
        assertEquals(0, r.exit, r.output);
        assertTrue(r.output.contains("kernels: java") && r.output.contains("using the pure-Java kernels")
                && r.output.contains("-Dbnorm.kernels=native makes this an error"), r.output);
    }

    @Test
    void javaModeSkipsTheLibraryAndThePropertyWinsOverTheEnvironment(@TempDir Path tmp) throws Exception {
        Result r = run(BestKernels.class.getName(), List.of("-Dbnorm.kernels=java"),
                Map.of("BNORM_KERNELS", "native"), true);
        assertEquals(0, r.exit, r.output);
        assertTrue(r.output.contains("kernels: java"), r.output);
        Path logging = Files.writeString(tmp.resolve("logging.properties"),
                "handlers=java.util.logging.ConsoleHandler\njava.util.logging.ConsoleHandler.level=ALL\ndev.bnorm.level=ALL\n");
        Result nat = run(BestKernels.class.getName(), List.of("-Dbnorm.kernels=native",
                "-Djava.util.logging.config.file=" + logging, "-D" + NativeLibrary.EXTRACT_PROPERTY + "="
                + tmp.resolve("lib")),
                Map.of("BNORM_KERNELS", "java"), true);
        assertEquals(0, nat.exit, nat.output);
        assertTrue(nat.output.contains("kernels: native") && nat.output.contains("threads for large calls")
                && nat.output.contains("libbnorm " + NativeLibrary.javaVersion()), nat.output);
    }

    @Test
    void aBadKernelsSettingIsRefusedNamingItsSource() throws Exception {
        Result r = run(BestKernels.class.getName(), List.of(), Map.of("BNORM_KERNELS", "fast"), false);
        assertTrue(r.exit != 0 && r.output.contains("BNORM_KERNELS: expected auto, native or java, got \"fast\""),
                r.output);
    }

    /** Prints the kernels Kernels.best() chose. */
    public static final class BestKernels {
        public static void main(String[] args) {
            System.out.println("kernels: " + dev.bnorm.kernel.Kernels.best().name());
        }
    }

    private static NativeLibrary.Resources resources() {
        return NativeLibrary.Resources.of(NativeLibraryTest.class.getClassLoader());
    }

    private static NativeLibrary.Extracted extract(Path dir) {
        return NativeLibrary.extract(resources(), PLATFORM, new NativeLibrary.ExtractDir(dir, "test"));
    }

    private static Path onlyLibraryIn(Path dir) throws Exception {
        try (var files = Files.list(dir)) {
            List<Path> libs = files.filter(f -> f.getFileName().toString().endsWith(
                    LIBRARY.getFileName().toString().replaceFirst(".*\\.", "."))).toList();
            assertEquals(1, libs.size(), libs.toString());
            return libs.get(0);
        }
    }

    /** A mount point of /proc/mounts with the noexec option that this process can write, or null. */
    private static Path writableNoexecMount() throws Exception {
        Path mounts = Path.of("/proc/mounts");
        if (!Files.isReadable(mounts)) return null;
        for (String line : Files.readAllLines(mounts)) {
            String[] f = line.split(" ");
            if (f.length < 4 || !List.of(f[3].split(",")).contains("noexec") || !List.of(f[3].split(",")).contains("rw")) continue;
            Path p = Path.of(f[1].replace("\\040", " "));
            if (Files.isDirectory(p) && Files.isWritable(p) && !p.startsWith("/proc") && !p.startsWith("/sys")) {
                try {
                    Files.delete(Files.createTempFile(p, "bnorm-probe-", ""));
                    return p;
                } catch (Exception e) {
                    // not writable after all
                }
            }
        }
        return null;
    }

    @ParameterizedTest
    @CsvSource({
        "Linux, amd64, linux-x86_64", "Linux, x86_64, linux-x86_64", "Linux, aarch64, linux-aarch64",
        "Linux, arm64, linux-aarch64", "Windows 11, amd64, windows-x86_64", "Windows Server 2022, x86_64, windows-x86_64",
        "Mac OS X, aarch64, osx-aarch64", "Mac OS X, x86_64, osx-x86_64", "Darwin, arm64, osx-aarch64",
        "Windows 10, AMD64, windows-x86_64", "Windows Server 2019, x64, windows-x86_64", "Windows NT (unknown), amd64, windows-x86_64",
        "LINUX, AArch64, linux-aarch64", "Linux, x86-64, linux-x86_64"})
    void platformNames(String os, String arch, String expected) {
        assertEquals(expected, Platform.of(os, arch));
        assertTrue(Platform.KNOWN.contains(expected));
    }

    @ParameterizedTest
    @CsvSource({"Linux, ppc64le", "Linux, riscv64", "FreeBSD, amd64", "SunOS, sparcv9", "Linux, x86",
        "Windows 11, aarch64", "Windows 10, x86"})
    void unknownPlatforms(String os, String arch) {
        assertNull(Platform.of(os, arch));
    }

    @Test
    void libraryFileNames() {
        assertEquals("META-INF/native/linux-aarch64/libbnorm.so", Platform.resourcePath("linux-aarch64"));
        assertEquals("META-INF/native/windows-x86_64/bnorm.dll", Platform.resourcePath("windows-x86_64"));
        assertEquals("META-INF/native/osx-aarch64/libbnorm.dylib", Platform.resourcePath("osx-aarch64"));
    }

    // --- a fresh JVM per loading route, so each route really loads the library ---

    private static String runLoader(List<String> jvmArgs, Map<String, String> env, boolean bundled) throws Exception {
        Result r = run(jvmArgs, env, bundled);
        assertEquals(0, r.exit, "loader failed:\n" + r.output);
        return r.output;
    }

    private static String runLoaderExpectingFailure(List<String> jvmArgs, Map<String, String> env) throws Exception {
        Result r = run(jvmArgs, env, false);
        assertTrue(r.exit != 0, "loader should have failed:\n" + r.output);
        assertTrue(r.output.contains(NativeLibraryException.class.getName()), r.output);
        return r.output;
    }

    record Result(int exit, String output) {}

    private static Result run(List<String> jvmArgs, Map<String, String> env, boolean bundled) throws Exception {
        return run(NativeLibrary.class.getName(), jvmArgs, env, bundled);
    }

    private static Result run(String mainClass, List<String> jvmArgs, Map<String, String> env, boolean bundled)
            throws Exception {
        return finish(start(mainClass, jvmArgs, env, bundled));
    }

    /** A JVM running mainClass on bnorm's classes and these tests', with the native library's resource tree if bundled. */
    private static Process start(String mainClass, List<String> jvmArgs, Map<String, String> env, boolean bundled)
            throws Exception {
        String classes = Path.of(NativeLibrary.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        String tests = Path.of(NativeLibraryTest.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        String cp = classes + File.pathSeparator + tests + (bundled ? File.pathSeparator + RESOURCE_ROOT : "");
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", cp, mainClass));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        for (String v : List.of(NativeLibrary.ENV, NativeLibrary.EXTRACT_ENV, "BNORM_KERNELS")) pb.environment().remove(v);
        pb.environment().putAll(env);
        return pb.start();
    }

    private static Result finish(Process p) throws Exception {
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM did not finish");
        return new Result(p.exitValue(), out);
    }
}
