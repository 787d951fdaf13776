package org.gsa4j.models;

import org.gsa4j.layers.TokenMixer.MixerState;

import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Everything a model carries between decoded tokens: one mixer state per layer and the number of
 * tokens consumed. Its size is fixed for the linear models and grows with context for attention.
 *
 * <p>A state belongs to the model that made it ({@link CausalLM#newState}); it can be copied,
 * moved on without compute ({@link #skip}), and saved as a snapshot ({@link #snapshot}) that
 * {@link CausalLM#restore} turns back into a state which continues bit for bit as this one would.
 * Not thread-safe: one thread steps a state at a time.
 */
public final class DecodeState {
    final CausalLM model;
    final MixerState[] layers;
    private long position;
    /** The single-token step's buffers (CausalLM.Workspace), made by the first step. */
    Object workspace;
    /** Sequences in the batch (set by newState). */
    final int batch;

    DecodeState(CausalLM model, MixerState[] layers, int batch) {
        this.model = model;
        this.layers = layers;
        this.batch = batch;
    }

    /** Tokens consumed so far. */
    public long position() {
        return position;
    }

    /** Sequences decoded in lock-step (1 for a state stepped on its own or in a {@link BatchDecoder}). */
    public int batch() {
        return batch;
    }

    /** The model this state belongs to. */
    public CausalLM model() {
        return model;
    }

    void advance(long tokens) {
        position += tokens;
    }

    /** An independent copy at the same position (its own step buffers are made on first use). */
    public DecodeState copy() {
        MixerState[] c = new MixerState[layers.length];
        for (int i = 0; i < c.length; i++) c[i] = layers[i].copy();
        DecodeState s = new DecodeState(model, c, batch);
        s.position = position;
        return s;
    }

    /**
     * A hint that the context will reach {@code tokens} in all (prompt and generated): attention
     * layers size their KV caches for it now, so decoding up to it allocates nothing.
     */
    public void reserve(int tokens) {
        for (MixerState s : layers) s.reserve(tokens);
    }

    /** Bytes held by all layers' states. */
    public long bytes() {
        long n = 0;
        for (MixerState s : layers) n += s.bytes();
        return n;
    }

    /**
     * Bytes one decoded token reads at batch 1: every weight matrix once (one row of an untied
     * input embedding), each recurrent state read and rewritten, each KV cache read. The bandwidth
     * roofline of a step is this over the machine's read bandwidth.
     */
    public long bytesReadPerToken() {
        long n = model.weightBytesReadPerToken();
        for (MixerState s : layers) n += s.bytesReadPerToken();
        return n;
    }

    /** Bytes the state grows by per further token of context (0 for the linear models). */
    public long bytesPerContextToken() {
        long n = 0;
        for (MixerState s : layers) n += s.bytesPerContextToken();
        return n;
    }

    /**
     * Moves the position on by {@code tokens} without computing them, for benchmarks that need a
     * long context: fixed-size states keep their contents (their size and a step's work do not
     * depend on the position; position counters such as RetNet's rotary offset move on), KV
     * caches are filled with random keys and values drawn from {@code seed}, so later steps attend
     * over a context of this length. The result is not the state of any real text.
     */
    public void skip(int tokens, long seed) {
        if (tokens < 0) throw new IllegalArgumentException("cannot skip " + tokens + " tokens");
        SplittableRandom rng = new SplittableRandom(seed);
        for (MixerState s : layers) s.skip(tokens, rng.split());
        position += tokens;
    }

    /** The state as a snapshot ({@link StateSnapshot}): the model's identity, every layer's parts, a checksum. */
    public byte[] snapshot() {
        return StateSnapshot.toBytes(this, Map.of());
    }

    /** Writes the snapshot of {@link #snapshot}, with notes for the application (e.g. a sampler's position), to {@code out}. */
    public void writeSnapshot(OutputStream out, Map<String, String> notes) throws UncheckedIOException {
        StateSnapshot.write(this, notes, out);
    }

    void setPosition(long position) {
        this.position = position;
    }
}
