package org.gsa4j.layers;

/**
 * The HGRN2 layer's configuration (SPEC §4.3), read and validated by {@code models.MixerConfigs}:
 * {@code numHeads} heads of {@code expandRatio} forget channels (forget_dim = numHeads·expandRatio)
 * and {@code hiddenSize / numHeads} input channels each.
 */
public record Hgrn2Config(int hiddenSize, int numHeads, int expandRatio, boolean useShortConv, int convSize,
                          boolean elementwiseAffine, boolean useLowerBound, int numLayers) {

    /** The model-level parameter holding every layer's lower-bound logits, [num_hidden_layers, forget_dim]. */
    public static final String LOWER_BOUNDS = "model.lower_bounds";

    public int forgetDim() {
        return numHeads * expandRatio;
    }

    public int headFDim() {
        return expandRatio;
    }

    public int headIDim() {
        return hiddenSize / numHeads;
    }
}
