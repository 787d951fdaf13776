package org.gsa4j.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.ConfigReader;
import org.gsa4j.config.GlaConfig;
import org.gsa4j.config.GsaConfig;
import org.gsa4j.config.HybridAttention;
import org.gsa4j.config.LlamaConfig;
import org.gsa4j.config.LmConfig;
import org.gsa4j.config.ModelConfig;
import org.gsa4j.config.RetNetConfig;
import org.gsa4j.io.HfModelDir;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.layers.ParamSpec;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelRegistry;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * "T2R" (docs/MATH.md#t2r-conversion): turns a pretrained transformers Llama/Mistral checkpoint into a linear
 * model by replacing every softmax attention with GSA, GLA or RetNet. Embeddings, norms, the MLPs
 * and the q/k/v/o projections carry over (GQA as num_kv_heads); rotary embeddings are dropped;
 * the new parameters (GSA's forget-gate projection, GLA's low-rank gate, output norms) get the
 * reference library's initialisation. The target's parameter list comes from the model code
 * itself, and tensors are streamed one at a time, so a 7B checkpoint converts in a few GB.
 */
public final class TransformerToRnn {
    private TransformerToRnn() {}

    public enum Target { GSA, GLA, RETNET }

    /**
     * @param numSlots     GSA's slots per head
     * @param featureMap   GSA: swish (default) or relu; GLA and RetNet: relu (default, as SUPRA) or none
     * @param maxShardBytes split the output into shards of at most this many bytes (0: one file)
     */
    public record Options(Target target, int numSlots, String featureMap, long seed, long maxShardBytes) {
        public static Options defaults(Target target) {
            return new Options(target, 64, target == Target.GSA ? "swish" : "relu", 0, 5_000_000_000L);
        }
    }

    /** Converts the checkpoint in {@code from} and writes the new model to {@code to}; returns its config. */
    public static ModelConfig convert(Path from, Path to, Options options) {
        try (HfModelDir src = HfModelDir.open(from)) {
            ConfigReader c = new ConfigReader(src.configFile(), src.configJson());
            ModelConfig target = targetConfig(c, options);
            List<ParamSpec> specs = CausalLM.paramSpecs(ModelRegistry.build(target));
            Map<String, SafeTensors.Pending> out = new LinkedHashMap<>();
            Set<String> used = new HashSet<>();
            SplittableRandom rng = new SplittableRandom(options.seed());
            for (ParamSpec spec : specs) {
                String source = sourceName(spec.name());
                if (source != null && src.has(source)) {
                    int[] shape = src.shape(source);
                    if (!Arrays.equals(shape, spec.shape())) {
                        throw Gsa4jException.at(src.fileOf(source), source, "shape " + Arrays.toString(shape)
                                + " cannot become " + spec.name() + " " + Arrays.toString(spec.shape()));
                    }
                    used.add(source);
                    out.put(spec.name(), new SafeTensors.Pending(src.dtype(source), shape, () -> src.f32(source)));
                } else {
                    // A parameter the Transformer does not have: initialised as the library does.
                    long seed = rng.nextLong();
                    double std = target.initializerRange();
                    SafeTensors.DType dtype = src.dtype(src.has("model.embed_tokens.weight") ? "model.embed_tokens.weight" : src.tensorNames().iterator().next());
                    out.put(spec.name(), new SafeTensors.Pending(dtype, spec.shape(),
                            () -> CausalLM.initParams(List.of(spec), std, seed).get(spec.name())));
                }
            }
            for (String name : src.tensorNames()) {
                if (!used.contains(name) && !name.endsWith("rotary_emb.inv_freq")) {
                    throw Gsa4jException.at(src.fileOf(name), name, "has no counterpart in a " + options.target().name().toLowerCase(Locale.ROOT)
                            + " model; refusing to drop it silently");
                }
            }
            HfModelDir.saveStreaming(to, target.toJson(), out, options.maxShardBytes());
            return target;
        }
    }

    /** The Transformer tensor a converted parameter comes from (transformers' Llama names), or null for new ones. */
    static String sourceName(String target) {
        if (target.equals("model.embeddings.weight")) return "model.embed_tokens.weight";
        if (target.equals("model.norm.weight") || target.equals("lm_head.weight")) return target;
        if (!target.startsWith("model.layers.")) return null;
        return target.replace(".attn_norm.weight", ".input_layernorm.weight")
                .replace(".mlp_norm.weight", ".post_attention_layernorm.weight")
                .replaceFirst("\\.attn\\.([qkvo])_proj\\.weight$", ".self_attn.$1_proj.weight")
                .replaceFirst("\\.mlp\\.(gate|up|down)_proj\\.weight$", ".mlp.$1_proj.weight");
    }

    /** The target's config in the reference library's format, from the Transformer's. */
    static ModelConfig targetConfig(ConfigReader c, Options o) {
        String type = c.string("model_type", null);
        if (!type.equals(LlamaConfig.LLAMA) && !type.equals(LlamaConfig.MISTRAL)) {
            throw c.error("model_type", "can only convert llama or mistral checkpoints, found '" + type + "'");
        }
        if (c.boolValue("attention_bias", false)) throw c.error("attention_bias", "attention biases have no place in the converted layers");
        if (c.boolValue("mlp_bias", false)) throw c.error("mlp_bias", "MLP biases have no place in the converted model");
        String act = c.string("hidden_act", "silu");
        if (!act.equals("silu") && !act.equals("swish")) throw c.error("hidden_act", "only silu MLPs convert, found '" + act + "'");
        for (String field : new String[] {"rope_scaling", "rope_parameters"}) {
            JsonNode rope = c.root().get(field);
            if (rope != null && rope.isObject()) {
                String kind = rope.path("rope_type").asText(rope.path("type").asText("default"));
                if (!kind.equals("default")) throw c.error(field, "rope type '" + kind + "' is not supported");
            }
        }
        LlamaConfig src = LlamaConfig.fromJson(c);
        int d = src.hiddenSize(), heads = src.numAttentionHeads(), kvHeads = src.numKeyValueHeads(), headDim = src.headDim();
        double expand = (double) heads * headDim / d;
        if ((int) (d * expand) != heads * headDim) throw c.error("head_dim", "num_attention_heads × head_dim = " + heads * headDim + " is not expressible as hidden_size × expand_k");

        LmConfig lm = new LmConfig(src.vocabSize(), d, src.numLayers(), src.intermediateSize(), "swish", src.normEps(),
                src.tieWordEmbeddings(), src.initializerRange());
        Map<String, JsonNode> extra = new LinkedHashMap<>();
        extra.put("max_position_embeddings", JsonNodeFactory.instance.numberNode(c.intValue("max_position_embeddings", 2048)));
        for (String id : new String[] {"bos_token_id", "eos_token_id", "pad_token_id"}) {
            if (c.isSet(id)) extra.put(id, c.root().get(id));
        }
        return switch (o.target()) {
            case GSA -> {
                if (o.numSlots() <= 0) throw new Gsa4jException("--num-slots must be positive, got " + o.numSlots());
                // GSA's output norm weight has hidden_size entries: only when value_dim == hidden_size.
                yield new GsaConfig(lm, heads, kvHeads, o.numSlots(), expand, expand, false, 4, o.featureMap(), 8,
                        heads * headDim == d, HybridAttention.NONE, extra);
            }
            // The paper's conversions: ReLU feature map (SUPRA), no swish output gate.
            case GLA -> new GlaConfig(lm, heads, kvHeads, expand, expand, false, 4, featureMapOrNone(o), false, true, true,
                    null, "chunk", HybridAttention.NONE, extra);
            case RETNET -> new RetNetConfig(lm, heads, kvHeads, expand, expand, featureMapOrNone(o), false, true, true,
                    "chunk", HybridAttention.NONE, extra);
        };
    }

    private static String featureMapOrNone(Options o) {
        return o.featureMap().equals("none") ? null : o.featureMap();
    }
}
