package org.gsa4j.cuda.models;

/**
 * The GPU softmax-attention baseline (CudaAttentionMixer, attention.cu) in float32 mode against the CPU engine's
 * SoftmaxAttentionLayer: the Llama reference case, and the reference library's transformer config one field at a
 * time. Runs the checks of {@link ModelGpuConformance}; needs a GPU.
 */
class TransformerModelGpuTest extends ModelGpuConformance {
    @Override
    String referenceType() {
        return "llama";
    }

    @Override
    String presetType() {
        return "transformer";
    }

    @Override
    String[][] variants() {
        return new String[][] {
                {"plain"}, {"gqa", "num_kv_heads", "2"}, {"qkv_bias", "qkv_bias", "true"}, {"qk_norm", "qk_norm", "true"},
                {"window", "window_size", "16"}, {"tied", "tie_word_embeddings", "true"}};
    }
}
