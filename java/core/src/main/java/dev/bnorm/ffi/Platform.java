package dev.bnorm.ffi;

import java.util.List;
import java.util.Locale;

/**
 * The platform names of bnorm's native libraries, {@code <os>-<arch>}: the directory
 * {@code META-INF/native/<os>-<arch>/} inside the jars and the classifier of the platform jar.
 */
public final class Platform {

    /** Platforms with a place in the table. osx ones need a build on a Mac (no artifact is published). */
    public static final List<String> KNOWN = List.of(
            "linux-x86_64", "linux-aarch64", "windows-x86_64", "osx-x86_64", "osx-aarch64");

    private Platform() {}

    /** {@code <os>-<arch>} for the running JVM, or {@code null} if the OS or the architecture is unknown. */
    public static String current() {
        return of(System.getProperty("os.name", ""), System.getProperty("os.arch", ""));
    }

    /**
     * Maps Java's {@code os.name}/{@code os.arch} spellings to a platform name, or {@code null}
     * when the pair is not in {@link #KNOWN} (an unknown OS or architecture, or a combination
     * such as windows-aarch64 that bnorm has no library for).
     */
    public static String of(String osName, String osArch) {
        String name = os(osName) + "-" + arch(osArch); // "null-..." if either is unknown
        return KNOWN.contains(name) ? name : null;
    }

    static String os(String osName) {
        String n = osName.toLowerCase(Locale.ROOT);
        if (n.startsWith("linux")) return "linux";
        if (n.startsWith("windows")) return "windows";
        if (n.startsWith("mac") || n.startsWith("darwin")) return "osx";
        return null;
    }

    static String arch(String osArch) {
        return switch (osArch.toLowerCase(Locale.ROOT)) {
            case "amd64", "x86_64", "x86-64", "x64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> null;
        };
    }

    /** File name of the library on a platform: libbnorm.so, bnorm.dll or libbnorm.dylib. */
    public static String libraryFileName(String platform) {
        if (platform.startsWith("windows")) return "bnorm.dll";
        if (platform.startsWith("osx")) return "libbnorm.dylib";
        return "libbnorm.so";
    }

    /** Resource path of the bundled library for a platform. */
    public static String resourcePath(String platform) {
        return "META-INF/native/" + platform + "/" + libraryFileName(platform);
    }
}
