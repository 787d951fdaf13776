package org.gsa4j.models;

import org.gsa4j.tensor.Tensor;

/**
 * Decodes many independent sequences together, as a server's continuous batching does: every pass
 * reads the weights once for all of them (the matrix-vector products of single-sequence decoding
 * become products with a few rows). Each sequence keeps its own single-sequence
 * {@link DecodeState}; a pass takes any mix of sequences, each with one token (decoding) or
 * several consecutive tokens (a chunk of a prompt), so requests can join and leave between passes
 * and a long prompt can be fed in chunks between other sequences' decoding steps.
 *
 * <p>Exactness: every row goes through the same kernels in the same order whatever else is in the
 * pass, and a sequence's tokens within a pass go through the recurrence one after the other. A
 * sequence's logits therefore do not depend on what it was batched with, nor on how its text was
 * cut into passes: feeding a prompt in chunks of any size, then decoding, gives bit for bit the
 * tokens and logits of feeding it one token per pass. (The tape path of {@link CausalLM#feed}
 * uses the chunk form for prompts: faster on long prompts, equal only to rounding.)
 *
 * <p>Usage per pass: {@link #add} each sequence's tokens, then {@link #run}. Allocation-free in the
 * steady state; not thread-safe (one thread runs the passes).
 */
public final class BatchDecoder {
    private final CausalLM model;
    private final CausalLM.Workspace work;
    private final int[] ids;

    /** Passes of up to {@code maxTokens} tokens in all (and so at most that many sequences). */
    public BatchDecoder(CausalLM model, int maxTokens) {
        if (maxTokens <= 0) throw new IllegalArgumentException("maxTokens must be > 0, got " + maxTokens);
        this.model = model;
        this.work = model.newWorkspace(maxTokens);
        this.ids = new int[maxTokens];
    }

    public CausalLM model() {
        return model;
    }

    /** Tokens one pass can hold. */
    public int capacity() {
        return ids.length;
    }

    /** Sequences added to the coming pass. */
    public int sequences() {
        return work.rows.sequences();
    }

    /** Tokens added to the coming pass. */
    public int tokens() {
        return work.rows.rows();
    }

    /**
     * Adds {@code tokens[from, from + count)} of one sequence to the coming pass. The state must be
     * a single-sequence state of this model, added once per pass.
     */
    public void add(DecodeState state, int[] tokens, int from, int count) {
        if (count <= 0 || from < 0 || from + count > tokens.length) {
            throw new IllegalArgumentException("tokens [" + from + ", " + (from + count) + ") of " + tokens.length);
        }
        int at = admit(state, count);
        for (int i = 0; i < count; i++) ids[at + i] = checked(tokens[from + i]);
        work.add(state, count);
    }

    /** Adds one token of one sequence (a decoding step). */
    public void add(DecodeState state, int token) {
        int at = admit(state, 1);
        ids[at] = checked(token);
        work.add(state, 1);
    }

    /** Checks that the state may join the pass; returns its first row. */
    private int admit(DecodeState state, int count) {
        if (state.model != model) throw new IllegalArgumentException("the decode state belongs to another model instance");
        if (state.batch != 1) throw new IllegalArgumentException("batched decoding takes single-sequence states, got batch " + state.batch);
        if (work.rows.rows() + count > ids.length) {
            throw new IllegalArgumentException("a pass holds at most " + ids.length + " tokens; " + work.rows.rows() + " + " + count + " do not fit");
        }
        for (int s = 0; s < work.rows.sequences(); s++) {
            if (work.seqState(s) == state) throw new IllegalArgumentException("a state can be added to a pass only once");
        }
        return work.rows.rows();
    }

    private int checked(int token) {
        int vocab = model.config.vocabSize();
        if (token < 0 || token >= vocab) throw new IllegalArgumentException("token id " + token + " outside the vocabulary [0, " + vocab + ")");
        return token;
    }

    /**
     * Runs the pass: every added state moves on by its tokens. Returns the logits [capacity, vocab]
     * whose row i (i &lt; {@link #sequences()}) follows the last token of the i-th sequence added;
     * a buffer the next pass overwrites. The pass is then empty again.
     */
    public Tensor run() {
        int seqs = work.rows.sequences();
        if (seqs == 0) throw new IllegalStateException("nothing was added to the pass");
        work.run(ids);
        for (int s = 0; s < seqs; s++) work.seqState(s).advance(work.rows.count(s));
        work.clear();
        return work.logits;
    }

    /** Empties the coming pass without running it. */
    public void clear() {
        work.clear();
    }
}
