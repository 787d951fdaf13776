package org.gsa4j.train;

import org.gsa4j.Gsa4jException;
import org.gsa4j.models.CausalLM;
import org.gsa4j.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Multi-query associative recall (docs/MATH.md#mqar, Zoology's {@code _mqar}). Each example of length L starts
 * with N key–value pairs {@code k1 v1 … kN vN} (distinct keys from [1, V/2), distinct values from
 * [V/2, V)); each key is queried once, at offset {@code 2N + 2·gap} with gaps drawn without
 * replacement from {@code p(gap) ∝ a·gap^(a−1)} over {@code (L − 2N)/2} slots; the target at a query
 * position is its value (next-token prediction), −100 everywhere else. The remaining positions are
 * 0, or uniform random tokens when {@code randomNonQueries}. The test set uses seed + 10.
 *
 * <p>The generator is a faithful port of the algorithm on a {@link SplittableRandom}, not of numpy's
 * random stream: datasets are reproducible here, not bit-identical to Zoology's.
 */
public final class Mqar {
    private Mqar() {}

    public record Spec(int vocab, int seqLen, int numKvPairs, double powerA, boolean randomNonQueries) {
        public Spec {
            if (seqLen % 2 != 0) throw new Gsa4jException("mqar: the sequence length must be even, is " + seqLen);
            if (numKvPairs <= 0) throw new Gsa4jException("mqar: the number of key-value pairs must be positive, is " + numKvPairs);
            if (4 * numKvPairs > seqLen) {
                throw new Gsa4jException("mqar: 4 × kv pairs (" + 4 * numKvPairs + ") must be <= the sequence length " + seqLen);
            }
            if (vocab <= seqLen) throw new Gsa4jException("mqar: the vocabulary (" + vocab + ") must be larger than the sequence length " + seqLen);
            if (vocab / 2 - 1 < numKvPairs) throw new Gsa4jException("mqar: the vocabulary is too small for " + numKvPairs + " distinct keys");
            if (!(powerA > 0)) throw new Gsa4jException("mqar: the power-law exponent must be positive, is " + powerA);
        }
    }

    /** n examples of L tokens, row-major, and their targets (−100 except at the query positions). */
    public record Dataset(Spec spec, int size, int[] inputs, int[] targets) {
        public int labelledPerExample() {
            return spec.numKvPairs();
        }
    }

    public static Dataset generate(Spec spec, int n, long seed) {
        if (n <= 0) throw new Gsa4jException("mqar: the number of examples must be positive, is " + n);
        int L = spec.seqLen(), N = spec.numKvPairs(), V = spec.vocab(), half = V / 2;
        int context = 2 * N, space = (L - context) / 2;
        double[] p = new double[space];
        double total = 0;
        for (int g = 0; g < space; g++) total += p[g] = spec.powerA() * Math.pow(g + 1, spec.powerA() - 1);
        for (int g = 0; g < space; g++) p[g] /= total;
        int[] inputs = new int[n * L], targets = new int[n * L];
        java.util.Arrays.fill(targets, CausalLM.IGNORE_INDEX);
        SplittableRandom rng = new SplittableRandom(seed);
        int[] keys = new int[N], values = new int[N];
        boolean[] taken = new boolean[space];
        for (int e = 0; e < n; e++) {
            int o = e * L;
            distinct(rng, 1, half, keys);
            distinct(rng, half, V, values);
            for (int i = 0; i < N; i++) {
                inputs[o + 2 * i] = keys[i];
                inputs[o + 2 * i + 1] = values[i];
            }
            // gaps without replacement, proportional to p (numpy's choice(replace=False, p=p))
            java.util.Arrays.fill(taken, false);
            double left = 1.0;
            for (int i = 0; i < N; i++) {
                double r = rng.nextDouble() * left;
                int gap = -1;
                for (int g = 0; g < space; g++) {
                    if (taken[g]) continue;
                    gap = g;
                    r -= p[g];
                    if (r <= 0) break;
                }
                taken[gap] = true;
                left -= p[gap];
                int pos = context + 2 * gap;
                inputs[o + pos] = keys[i];
                targets[o + pos] = values[i];
            }
            if (spec.randomNonQueries()) {
                for (int t = context; t < L; t++) if (inputs[o + t] == 0) inputs[o + t] = rng.nextInt(V);
            }
        }
        return new Dataset(spec, n, inputs, targets);
    }

    private static void distinct(SplittableRandom rng, int from, int to, int[] out) {
        for (int i = 0; i < out.length; i++) {
            int x;
            boolean dup;
            do {
                x = from + rng.nextInt(to - from);
                dup = false;
                for (int j = 0; j < i; j++) dup |= out[j] == x;
            } while (dup);
            out[i] = x;
        }
    }

    /** Training batches: a fresh permutation of the examples per epoch, a pure function of (seed, index). */
    public static BatchSource batches(Dataset d, int batchSize, long seed) {
        if (batchSize > d.size()) throw new Gsa4jException("mqar: batch size " + batchSize + " is larger than the training set (" + d.size() + ")");
        int perEpoch = d.size() / batchSize, L = d.spec().seqLen();
        return new BatchSource() {
            long cachedEpoch = -1;
            int[] perm;

            @Override
            public synchronized Batch batch(long index) {
                long epoch = index / perEpoch;
                if (epoch != cachedEpoch) {
                    perm = new int[d.size()];
                    for (int i = 0; i < perm.length; i++) perm[i] = i;
                    SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
                    for (int i = perm.length - 1; i > 0; i--) {
                        int j = r.nextInt(i + 1), t = perm[i];
                        perm[i] = perm[j];
                        perm[j] = t;
                    }
                    cachedEpoch = epoch;
                }
                int first = (int) (index % perEpoch) * batchSize;
                int[] in = new int[batchSize * L], tg = new int[batchSize * L];
                for (int b = 0; b < batchSize; b++) {
                    System.arraycopy(d.inputs(), perm[first + b] * L, in, b * L, L);
                    System.arraycopy(d.targets(), perm[first + b] * L, tg, b * L, L);
                }
                return new Batch(batchSize, L, in, tg);
            }

            @Override
            public String describe() {
                Spec s = d.spec();
                return "MQAR V=" + s.vocab() + " L=" + s.seqLen() + " N=" + s.numKvPairs() + ", " + d.size() + " examples";
            }
        };
    }

    /** Loss and accuracy (argmax = target) over the labelled positions of a dataset. */
    public record Score(double loss, double accuracy, long correct, long labelled) {}

    public static Score score(CausalLM model, Dataset d, int batchSize) {
        return score(ScoringModel.of(model), d, batchSize);
    }

    /** {@link #score(CausalLM, Dataset, int)} through any engine's forward. */
    public static Score score(ScoringModel model, Dataset d, int batchSize) {
        int L = d.spec().seqLen();
        long correct = 0, labelled = 0;
        double nll = 0;
        int vocab = model.vocabSize();
        for (int first = 0; first < d.size(); first += batchSize) {
            int n = Math.min(batchSize, d.size() - first);
            int[] in = java.util.Arrays.copyOfRange(d.inputs(), first * L, (first + n) * L);
            int[] tg = java.util.Arrays.copyOfRange(d.targets(), first * L, (first + n) * L);
            ScoringModel.Scores scores = model.score(in, tg, n, L, true);
            Tensor z = scores.logits();
            long here = 0;
            for (int i = 0; i < tg.length; i++) {
                if (tg[i] == CausalLM.IGNORE_INDEX) continue;
                here++;
                int best = 0, o = i * vocab;
                for (int j = 1; j < vocab; j++) if (z.f[o + j] > z.f[o + best]) best = j;
                if (best == tg[i]) correct++;
            }
            nll += scores.loss() * here;
            labelled += here;
        }
        return new Score(nll / labelled, correct / (double) labelled, correct, labelled);
    }

    /** The validator the trainer runs on the test set: val_loss and val_accuracy. */
    public static Validator validator(Dataset test, int batchSize) {
        return model -> {
            Score s = score(model, test, batchSize);
            Map<String, Double> m = new LinkedHashMap<>();
            m.put("val_loss", s.loss());
            m.put("val_accuracy", s.accuracy());
            return m;
        };
    }
}
