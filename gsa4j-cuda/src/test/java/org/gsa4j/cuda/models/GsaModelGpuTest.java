package org.gsa4j.cuda.models;

/** The GPU GSA model (CudaGsaMixer) in float32 mode against the CPU engine's GsaLayer. Runs the checks of {@link ModelGpuConformance}; needs a GPU. */
class GsaModelGpuTest extends ModelGpuConformance {
    @Override
    String referenceType() {
        return "gsa";
    }

    @Override
    String presetType() {
        return "gsa";
    }

    @Override
    String[][] variants() {
        return new String[][] {
                {"swish"}, {"relu", "feature_map", "relu"}, {"t2r", "feature_map", "t2r"}, {"gqa", "num_kv_heads", "2"},
                {"short_conv", "use_short_conv", "true"}, {"no_affine", "elementwise_affine", "false"},
                {"tied", "tie_word_embeddings", "true"}, {"expand_k_half", "expand_k", "0.5"},
                {"hybrid_attention", "attn", "{\"layers\": [1], \"num_heads\": 2, \"num_kv_heads\": 1, \"window_size\": 20}"}};
    }
}
