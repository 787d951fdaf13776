package org.gsa4j.serve;

import java.net.URI;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where conversations live between requests: session id → the bytes of a decode-state snapshot
 * (self-describing and checksummed: {@code StateSnapshot}). Implementations are thread-safe; a
 * {@link #put} is complete (durable for the directory store, acknowledged by Redis) when it
 * returns, so another replica can resume the session as soon as the response has ended.
 */
public interface StateStore extends AutoCloseable {
    Optional<byte[]> get(String sessionId);

    void put(String sessionId, byte[] snapshot);

    /** Bytes held (the directory store's files; Redis: the sessions this store wrote and still sees). */
    long sizeBytes();

    /** A one-line description for logs and errors. */
    String describe();

    @Override
    default void close() {}

    /**
     * A store from its {@code --state-store} value: {@code redis://host:port[/db]} or a directory
     * (a path or {@code file:} URI), with a size bound for the directory store.
     */
    static StateStore open(String spec, long maxBytes) {
        if (spec.startsWith("redis://") || spec.startsWith("rediss://")) return new RedisStore(URI.create(spec));
        Path dir = spec.startsWith("file:") ? Path.of(URI.create(spec)) : Path.of(spec);
        return new DirectoryStore(dir, maxBytes);
    }
}
