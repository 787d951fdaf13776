package org.gsa4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Map;

/**
 * A model's configuration: what its config.json says, typed, validated and immutable, one record per
 * architecture (docs/MATH.md#configuration lists every field). Each record reads itself from a
 * config.json ({@code fromJson}, defaults as the reference library's) and writes itself back
 * ({@code toJson}, every field explicit); fields it does not know are kept and written back
 * unchanged, so a round trip loses nothing. {@code models.ModelRegistry} maps {@code model_type} to
 * the record and to the model built from it.
 */
public sealed interface ModelConfig permits GsaConfig, GlaConfig, RetNetConfig, Hgrn2Config, TransformerConfig, LlamaConfig {

    /** config.json's {@code model_type}. */
    String modelType();

    /** The block skeleton's fields (vocabulary, width, depth, MLP, norms). */
    LmConfig lm();

    /** config.json's fields this record does not model, in file order: written back as they came. */
    Map<String, JsonNode> extra();

    /** The config.json object: {@code model_type}, every field of the record, then {@link #extra()}. */
    ObjectNode toJson();

    default int vocabSize() {
        return lm().vocabSize();
    }

    default int hiddenSize() {
        return lm().hiddenSize();
    }

    default int numLayers() {
        return lm().numLayers();
    }

    default int intermediateSize() {
        return lm().intermediateSize();
    }

    default double normEps() {
        return lm().normEps();
    }

    default boolean tieWordEmbeddings() {
        return lm().tieWordEmbeddings();
    }

    default double initializerRange() {
        return lm().initializerRange();
    }
}
