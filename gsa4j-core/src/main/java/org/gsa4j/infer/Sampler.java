package org.gsa4j.infer;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks the next token from a row of logits. */
@FunctionalInterface
public interface Sampler {
    int sample(float[] logits);

    /** The most likely token (ties: the lowest id, as torch.argmax). */
    static Sampler greedy() {
        return logits -> {
            int best = 0;
            for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
            return best;
        };
    }

    /**
     * Temperature sampling restricted to the top-k tokens (k = 0: all) and then to the smallest set
     * whose probability reaches top-p (1: all; 0 keeps only the most likely token). Temperature 0 is
     * greedy. Out-of-range settings are refused by name.
     */
    static Sampler of(double temperature, int topK, double topP, long seed) {
        if (!(temperature >= 0) || !Double.isFinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a number >= 0, got " + temperature);
        }
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0 (0: all tokens), got " + topK);
        if (!(topP >= 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in [0, 1], got " + topP);
        if (temperature == 0) return greedy();
        SplittableRandom rng = new SplittableRandom(seed);
        return logits -> {
            int n = logits.length;
            Integer[] order = new Integer[n];
            for (int i = 0; i < n; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
            int keep = topK > 0 ? Math.min(topK, n) : n;
            double max = logits[order[0]];
            double[] p = new double[keep];
            double sum = 0;
            for (int i = 0; i < keep; i++) {
                p[i] = Math.exp((logits[order[i]] - max) / temperature);
                sum += p[i];
            }
            double cum = 0;
            int cut = keep;
            for (int i = 0; i < keep; i++) {
                cum += p[i] / sum;
                if (cum >= topP) {
                    cut = i + 1;
                    break;
                }
            }
            double total = 0;
            for (int i = 0; i < cut; i++) total += p[i];
            double r = rng.nextDouble() * total;
            for (int i = 0; i < cut; i++) {
                r -= p[i];
                if (r <= 0) return order[i];
            }
            return order[cut - 1];
        };
    }
}
