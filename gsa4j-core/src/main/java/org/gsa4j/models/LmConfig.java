package org.gsa4j.models;

/**
 * What every causal language model here shares: the block skeleton of SPEC §3.2
 * (embedding → [norm → mixer → residual → norm → SwiGLU MLP → residual] × L → norm → lm_head).
 */
public record LmConfig(String modelType, int vocabSize, int hiddenSize, int numLayers, double normEps,
                       int intermediateSize, boolean tieWordEmbeddings, String hiddenAct) {

    /** GatedMLP's width when intermediate_size is unset: 256·ceil(int(d·ratio·2/3)/256). */
    public static int defaultIntermediate(int hidden, double ratio) {
        int raw = (int) (hidden * ratio * 2 / 3);
        return 256 * ((raw + 255) / 256);
    }

    /** Reads the shared fields in the fla naming (hidden_ratio, intermediate_size, norm_eps ...). */
    public static LmConfig readFla(ConfigReader c, String modelType, double defaultRatio) {
        int d = c.positiveInt("hidden_size", 2048);
        int inter = c.isSet("intermediate_size") ? c.positiveInt("intermediate_size", null)
                : defaultIntermediate(d, c.doubleValue("hidden_ratio", defaultRatio));
        String act = c.string("hidden_act", "swish");
        if (!act.equals("swish") && !act.equals("silu")) throw c.error("hidden_act", "only swish/silu is supported, found '" + act + "'");
        if (c.isSet("attnres_block_size")) throw c.error("attnres_block_size", "only the ordinary residual stream (null) is supported");
        return new LmConfig(modelType, c.positiveInt("vocab_size", 32000), d, c.positiveInt("num_hidden_layers", 24),
                c.doubleValue("norm_eps", 1e-6), inter, c.boolValue("tie_word_embeddings", false), act);
    }

    /** Reads the shared fields in transformers' Llama/Mistral naming (rms_norm_eps, explicit intermediate_size ...). */
    public static LmConfig readLlama(ConfigReader c, String modelType, int defaultIntermediate) {
        int d = c.positiveInt("hidden_size", 4096);
        String act = c.string("hidden_act", "silu");
        if (!act.equals("silu") && !act.equals("swish")) throw c.error("hidden_act", "only silu is supported, found '" + act + "'");
        return new LmConfig(modelType, c.positiveInt("vocab_size", 32000), d, c.positiveInt("num_hidden_layers", 32),
                c.doubleValue("rms_norm_eps", 1e-6), c.positiveInt("intermediate_size", defaultIntermediate),
                c.boolValue("tie_word_embeddings", false), act);
    }
}
