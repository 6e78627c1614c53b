package dev.bnorm.demo;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/** Opening data files, gzip-compressed or not, and turning I/O failures into one-line messages. */
final class DataFiles {

    private DataFiles() {}

    /** Reads the whole stream, gunzipping it when it starts with the gzip magic bytes. */
    static byte[] readAll(InputStream raw, String source) {
        try (InputStream in = new BufferedInputStream(raw)) {
            in.mark(2);
            boolean gzip = in.read() == 0x1f && in.read() == 0x8b;
            in.reset();
            if (!gzip) return in.readAllBytes();
            try (InputStream gz = new GZIPInputStream(in)) {
                return gz.readAllBytes();
            }
        } catch (IOException e) {
            throw new DemoException(source + ": cannot read: " + describe(e), e);
        }
    }

    /** Reads a file (see {@link #readAll(InputStream, String)}). */
    static byte[] readAll(Path file) {
        InputStream in;
        try {
            if (Files.isDirectory(file)) throw new DemoException(file + ": expected a file, got a directory");
            in = Files.newInputStream(file);
        } catch (IOException e) {
            throw new DemoException(file + ": cannot read: " + describe(e), e);
        }
        return readAll(in, file.toString());
    }

    /** A short reason for an I/O failure ("no such file", "permission denied", the JDK's message). */
    static String describe(IOException e) {
        if (e instanceof NoSuchFileException) return "no such file";
        if (e instanceof AccessDeniedException) return "permission denied";
        if (e instanceof NotDirectoryException) return "not a directory";
        if (e instanceof FileAlreadyExistsException) return "a file is in the way";
        if (e instanceof FileSystemException f && f.getReason() != null) return f.getReason();
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }
}
