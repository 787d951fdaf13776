package org.gsa4j.bench.suites;

/**
 * FLOP counts used to turn times into GFLOP/s and model-FLOP utilisation (multiply + add = 2).
 *
 * <p>GSA operator, chunk form (docs/MATH.md#chunk-form), per head and token, chunk size C, dims K, V, M: the
 * matrix products the algorithm needs, with intra-chunk products counted only over the causal
 * pairs j ≤ t (C(C+1)/2 per chunk, i.e. (C+1)/2 per token):
 * <ul>
 *   <li>pass 1 inter read q·Hk: 2KM; state update Hk += kᵀ(s⊙decay): 2KM;
 *       scores q·kᵀ: K(C+1); intra read S·(s⊙decay): M(C+1)</li>
 *   <li>pass 2 inter read (P⊙A)·Hv: 2MV; state update Hv += (s⊙decay)ᵀv: 2MV;
 *       scores (P⊙A)·(s⊙decay)ᵀ: M(C+1); intra read ·v: V(C+1)</li>
 * </ul>
 * Sum: 4KM + 4MV + (K + 2M + V)(C + 1) per head-token. Element-wise work (gates, exp, softmax)
 * is not counted. Backward is counted as 2× forward (the usual convention), so forward+backward = 3×.
 * The recurrent step: 4KM + 4MV per head-token (decay+write and read, for each of the two memories).
 */
public final class Flops {
    private Flops() {}

    public static final int CHUNK = 64;

    public static double gsaForwardPerToken(int heads, int k, int v, int m) {
        return heads * (4.0 * k * m + 4.0 * m * v + (double) (k + 2 * m + v) * (CHUNK + 1));
    }

    public static double gsaStepPerToken(int heads, int k, int v, int m) {
        return heads * (4.0 * k * m + 4.0 * m * v);
    }
}
