package org.gsa4j.cuda.models;

/** The GPU RetNet model (CudaRetNetMixer) in float32 mode against the CPU engine's RetNetLayer. Runs the checks of {@link ModelGpuConformance}; needs a GPU. */
class RetNetModelGpuTest extends ModelGpuConformance {
    @Override
    String referenceType() {
        return "retnet";
    }

    @Override
    String presetType() {
        return "retnet";
    }

    @Override
    String[][] variants() {
        return new String[][] {
                {"plain"}, {"swish_map", "feature_map", "swish"}, {"relu_map", "feature_map", "relu"}, {"gqa", "num_kv_heads", "2"},
                {"no_affine", "elementwise_affine", "false"}, {"no_output_gate", "use_output_gate", "false"},
                {"expand_v_1", "expand_v", "1"}, {"tied", "tie_word_embeddings", "true"}};
    }
}
