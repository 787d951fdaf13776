package org.gsa4j.train;

/**
 * Training data as a pure function of a batch index: the same index always gives the same batch,
 * so a resumed run needs only the index to continue exactly (no generator state to restore).
 */
public interface BatchSource {

    /** B rows of T input ids and the target of every position (−100: no loss there), row-major. */
    record Batch(int batchSize, int seqLen, int[] inputs, int[] targets) {}

    /** The batch with this (0-based) index; update s with accumulation A uses indices s·A … s·A+A−1. */
    Batch batch(long index);

    /** A short description for logs (e.g. "train.bin, 1.2M tokens, random windows"). */
    String describe();
}
