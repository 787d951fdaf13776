package org.gsa4j.serve;

import redis.clients.jedis.RedisClient;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Sessions in Redis, shared by every replica: key {@code gsa4j:session:<id>}, value the snapshot
 * bytes. Eviction is Redis's own ({@code maxmemory} with an LRU policy); {@link #sizeBytes} counts
 * what this process has written and not seen removed.
 */
public final class RedisStore implements StateStore {
    private static final String PREFIX = "gsa4j:session:";
    private final URI uri;
    private final RedisClient redis;
    private final java.util.concurrent.ConcurrentHashMap<String, Integer> written = new java.util.concurrent.ConcurrentHashMap<>();

    public RedisStore(URI uri) {
        this.uri = uri;
        this.redis = RedisClient.create(uri);
    }

    private static byte[] key(String sessionId) {
        return (PREFIX + sessionId).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public Optional<byte[]> get(String sessionId) {
        byte[] v = redis.get(key(sessionId));
        if (v == null) written.remove(sessionId);
        return Optional.ofNullable(v);
    }

    @Override
    public void put(String sessionId, byte[] snapshot) {
        redis.set(key(sessionId), snapshot);
        written.put(sessionId, snapshot.length);
    }

    @Override
    public long sizeBytes() {
        long n = 0;
        for (int v : written.values()) n += v;
        return n;
    }

    @Override
    public String describe() {
        return "redis " + uri.getHost() + ":" + uri.getPort();
    }

    @Override
    public void close() {
        redis.close();
    }
}
