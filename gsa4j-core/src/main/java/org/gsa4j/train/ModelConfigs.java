package org.gsa4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;

import java.util.List;

/**
 * Fresh model configurations (fla-style config.json nodes) for every architecture by size, for
 * {@code train --arch}, {@code mqar} and tests. Which ones can actually be built depends on
 * {@link org.gsa4j.models.ModelLoader}; an unsupported one fails there with a clear message.
 */
public final class ModelConfigs {
    private ModelConfigs() {}

    public static final List<String> ARCHITECTURES = List.of("gsa", "gla", "retnet", "hgrn2", "transformer", "llama");

    /**
     * A config of the given size. {@code heads} divides {@code hidden}; {@code intermediate} ≤ 0 picks
     * 4·hidden·2/3 rounded to a multiple of 64 (small models would waste most of their budget on
     * the default 256-rounding). GSA uses {@code slots} memory slots.
     */
    public static ObjectNode of(String arch, int vocab, int hidden, int layers, int heads, int slots, int intermediate) {
        if (hidden % heads != 0) throw new Gsa4jException("--heads " + heads + " does not divide --hidden-size " + hidden);
        int inter = intermediate > 0 ? intermediate : Math.max(64, (hidden * 8 / 3 + 63) / 64 * 64);
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("model_type", arch);
        c.put("vocab_size", vocab);
        c.put("hidden_size", hidden);
        c.put("num_hidden_layers", layers);
        c.put("initializer_range", 0.02);
        c.put("tie_word_embeddings", false);
        switch (arch) {
            case "gsa" -> {
                c.put("intermediate_size", inter);
                c.put("num_heads", heads);
                c.put("num_slots", slots);
                c.put("expand_k", 1.0);
                c.put("expand_v", 1.0);
                c.put("feature_map", "swish");
                c.put("gate_logit_normalizer", 8);
                c.put("use_short_conv", false);
                c.put("norm_eps", 1e-6);
            }
            case "gla" -> {
                c.put("intermediate_size", inter);
                c.put("num_heads", heads);
                c.put("expand_k", 0.5);
                c.put("expand_v", 1.0);
                c.put("use_short_conv", false);
                c.put("norm_eps", 1e-6);
            }
            case "retnet" -> {
                c.put("intermediate_size", inter);
                c.put("num_heads", heads);
                c.put("expand_k", 1.0);
                c.put("expand_v", 2.0);
                c.put("norm_eps", 1e-6);
            }
            case "hgrn2" -> {
                c.put("intermediate_size", inter);
                c.put("num_heads", heads);
                c.put("expand_ratio", hidden / heads);
                c.put("use_short_conv", false);
                c.put("use_lower_bound", true);
                c.put("norm_eps", 1e-6);
            }
            case "transformer" -> {
                c.put("intermediate_size", inter);
                c.put("num_heads", heads);
                c.put("rope_theta", 10000.0);
                c.put("max_position_embeddings", 2048);
                c.put("norm_eps", 1e-6);
            }
            case "llama" -> {
                c.put("intermediate_size", inter);
                c.put("num_attention_heads", heads);
                c.put("num_key_value_heads", heads);
                c.put("rms_norm_eps", 1e-6);
                c.put("rope_theta", 10000.0);
                c.put("max_position_embeddings", 2048);
                c.put("hidden_act", "silu");
                c.put("attention_bias", false);
                c.put("mlp_bias", false);
            }
            default -> throw new Gsa4jException("unknown architecture '" + arch + "' (known: " + String.join(", ", ARCHITECTURES) + ")");
        }
        return c;
    }
}
