package org.gsa4j.layers;

/**
 * The configuration of GLA (SPEC §4.1) and RetNet (§4.2) layers, read and validated by
 * {@code models.MixerConfigs}. {@code featureMap} is null for none; {@code clampMin} null for no
 * clamp; {@code gateNormName} the output norm's weight name ({@code g_norm_swish_gate.weight} when
 * the reference fuses norm and swish gate, else {@code g_norm.weight}).
 */
public record GlaConfig(int hiddenSize, int numHeads, int numKvHeads, int keyDim, int valueDim,
                        boolean useShortConv, int convSize, String featureMap, boolean useOutputGate,
                        String gateNormName, boolean elementwiseAffine, double normEps, Double clampMin) {

    /** GLA's low-rank forget gate: {@code gk_proj.0 [16, d]}, {@code gk_proj.1 [key_dim/G, 16] + bias}. */
    public static final int GATE_LOW_RANK_DIM = 16;
    /** GLA's gate normaliser: {@code log a = logsigmoid(gk) / 16}. */
    public static final double GATE_LOGIT_NORMALIZER = 16;

    public int headKDim() {
        return keyDim / numHeads;
    }

    public int headVDim() {
        return valueDim / numHeads;
    }

    public int groups() {
        return numHeads / numKvHeads;
    }

    public int kvKeyDim() {
        return numKvHeads * headKDim();
    }

    public int kvValueDim() {
        return numKvHeads * headVDim();
    }
}
