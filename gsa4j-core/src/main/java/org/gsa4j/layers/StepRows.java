package org.gsa4j.layers;

import org.gsa4j.layers.TokenMixer.MixerState;

/**
 * Which rows of one pass through the single-token steppers belong to which sequence. A pass feeds
 * several sequences at once (the weights are read once for all of them); sequence s owns the
 * consecutive rows {@code [first(s), first(s) + count(s))}, its tokens in order, and steps its own
 * state: row {@code slot(s)} of {@code state(s)} (slot 0 of a single-sequence state, or row b of a
 * lock-step batched state whose sequences all step together). Within a sequence, the recurrence
 * runs over its rows one after the other, so feeding n tokens in one pass computes exactly what n
 * passes of one token compute. Filled by the model for every pass; allocation-free.
 */
public final class StepRows {
    private final MixerState[] states;
    private final int[] slots, firsts, counts;
    private int sequences, rows;
    private boolean lockStep;

    /** Room for {@code maxSequences} sequences. */
    public StepRows(int maxSequences) {
        states = new MixerState[maxSequences];
        slots = new int[maxSequences];
        firsts = new int[maxSequences];
        counts = new int[maxSequences];
    }

    /** Forgets every sequence (the states are released). */
    public void clear() {
        java.util.Arrays.fill(states, 0, sequences, null);
        sequences = 0;
        rows = 0;
        lockStep = false;
    }

    /** Appends a sequence of {@code tokens} rows stepping row {@code slot} of {@code state}. */
    public void add(MixerState state, int slot, int tokens) {
        if (sequences == states.length) throw new IllegalStateException("more than " + states.length + " sequences in one pass");
        if (tokens <= 0) throw new IllegalArgumentException("a sequence needs at least one token, got " + tokens);
        states[sequences] = state;
        slots[sequences] = slot;
        firsts[sequences] = rows;
        counts[sequences] = tokens;
        sequences++;
        rows += tokens;
    }

    /**
     * One lock-step batched state of {@code batch} sequences, one token each (row b is slot b):
     * layers whose state is shared across the batch (a KV cache's length) step it once.
     */
    public void lockStep(MixerState state, int batch) {
        clear();
        for (int b = 0; b < batch; b++) add(state, b, 1);
        lockStep = true;
    }

    /** Points sequence s at its state for the next layer (the layout stays). */
    public void setState(int s, MixerState state) {
        states[s] = state;
    }

    /** Whether every sequence is one row of the same batched state ({@link #lockStep}). */
    public boolean isLockStep() {
        return lockStep;
    }

    public int sequences() {
        return sequences;
    }

    /** Rows in all (tokens of all sequences). */
    public int rows() {
        return rows;
    }

    public MixerState state(int s) {
        return states[s];
    }

    public int slot(int s) {
        return slots[s];
    }

    public int first(int s) {
        return firsts[s];
    }

    public int count(int s) {
        return counts[s];
    }
}
