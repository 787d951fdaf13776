package org.gsa4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.AttentionConfig;
import org.gsa4j.config.ConfigReader;
import org.gsa4j.config.GlaConfig;
import org.gsa4j.config.GsaConfig;
import org.gsa4j.config.Hgrn2Config;
import org.gsa4j.config.HybridAttention;
import org.gsa4j.config.LlamaConfig;
import org.gsa4j.config.ModelConfig;
import org.gsa4j.config.ModelSize;
import org.gsa4j.config.RetNetConfig;
import org.gsa4j.config.TransformerConfig;
import org.gsa4j.layers.GlaLayer;
import org.gsa4j.layers.GsaLayer;
import org.gsa4j.layers.Hgrn2Layer;
import org.gsa4j.layers.RetNetLayer;
import org.gsa4j.layers.SoftmaxAttentionLayer;
import org.gsa4j.layers.TokenMixer;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.IntFunction;

/**
 * The one table of architectures: for every {@code model_type}, its typed config (read from
 * config.json), its training preset (a fresh model of a given size) and the model built from it
 * (state-dict naming and one token mixer per layer). The loader, the saver, training, convert, the
 * bench and the tests all go through it.
 */
public final class ModelRegistry {
    private ModelRegistry() {}

    /** What a config builds: the state-dict naming and one token mixer per layer. */
    public record Architecture(ModelConfig config, Naming naming, TokenMixer[] mixers) {}

    private record Entry<C extends ModelConfig>(String modelType, Class<C> type, Function<ConfigReader, C> read,
                                                Function<ModelSize, C> preset, Function<C, Architecture> build) {
        Architecture buildAny(ModelConfig c) {
            return build.apply(type.cast(c));
        }
    }

    private static final List<Entry<?>> ENTRIES = List.of(
            new Entry<>(GsaConfig.MODEL_TYPE, GsaConfig.class, GsaConfig::fromJson, GsaConfig::preset,
                    c -> linear(c, c.attn(), i -> new GsaLayer(c))),
            new Entry<>(GlaConfig.MODEL_TYPE, GlaConfig.class, GlaConfig::fromJson, GlaConfig::preset,
                    c -> linear(c, c.attn(), i -> new GlaLayer(c))),
            new Entry<>(RetNetConfig.MODEL_TYPE, RetNetConfig.class, RetNetConfig::fromJson, RetNetConfig::preset,
                    c -> linear(c, c.attn(), i -> new RetNetLayer(c))),
            new Entry<>(Hgrn2Config.MODEL_TYPE, Hgrn2Config.class, Hgrn2Config::fromJson, Hgrn2Config::preset,
                    c -> linear(c, c.attn(), i -> new Hgrn2Layer(c, i))),
            new Entry<>(TransformerConfig.MODEL_TYPE, TransformerConfig.class, TransformerConfig::fromJson, TransformerConfig::preset,
                    c -> attention(c, Naming.FLA, c.attention())),
            new Entry<>(LlamaConfig.LLAMA, LlamaConfig.class, LlamaConfig::fromJson, s -> LlamaConfig.preset(LlamaConfig.LLAMA, s),
                    c -> attention(c, Naming.LLAMA, c.attention())),
            new Entry<>(LlamaConfig.MISTRAL, LlamaConfig.class, LlamaConfig::fromJson, s -> LlamaConfig.preset(LlamaConfig.MISTRAL, s),
                    c -> attention(c, Naming.LLAMA, c.attention())));

    /** Every model_type known, in the table's order. */
    public static List<String> modelTypes() {
        return ENTRIES.stream().map(Entry::modelType).toList();
    }

    private static Entry<?> entry(String modelType) {
        for (Entry<?> e : ENTRIES) if (e.modelType().equals(modelType)) return e;
        return null;
    }

    /** The typed config of a config.json (its model_type picks the record); errors name the reader's file and the field. */
    public static ModelConfig fromJson(ConfigReader c) {
        String type = c.string("model_type", null);
        Entry<?> e = entry(type);
        if (e == null) throw c.error("model_type", "unknown model_type '" + type + "' (supported: " + String.join(", ", modelTypes()) + ")");
        return e.read().apply(c);
    }

    /** {@link #fromJson(ConfigReader)} of a config.json object not read from a file (errors name "config.json"). */
    public static ModelConfig fromJson(JsonNode json) {
        return fromJson(new ConfigReader(Path.of("config.json"), json));
    }

    /** A fresh model's config of the given size, for training; unknown architectures are refused with the known ones. */
    public static ModelConfig preset(String modelType, ModelSize size) {
        Entry<?> e = entry(modelType);
        if (e == null) throw new Gsa4jException("unknown architecture '" + modelType + "' (known: " + String.join(", ", modelTypes()) + ")");
        return e.preset().apply(size);
    }

    /** The naming and the token mixers of a config. */
    public static Architecture build(ModelConfig config) {
        return entry(config.modelType()).buildAny(config);
    }

    /** A linear model: the architecture's layer, or softmax attention where the hybrid {@code attn} field says so. */
    private static Architecture linear(ModelConfig c, HybridAttention hybrid, IntFunction<TokenMixer> layer) {
        Map<Integer, AttentionConfig> attention = hybrid.byLayer(c.hiddenSize());
        TokenMixer[] mixers = new TokenMixer[c.numLayers()];
        for (int i = 0; i < mixers.length; i++) {
            mixers[i] = attention.containsKey(i) ? new SoftmaxAttentionLayer(attention.get(i)) : layer.apply(i);
        }
        return new Architecture(c, Naming.FLA, mixers);
    }

    private static Architecture attention(ModelConfig c, Naming naming, AttentionConfig a) {
        TokenMixer[] mixers = new TokenMixer[c.numLayers()];
        for (int i = 0; i < mixers.length; i++) mixers[i] = new SoftmaxAttentionLayer(a);
        return new Architecture(c, naming, mixers);
    }
}
