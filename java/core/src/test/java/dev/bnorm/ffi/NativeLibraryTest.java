package dev.bnorm.ffi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
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
    void loadsTheBundledResourceIntoAnOwnerOnlyDirectory() throws Exception {
        String out = runLoader(List.of(), Map.of(), true);
        assertTrue(out.contains("class path resource " + Platform.resourcePath(PLATFORM)), out);
        Path extracted = NativeLibrary.extract(getClass().getClassLoader(), PLATFORM);
        assertArrayEquals(Files.readAllBytes(LIBRARY), Files.readAllBytes(extracted));
        if (Files.getFileStore(extracted).supportsFileAttributeView("posix")) {
            assertEquals(Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
                    PosixFilePermission.OWNER_EXECUTE), Files.getPosixFilePermissions(extracted.getParent()));
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
            var e = assertThrows(NativeLibraryException.class, () -> NativeLibrary.extract(loader, PLATFORM));
            assertTrue(e.getMessage().startsWith("checksum mismatch for the bundled " + Platform.resourcePath(PLATFORM)), e.getMessage());
        }
    }

    @Test
    void aBundledLibraryWithoutItsChecksumIsRefused(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("META-INF/native/" + PLATFORM));
        Files.copy(LIBRARY, dir.resolve(LIBRARY.getFileName()));
        try (URLClassLoader loader = new URLClassLoader(new URL[] {tmp.toUri().toURL()}, null)) {
            var e = assertThrows(NativeLibraryException.class, () -> NativeLibrary.extract(loader, PLATFORM));
            assertTrue(e.getMessage().contains(".sha256 is missing"), e.getMessage());
        }
    }

    @Test
    void anUnsupportedPlatformNamesItselfAndTheThreeWays() {
        var e = assertThrows(NativeLibraryException.class, () -> NativeLibrary.locate(
                null, null, getClass().getClassLoader(), "SunOS", "sparcv9"));
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
        var at = NativeLibrary.locate(tmp.toString(), null, getClass().getClassLoader(), "Windows 11", "aarch64");
        assertEquals(dll.toAbsolutePath(), at.path());
        var e = assertThrows(NativeLibraryException.class, () -> NativeLibrary.locate(
                null, tmp.toString(), getClass().getClassLoader(), "Linux", "riscv64"));
        assertTrue(e.getMessage().contains(tmp.resolve("libbnorm.so").toAbsolutePath().toString()), e.getMessage());
    }

    @Test
    void anUnreadablePathIsReported(@TempDir Path tmp) {
        var e = assertThrows(NativeLibraryException.class, () -> NativeLibrary.locate(
                tmp.resolve("missing.so").toString(), null, getClass().getClassLoader(), "Linux", "amd64"));
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
        String classes = Path.of(NativeLibrary.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        String cp = bundled ? classes + File.pathSeparator + RESOURCE_ROOT : classes;
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", cp, NativeLibrary.class.getName()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove(NativeLibrary.ENV);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "loader JVM did not finish");
        return new Result(p.exitValue(), out);
    }
}
