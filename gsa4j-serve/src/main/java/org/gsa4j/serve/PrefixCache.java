package org.gsa4j.serve;

import org.gsa4j.models.DecodeState;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Decode states at chunk boundaries of prompts, keyed by a hash of (model identity, token prefix):
 * a prompt that extends a cached prefix starts from a copy of its state and feeds only the rest.
 * The key of a prefix of k·chunk tokens chains the key of (k−1)·chunk tokens with the next chunk's
 * ids (SHA-256), so all of a prompt's keys cost one pass over it. Batched decoding gives the same
 * state whatever the chunking, so a hit changes nothing in the tokens, only the prefill's cost.
 * Bounded in bytes, least recently used entries evicted. Thread-safe.
 */
final class PrefixCache {
    private final int chunk;
    private final long maxBytes;
    private final String modelKey;
    private final LinkedHashMap<String, DecodeState> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;

    PrefixCache(String modelKey, int chunk, long maxBytes) {
        this.modelKey = modelKey;
        this.chunk = chunk;
        this.maxBytes = maxBytes;
    }

    int chunk() {
        return chunk;
    }

    /** The key of the first {@code end} tokens given the key of the first {@code end − chunk} (or null at 0). */
    String next(String previous, int[] tokens, int end) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update((previous == null ? modelKey : previous).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            ByteBuffer b = ByteBuffer.allocate(4 * chunk);
            for (int i = end - chunk; i < end; i++) b.putInt(tokens[i]);
            d.update(b.array());
            return HexFormat.of().formatHex(d.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A hit: a copy of the state after {@code tokens} of the prompt, and its key. */
    record Hit(DecodeState state, int tokens, String key) {}

    /** The longest cached prefix of {@code prompt} that leaves at least one token to feed, or null. */
    Hit longest(int[] prompt) {
        if (maxBytes <= 0) return null;
        String[] keys = new String[(prompt.length - 1) / chunk + 1];
        for (int k = 1; k * chunk < prompt.length; k++) keys[k] = next(keys[k - 1], prompt, k * chunk);
        for (int k = keys.length - 1; k >= 1; k--) {
            if (keys[k] == null) continue;
            DecodeState s;
            synchronized (this) {
                s = entries.get(keys[k]);
            }
            if (s != null) return new Hit(s.copy(), k * chunk, keys[k]);
        }
        return null;
    }

    /** Keeps a copy of {@code state}, which has consumed exactly the prefix {@code key} names. */
    void put(String key, DecodeState state) {
        if (maxBytes <= 0 || state.bytes() > maxBytes) return;
        DecodeState copy = state.copy();
        synchronized (this) {
            DecodeState old = entries.put(key, copy);
            bytes += copy.bytes() - (old == null ? 0 : old.bytes());
            var it = entries.entrySet().iterator();
            while (bytes > maxBytes && it.hasNext()) {
                Map.Entry<String, DecodeState> e = it.next();
                if (e.getKey().equals(key)) continue;
                bytes -= e.getValue().bytes();
                it.remove();
            }
        }
    }

    synchronized long bytes() {
        return bytes;
    }
}
