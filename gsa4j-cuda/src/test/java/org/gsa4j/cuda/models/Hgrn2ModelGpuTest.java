package org.gsa4j.cuda.models;

/** The GPU HGRN2 model (CudaHgrn2Mixer) in float32 mode against the CPU engine's Hgrn2Layer. Runs the checks of {@link ModelGpuConformance}; needs a GPU. */
class Hgrn2ModelGpuTest extends ModelGpuConformance {
    @Override
    String referenceType() {
        return "hgrn2";
    }

    @Override
    String presetType() {
        return "hgrn2";
    }

    @Override
    String[][] variants() {
        return new String[][] {
                {"plain"}, {"short_conv", "use_short_conv", "true"}, {"no_lower_bound", "use_lower_bound", "false"},
                {"no_affine", "elementwise_affine", "false"}, {"expand_ratio_8", "expand_ratio", "8"}, {"tied", "tie_word_embeddings", "true"}};
    }
}
