package org.gsa4j.models;

/** State-dict names of the shared block skeleton: the reference library's and transformers' Llama. */
public record Naming(String embeddings, String layers, String mixerNorm, String mixer, String mlpNorm, String mlp,
                     String finalNorm, String lmHead) {

    public static final Naming FLA = new Naming("model.embeddings.weight", "model.layers.", "attn_norm.weight", "attn.",
            "mlp_norm.weight", "mlp.", "model.norm.weight", "lm_head.weight");

    public static final Naming LLAMA = new Naming("model.embed_tokens.weight", "model.layers.", "input_layernorm.weight",
            "self_attn.", "post_attention_layernorm.weight", "mlp.", "model.norm.weight", "lm_head.weight");

    public String layer(int i) {
        return layers + i + ".";
    }
}
