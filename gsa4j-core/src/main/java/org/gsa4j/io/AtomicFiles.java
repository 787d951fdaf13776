package org.gsa4j.io;

import org.gsa4j.Gsa4jException;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Atomic file replacement: write a temp file in the target's directory, fsync it, rename it over
 * the target, fsync the directory. A crash leaves either the old file or the new one, never a torn
 * one; on failure the temp file is removed and the target is untouched.
 */
public final class AtomicFiles {

    /** Writes the content through the channel. */
    @FunctionalInterface
    public interface Body {
        void write(FileChannel ch) throws IOException;
    }

    private AtomicFiles() {}

    public static void write(Path target, Body body) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = null;
        try {
            if (dir == null) throw Gsa4jException.at(target, null, "has no parent directory");
            if (Files.isDirectory(abs)) throw Gsa4jException.at(target, null, "is a directory");
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                body.write(ch);
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
            fsyncDirectory(dir);
        } catch (IOException e) {
            throw Gsa4jException.at(target, null, "cannot write: " + e, e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: the original error matters more
                }
            }
        }
    }

    public static void write(Path target, byte[] content) {
        write(target, ch -> SafeTensors.writeAll(ch, java.nio.ByteBuffer.wrap(content)));
    }

    /** fsync a directory so a rename in it is durable; a no-op where the platform refuses (Windows). */
    static void fsyncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // not supported for directories on this platform
        }
    }
}
