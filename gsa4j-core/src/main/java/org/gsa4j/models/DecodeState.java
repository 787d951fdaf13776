package org.gsa4j.models;

import org.gsa4j.layers.TokenMixer.MixerState;

/**
 * Everything a model carries between decoded tokens: one mixer state per layer and the number of
 * tokens consumed. Its size is fixed for the linear models and grows with context for attention.
 */
public final class DecodeState {
    final MixerState[] layers;
    private long position;
    /** The single-token step's buffers (CausalLM.Workspace), made by the first step. */
    Object workspace;
    /** Sequences in the batch (set by newState). */
    int batch = 1;

    DecodeState(MixerState[] layers) {
        this.layers = layers;
    }

    /** Tokens consumed so far. */
    public long position() {
        return position;
    }

    void advance(int tokens) {
        position += tokens;
    }

    /** An independent copy at the same position (its own step buffers are made on first use). */
    public DecodeState copy() {
        MixerState[] c = new MixerState[layers.length];
        for (int i = 0; i < c.length; i++) c[i] = layers[i].copy();
        DecodeState s = new DecodeState(c);
        s.position = position;
        s.batch = batch;
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
}
