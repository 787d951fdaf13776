package org.gsa4j.layers;

/** The GSA layer's configuration (SPEC §1.1, §3.1); read and validated by {@code models.MixerConfigs}. */
public record GsaConfig(int hiddenSize, int numHeads, int numKvHeads, int numSlots, int keyDim, int valueDim,
                        boolean useShortConv, int convSize, String featureMap, double gateLogitNormalizer,
                        boolean elementwiseAffine) {

    public int headKDim() {
        return keyDim / numHeads;
    }

    public int headVDim() {
        return valueDim / numHeads;
    }

    public int groups() {
        return numHeads / numKvHeads;
    }
}
