package org.gsa4j.serve;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * How the next token is picked from a row of logits: greedy at temperature 0, else temperature
 * sampling within the top-k tokens (k ≤ 0: all) and then the smallest set whose probability
 * reaches top-p.
 *
 * <p>The random draw for a token depends only on the seed and the token's position in the
 * conversation ({@link #draw}): a conversation continued from a session snapshot draws exactly
 * what one request holding the whole text would have drawn at the same positions, so the
 * sampler's "position" is the conversation's length and needs no state of its own.
 */
public record Sampling(double temperature, double topP, int topK, long seed) {
    public Sampling {
        if (!(temperature >= 0) || temperature > 100) throw new IllegalArgumentException("temperature must be in [0, 100], got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
    }

    public static Sampling greedy() {
        return new Sampling(0, 1, 0, 0);
    }

    /** The uniform draw in [0, 1) for the token at {@code position}: SplittableRandom mixes the seed, so neighbouring positions are independent. */
    static double draw(long seed, long position) {
        return new SplittableRandom(seed ^ (position * 0x9E3779B97F4A7C15L)).nextDouble();
    }

    /** The next token from logits[off, off + vocab) for the token at {@code position}. */
    public int pick(float[] logits, int off, int vocab, long position) {
        int best = 0;
        for (int i = 1; i < vocab; i++) if (logits[off + i] > logits[off + best]) best = i;
        if (temperature == 0) return best;
        double max = logits[off + best];
        double[] p = new double[vocab];
        double total = 0;
        for (int i = 0; i < vocab; i++) total += p[i] = Math.exp((logits[off + i] - max) / temperature);
        int[] candidates = candidates(p, total);
        double mass = 0;
        for (int c : candidates) mass += p[c];
        double r = draw(seed, position) * mass;
        for (int c : candidates) {
            r -= p[c];
            if (r < 0) return c;
        }
        return candidates[candidates.length - 1];
    }

    /**
     * The tokens top-k and top-p keep, most likely first (ties: lower id first). Only tokens above
     * a threshold whose set already holds top-p of the mass are sorted: the nucleus is a prefix of
     * the sorted order, so it lies within that set.
     */
    private int[] candidates(double[] p, double total) {
        int vocab = p.length;
        if (topK == 0 && topP >= 1) {
            int[] all = new int[vocab];
            for (int i = 0; i < vocab; i++) all[i] = i;
            return all;
        }
        double max = 0;
        for (double x : p) max = Math.max(max, x);
        double threshold = max;
        int count;
        while (true) {
            double mass = 0;
            count = 0;
            for (double x : p) if (x >= threshold) { mass += x; count++; }
            if ((mass >= topP * total && (topK == 0 || count >= topK)) || count == vocab || threshold == 0) break;
            threshold = threshold < 1e-300 ? 0 : threshold / 16;
        }
        Integer[] order = new Integer[count];
        int n = 0;
        for (int i = 0; i < vocab; i++) if (p[i] >= threshold) order[n++] = i;
        Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
        int keep = topK > 0 ? Math.min(topK, count) : count;
        double kept = 0;
        for (int i = 0; i < keep; i++) kept += p[order[i]];
        double cum = 0;
        int cut = keep;
        for (int i = 0; i < keep; i++) {
            cum += p[order[i]];
            if (cum >= topP * kept) {
                cut = i + 1;
                break;
            }
        }
        int[] out = new int[cut];
        for (int i = 0; i < cut; i++) out[i] = order[i];
        return out;
    }
}
