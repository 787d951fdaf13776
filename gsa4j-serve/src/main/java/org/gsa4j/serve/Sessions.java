package org.gsa4j.serve;

import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.models.StateSnapshot;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A session's record in the store: the decode-state snapshot with one note, {@code pending}, the
 * tokens the model has produced but not yet consumed (the last sampled token; a cancelled
 * prompt's unfed rest). The next request feeds them before its own text, so the conversation goes
 * on exactly where it stopped. The sampler needs nothing more: its draws depend on the seed and
 * the position only ({@link Sampling}).
 */
public final class Sessions {
    private Sessions() {}

    /** A restored session: the state and the tokens to feed before the new text. */
    record Resumed(DecodeState state, int[] pending) {}

    /**
     * A session's record, as the server writes it to its store: also a way to seed a store with
     * conversations prefilled elsewhere (the serve bench puts a 100K-token one there).
     */
    public static byte[] snapshot(DecodeState state, int[] pending) {
        ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(Integer.MAX_VALUE - 4096, state.bytes() + 4096));
        String list = Arrays.stream(pending).mapToObj(Integer::toString).collect(Collectors.joining(","));
        state.writeSnapshot(out, Map.of("pending", list));
        return out.toByteArray();
    }

    /** The session in {@code bytes}, checked against the model (a foreign or corrupted record is a Gsa4jException). */
    static Resumed restore(CausalLM model, byte[] bytes) {
        StateSnapshot.Restored r = StateSnapshot.fromBytes(model, bytes);
        String list = r.notes().getOrDefault("pending", "");
        int[] pending = list.isEmpty() ? new int[0] : Arrays.stream(list.split(",")).mapToInt(Integer::parseInt).toArray();
        return new Resumed(r.state(), pending);
    }
}
