package org.gsa4j.data;

import java.util.Iterator;
import java.util.NoSuchElementException;

import org.gsa4j.Gsa4jException;

/**
 * Training batches of random windows from a {@link TokenFile}, and sequential windows for evaluation.
 *
 * <p>{@link #batch(long)} is a pure function of (seed, step): row {@code b} of step {@code s} starts
 * at a position drawn by SplitMix64 from (seed, s, b), uniformly among the {@code size - T} windows of
 * {@code T + 1} tokens. So a run resumed at step {@code s} sees exactly the batches an uninterrupted
 * run would, with no generator state to save.
 */
public final class Batcher {

    /**
     * B rows of T positions, row-major: {@code inputs[b*T + t]} is followed by {@code targets[b*T + t]}
     * (targets are inputs shifted left by one). {@code starts[b]} is the window's first token index.
     */
    public record Batch(int batchSize, int seqLen, int[] inputs, int[] targets, long[] starts) {}

    /**
     * One evaluation window: inputs are tokens [start, start+n), targets [start+1, start+n+1).
     * Consecutive windows tile the file, so a recurrent model can carry its state across them.
     */
    public record Window(long start, int[] inputs, int[] targets) {
        public int length() {
            return inputs.length;
        }
    }

    private final TokenFile data;
    private final int batchSize;
    private final int seqLen;
    private final long seed;
    private final long windows;

    public Batcher(TokenFile data, int batchSize, int seqLen, long seed) {
        if (batchSize <= 0) throw new Gsa4jException("batcher: batch size must be positive, is " + batchSize);
        if (seqLen <= 0) throw new Gsa4jException("batcher: sequence length must be positive, is " + seqLen);
        if (data.size() < (long) seqLen + 1) {
            throw Gsa4jException.at(data.path(), null, "sequence length " + seqLen + " is longer than the data: a window needs "
                    + (seqLen + 1) + " tokens and the file has " + data.size());
        }
        this.data = data;
        this.batchSize = batchSize;
        this.seqLen = seqLen;
        this.seed = seed;
        this.windows = data.size() - seqLen;
    }

    public int batchSize() {
        return batchSize;
    }

    public int seqLen() {
        return seqLen;
    }

    /** The batch for a training step (0-based); the same (seed, step) always gives the same batch. */
    public Batch batch(long step) {
        int t = seqLen;
        int[] inputs = new int[batchSize * t];
        int[] targets = new int[batchSize * t];
        long[] starts = new long[batchSize];
        int[] win = new int[t + 1];
        for (int b = 0; b < batchSize; b++) {
            long r = mix(mix(mix(seed) ^ step) + b);
            long start = Math.unsignedMultiplyHigh(r, windows);
            starts[b] = start;
            data.read(start, win, 0, t + 1);
            System.arraycopy(win, 0, inputs, b * t, t);
            System.arraycopy(win, 1, targets, b * t, t);
        }
        return new Batch(batchSize, t, inputs, targets, starts);
    }

    /** SplitMix64's finaliser (after the golden-ratio increment). */
    static long mix(long z) {
        z += 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * Windows of at most {@code seqLen} predictions covering every token after the first exactly
     * once, in order (the last window may be shorter). {@code size() - 1} predictions in all.
     */
    public static Iterable<Window> sequential(TokenFile data, int seqLen) {
        if (seqLen <= 0) throw new Gsa4jException("batcher: sequence length must be positive, is " + seqLen);
        if (data.size() < 2) throw Gsa4jException.at(data.path(), null, "needs at least 2 tokens to evaluate, has " + data.size());
        return () -> new Iterator<>() {
            long pos = 0;

            @Override
            public boolean hasNext() {
                return pos < data.size() - 1;
            }

            @Override
            public Window next() {
                if (!hasNext()) throw new NoSuchElementException();
                int n = (int) Math.min(seqLen, data.size() - 1 - pos);
                int[] win = new int[n + 1];
                data.read(pos, win, 0, n + 1);
                int[] in = java.util.Arrays.copyOf(win, n);
                int[] tg = java.util.Arrays.copyOfRange(win, 1, n + 1);
                Window w = new Window(pos, in, tg);
                pos += n;
                return w;
            }
        };
    }
}
