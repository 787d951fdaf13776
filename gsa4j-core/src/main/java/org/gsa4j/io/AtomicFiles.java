package org.gsa4j.io;

import org.gsa4j.Gsa4jException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
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

    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    public static void write(Path target, Body body) {
        if (Files.isDirectory(target)) throw Gsa4jException.at(target, null, "is a directory");
        Path tmp = tempFor(target);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            body.write(ch);
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw Gsa4jException.at(target, null, "cannot write: " + e, e);
        } catch (RuntimeException e) {
            deleteQuietly(tmp);
            throw e;
        }
        commit(tmp, target);
    }

    public static void write(Path target, byte[] content) {
        write(target, ch -> SafeTensors.writeAll(ch, ByteBuffer.wrap(content)));
    }

    /**
     * A fresh temporary file beside the target (its directory is created if needed), with the
     * permissions a new file gets there (the umask's), or the target's when it exists: the rename
     * must not turn a readable file private ({@code createTempFile} makes files 0600).
     */
    public static Path tempFor(Path target) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null) throw Gsa4jException.at(target, null, "has no parent directory");
        try {
            Files.createDirectories(dir);
            Path tmp;
            while (true) {
                try {
                    tmp = Files.createFile(dir.resolve("." + abs.getFileName() + "." + Long.toUnsignedString(RANDOM.nextLong(), 36) + ".tmp"));
                    break;
                } catch (java.nio.file.FileAlreadyExistsException taken) {
                    // another writer's temporary file: draw another name
                }
            }
            if (Files.exists(abs) && Files.getFileAttributeView(abs, java.nio.file.attribute.PosixFileAttributeView.class) != null) {
                Files.setPosixFilePermissions(tmp, Files.getPosixFilePermissions(abs));
            }
            return tmp;
        } catch (AccessDeniedException e) {
            throw Gsa4jException.at(target, null, "output directory is not writable (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw Gsa4jException.at(target, null, "cannot create a file in " + dir + ": " + e, e);
        }
    }

    /** fsyncs tmp, renames it to target (atomically where supported) and fsyncs the directory. */
    public static void commit(Path tmp, Path target) {
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            fsyncDirectory(target.toAbsolutePath().getParent());
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw Gsa4jException.at(target, null, "cannot write: " + e, e);
        }
    }

    public static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort: the original error matters more
        }
    }

    /** fsync a directory so a rename in it is durable; a no-op where the platform refuses (Windows). */
    public static void fsyncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // some platforms cannot open or sync a directory; the rename is still atomic
        }
    }
}
