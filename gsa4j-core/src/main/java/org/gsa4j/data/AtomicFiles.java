package org.gsa4j.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

import org.gsa4j.Gsa4jException;

/** Atomic file replacement: write a temporary file beside the target, fsync it, rename it over. */
final class AtomicFiles {
    private AtomicFiles() {}

    /** A fresh temporary file in the target's directory (created; the directory is created if needed). */
    static Path tempFor(Path target) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        try {
            Files.createDirectories(dir);
            return Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
        } catch (AccessDeniedException e) {
            throw Gsa4jException.at(target, null, "output directory is not writable (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw Gsa4jException.at(target, null, "cannot create a file in " + dir + ": " + e, e);
        }
    }

    /** fsyncs tmp, renames it to target (atomically where supported) and fsyncs the directory. */
    static void commit(Path tmp, Path target) {
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            Path dir = target.toAbsolutePath().getParent();
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            } catch (IOException | UnsupportedOperationException ignored) {
                // some platforms cannot open or sync a directory; the rename is still atomic
            }
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw Gsa4jException.at(target, null, "cannot write: " + e, e);
        }
    }

    static void write(Path target, byte[] data) {
        Path tmp = tempFor(target);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer b = ByteBuffer.wrap(data);
            while (b.hasRemaining()) ch.write(b);
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw Gsa4jException.at(target, null, "cannot write: " + e, e);
        }
        commit(tmp, target);
    }

    static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort
        }
    }
}
