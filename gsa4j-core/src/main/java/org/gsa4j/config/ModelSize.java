package org.gsa4j.config;

import static org.gsa4j.config.ConfigException.require;

/**
 * The size of a fresh model for training: a preset per architecture
 * ({@code models.ModelRegistry.preset}) fills in everything else. {@code intermediateSize} ≤ 0
 * picks {@code 4·d·2/3} rounded up to a multiple of 64; {@code numSlots} is GSA's memory size.
 */
public record ModelSize(int vocabSize, int hiddenSize, int numLayers, int numHeads, int numSlots, int intermediateSize) {
    public ModelSize {
        require(numHeads > 0 && hiddenSize % numHeads == 0, "num_heads", numHeads + " heads do not divide hidden_size " + hiddenSize);
    }
}
