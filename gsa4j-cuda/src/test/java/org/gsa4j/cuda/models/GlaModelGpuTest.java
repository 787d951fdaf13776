package org.gsa4j.cuda.models;

/** The GPU GLA model (CudaGlaMixer) in float32 mode against the CPU engine's GlaLayer. Runs the checks of {@link ModelGpuConformance}; needs a GPU. */
class GlaModelGpuTest extends ModelGpuConformance {
    @Override
    String referenceType() {
        return "gla";
    }

    @Override
    String presetType() {
        return "gla";
    }

    @Override
    String[][] variants() {
        return new String[][] {
                {"plain"}, {"swish_map", "feature_map", "swish"}, {"relu_map", "feature_map", "relu"}, {"gqa", "num_kv_heads", "2"},
                {"short_conv", "use_short_conv", "true"}, {"no_affine", "elementwise_affine", "false"},
                {"no_output_gate", "use_output_gate", "false"}, {"unfused_norm", "fuse_norm", "false"}, {"clamp_min", "clamp_min", "-0.05"},
                {"tied", "tie_word_embeddings", "true"}, {"expand_k_1", "expand_k", "1"},
                {"hybrid_attention", "attn", "{\"layers\": [0], \"num_heads\": 2, \"qkv_bias\": true}"}};
    }
}
