package org.gsa4j.serve;

import org.gsa4j.Gsa4jException;
import org.gsa4j.io.AtomicFiles;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Sessions as files in one directory, the embedded default store: one file per session, named by
 * the SHA-256 of its id (any id is a safe file name), written atomically (temp file, fsync,
 * rename: a crash leaves the old snapshot or the new one, never a torn one). The snapshot checks
 * itself on load (checksums, the model's identity). The total size is bounded: past the bound the
 * least recently used sessions are deleted. Recency survives restarts (the files' modification
 * times, touched on every read).
 */
public final class DirectoryStore implements StateStore {
    private static final String SUFFIX = ".gsa4jds";
    private final Path dir;
    private final long maxBytes;
    /** File name → size, least recently used first. */
    private final LinkedHashMap<String, Long> index = new LinkedHashMap<>(16, 0.75f, true);
    private long total;

    public DirectoryStore(Path dir, long maxBytes) {
        if (maxBytes <= 0) throw new IllegalArgumentException("the state store's size bound must be > 0, got " + maxBytes);
        this.dir = dir;
        this.maxBytes = maxBytes;
        try {
            Files.createDirectories(dir);
            try (Stream<Path> files = Files.list(dir)) {
                files.filter(p -> p.getFileName().toString().endsWith(SUFFIX))
                        .sorted((a, b) -> modified(a).compareTo(modified(b)))
                        .forEach(p -> {
                            long size = size(p);
                            index.put(p.getFileName().toString(), size);
                            total += size;
                        });
            }
        } catch (IOException e) {
            throw Gsa4jException.at(dir, null, "cannot open the state store directory: " + e.getMessage(), e);
        }
    }

    private static FileTime modified(Path p) {
        try {
            return Files.getLastModifiedTime(p);
        } catch (IOException e) {
            return FileTime.fromMillis(0);
        }
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;
        }
    }

    static String fileName(String sessionId) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(sessionId.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(h) + SUFFIX;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public Optional<byte[]> get(String sessionId) {
        String name = fileName(sessionId);
        Path file = dir.resolve(name);
        try {
            byte[] bytes = Files.readAllBytes(file);
            Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis()));
            synchronized (this) {
                index.get(name);   // most recently used now
            }
            return Optional.of(bytes);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException("state store " + file + ": cannot read: " + e.getMessage(), e);
        }
    }

    @Override
    public void put(String sessionId, byte[] snapshot) {
        String name = fileName(sessionId);
        Path file = dir.resolve(name);
        AtomicFiles.write(file, ch -> {
            ByteBuffer b = ByteBuffer.wrap(snapshot);
            while (b.hasRemaining()) ch.write(b);
        });
        synchronized (this) {
            Long old = index.put(name, (long) snapshot.length);
            total += snapshot.length - (old == null ? 0 : old);
            evict(name);
        }
    }

    /** Deletes least recently used sessions (never the one just written) until the total fits. */
    private void evict(String keep) {
        var it = index.entrySet().iterator();
        while (total > maxBytes && it.hasNext()) {
            Map.Entry<String, Long> e = it.next();
            if (e.getKey().equals(keep)) continue;
            try {
                Files.deleteIfExists(dir.resolve(e.getKey()));
            } catch (IOException ex) {
                continue;   // still there: counted, retried at the next put
            }
            total -= e.getValue();
            it.remove();
        }
    }

    @Override
    public synchronized long sizeBytes() {
        return total;
    }

    @Override
    public String describe() {
        return "directory " + dir + " (at most " + maxBytes + " bytes, least recently used sessions evicted)";
    }
}
