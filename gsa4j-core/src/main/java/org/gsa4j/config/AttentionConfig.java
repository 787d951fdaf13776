package org.gsa4j.config;

/**
 * A softmax-attention layer's shape (docs/MATH.md#causal-softmax-attention), from the reference
 * library's {@code transformer} format, its hybrid {@code attn} layers, or transformers'
 * Llama/Mistral: heads of {@code headDim}, grouped kv heads, RoPE base, sliding window (0 = none),
 * biases on q/k/v, per-head RMSNorm of q and k.
 */
public record AttentionConfig(int hiddenSize, int numHeads, int numKvHeads, int headDim, double ropeTheta,
                              int window, boolean qkvBias, boolean qkNorm) {

    /** eps of the optional q/k norms (the reference's RMSNorm default). */
    public static final double QK_NORM_EPS = 1e-5;

    public int groups() {
        return numHeads / numKvHeads;
    }
}
