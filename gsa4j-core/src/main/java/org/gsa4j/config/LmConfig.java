package org.gsa4j.config;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;

import static org.gsa4j.config.ConfigException.require;

/**
 * What every causal language model here shares, the block skeleton (docs/MATH.md#the-block-skeleton):
 * embedding → [RMSNorm → token mixer → residual → RMSNorm → SwiGLU MLP → residual] × L → RMSNorm →
 * lm_head. The reference library and transformers name two fields differently (norm_eps /
 * rms_norm_eps); {@code intermediateSize} is resolved (the reference library derives it from
 * hidden_ratio when unset).
 */
public record LmConfig(int vocabSize, int hiddenSize, int numLayers, int intermediateSize, String hiddenAct,
                       double normEps, boolean tieWordEmbeddings, double initializerRange) {

    public LmConfig {
        require(vocabSize > 0, "vocab_size", "must be positive, found " + vocabSize);
        require(hiddenSize > 0, "hidden_size", "must be positive, found " + hiddenSize);
        require(numLayers > 0, "num_hidden_layers", "must be positive, found " + numLayers);
        require(intermediateSize > 0, "intermediate_size", "must be positive, found " + intermediateSize);
        require(hiddenAct.equals("swish") || hiddenAct.equals("silu"), "hidden_act",
                "only swish/silu is supported, found '" + hiddenAct + "'");
        require(normEps > 0, "norm_eps", "must be positive, found " + normEps);
        require(initializerRange >= 0, "initializer_range", "must not be negative, found " + initializerRange);
    }

    /** GatedMLP's width when intermediate_size is unset: 256·ceil(int(d·ratio·2/3)/256). */
    public static int defaultIntermediate(int hidden, double ratio) {
        int raw = (int) (hidden * ratio * 2 / 3);
        return 256 * ((raw + 255) / 256);
    }

    /** A training preset's MLP width: {@code 4·d·2/3} rounded up to a multiple of 64 (small models would waste most of their budget on the 256-rounding). */
    static int presetIntermediate(ModelSize size) {
        return size.intermediateSize() > 0 ? size.intermediateSize() : Math.max(64, (size.hiddenSize() * 8 / 3 + 63) / 64 * 64);
    }

    /** The fields in the reference library's naming. */
    static final List<String> FLA_FIELDS = List.of("vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size",
            "hidden_act", "norm_eps", "tie_word_embeddings", "initializer_range");

    /** Reads the shared fields in the reference library's naming (hidden_ratio, intermediate_size, norm_eps ...). */
    static LmConfig readFla(ConfigReader c, double defaultRatio) {
        int d = c.positiveInt("hidden_size", 2048);
        int inter = c.isSet("intermediate_size") ? c.positiveInt("intermediate_size", null)
                : defaultIntermediate(d, c.doubleValue("hidden_ratio", defaultRatio));
        if (c.isSet("attnres_block_size")) throw c.error("attnres_block_size", "only the ordinary residual stream (null) is supported");
        return c.build(() -> new LmConfig(c.positiveInt("vocab_size", 32000), d, c.positiveInt("num_hidden_layers", 24), inter,
                c.string("hidden_act", "swish"), c.doubleValue("norm_eps", 1e-6), c.boolValue("tie_word_embeddings", false),
                c.doubleValue("initializer_range", 0.02)));
    }

    void writeFla(ObjectNode o) {
        write(o, "norm_eps");
    }

    /** The fields, the norms' eps under {@code epsField}. */
    private void write(ObjectNode o, String epsField) {
        o.put("vocab_size", vocabSize);
        o.put("hidden_size", hiddenSize);
        o.put("num_hidden_layers", numLayers);
        o.put("intermediate_size", intermediateSize);
        o.put("hidden_act", hiddenAct);
        o.put(epsField, normEps);
        o.put("tie_word_embeddings", tieWordEmbeddings);
        o.put("initializer_range", initializerRange);
    }

    /** The fields in transformers' Llama naming. */
    static final List<String> LLAMA_FIELDS = List.of("vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size",
            "hidden_act", "rms_norm_eps", "tie_word_embeddings", "initializer_range");

    /** Reads the shared fields in transformers' Llama/Mistral naming (rms_norm_eps, explicit intermediate_size ...). */
    static LmConfig readLlama(ConfigReader c, int defaultIntermediate) {
        return c.build(() -> new LmConfig(c.positiveInt("vocab_size", 32000), c.positiveInt("hidden_size", 4096),
                c.positiveInt("num_hidden_layers", 32), c.positiveInt("intermediate_size", defaultIntermediate),
                c.string("hidden_act", "silu"), c.doubleValue("rms_norm_eps", 1e-6), c.boolValue("tie_word_embeddings", false),
                c.doubleValue("initializer_range", 0.02)));
    }

    void writeLlama(ObjectNode o) {
        write(o, "rms_norm_eps");
    }

    /** A training preset's skeleton: the given size, the reference library's defaults otherwise. */
    static LmConfig preset(ModelSize size, String hiddenAct) {
        return new LmConfig(size.vocabSize(), size.hiddenSize(), size.numLayers(), presetIntermediate(size), hiddenAct, 1e-6, false, 0.02);
    }
}
