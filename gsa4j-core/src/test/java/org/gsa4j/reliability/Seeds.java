package org.gsa4j.reliability;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.data.BpeTrainer;
import org.gsa4j.data.TokenFile;
import org.gsa4j.io.HfModelDir;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Valid seed inputs for every loader, built with the project's own writers (so they are exactly
 * what gsa4j and transformers produce), small enough for a mutation fuzzer.
 */
final class Seeds {
    private Seeds() {}

    static final Path REFERENCE_GSA = Path.of("src/test/resources/reference/models/gsa");
    static final ObjectMapper JSON = new ObjectMapper();

    /** A tiny GSA config (1 layer, d=16, vocab 32, 4 slots). */
    static ObjectNode tinyConfig() {
        ObjectNode c = JSON.createObjectNode();
        c.put("model_type", "gsa").put("hidden_size", 16).put("num_heads", 2).put("num_hidden_layers", 1)
                .put("num_slots", 4).put("vocab_size", 32).put("intermediate_size", 32).put("norm_eps", 1e-6)
                .put("gate_logit_normalizer", 8).put("feature_map", "swish").put("use_short_conv", true)
                .put("conv_size", 4).put("tie_word_embeddings", false).put("elementwise_affine", true);
        c.putNull("num_kv_heads");
        c.putNull("attn");
        return c;
    }

    static CausalLM tinyModel() {
        return ModelLoader.create(tinyConfig(), 7);
    }

    /** A tiny model saved into {@code dir} (config.json + model.safetensors, or sharded with an index). */
    static void saveTiny(Path dir, boolean sharded) {
        CausalLM m = tinyModel();
        HfModelDir.save(dir, m.config.toJson(), m.params(), n -> SafeTensors.DType.F32, sharded ? 2048 : 0);
    }

    /** safetensors files of every dtype, with metadata, an empty tensor and a scalar. */
    static List<byte[]> safetensors(Path tmp) {
        SplittableRandom rng = new SplittableRandom(3);
        Map<String, Tensor> w = new LinkedHashMap<>();
        w.put("a", Tensor.randn(rng, 1, 3, 4));
        w.put("b.weight", Tensor.randn(rng, 1, 5));
        w.put("scalar", Tensor.randn(rng, 1));
        Map<String, Tensor> ints = new LinkedHashMap<>();
        ints.put("ids", Tensor.of(new float[] {1, 2, 3, -4}, 4));
        ints.put("empty", Tensor.zeros(0, 3));
        return List.of(
                bytes(tmp, "f32", f -> SafeTensors.write(f, w, SafeTensors.DType.F32)),
                bytes(tmp, "bf16", f -> SafeTensors.write(f, w, SafeTensors.DType.BF16, Map.of())),
                bytes(tmp, "mixed", f -> SafeTensors.write(f, w, n -> n.equals("a") ? SafeTensors.DType.F16 : SafeTensors.DType.F64,
                        Map.of("format", "pt", "note", "x"))),
                bytes(tmp, "ints", f -> SafeTensors.write(f, ints, n -> n.equals("ids") ? SafeTensors.DType.I64 : SafeTensors.DType.I32, null)),
                bytes(tmp, "tinymodel", f -> SafeTensors.write(f, tinyModel().params(), SafeTensors.DType.BF16)));
    }

    static List<byte[]> configs() {
        try {
            return List.of(Files.readAllBytes(REFERENCE_GSA.resolve("config.json")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<byte[]> indexes(Path tmp) {
        Path d = tmp.resolve("sharded-seed");
        saveTiny(d, true);
        try {
            return List.of(Files.readAllBytes(d.resolve(HfModelDir.INDEX)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static final String TEXT = "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
            + "must be in want of a wife.<|endoftext|>However little known the feelings or views of such a man may be "
            + "on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families.";

    static List<byte[]> tokenizers() {
        String plain = BpeTrainer.train(List.of(TEXT, TEXT.toUpperCase()), 300).toJson();
        return List.of(plain.getBytes(StandardCharsets.UTF_8));
    }

    /** The example run config of the repository (configs/gsa-austen.json). */
    static List<byte[]> runConfigs() {
        try {
            return List.of(Files.readAllBytes(Path.of("../configs/gsa-austen.json")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<byte[]> tokenFiles(Path tmp) {
        int[] small = {0, 1, 2, 3, 4, 5, 6, 7, 255, 9};
        int[] wide = {0, 70000, 5, 65536};
        return List.of(bytes(tmp, "u16.tok", f -> TokenFile.write(f, small, 256)),
                bytes(tmp, "i32.tok", f -> TokenFile.write(f, wide, 70001)));
    }

    interface Writer {
        void write(Path f) throws IOException;
    }

    static byte[] bytes(Path tmp, String name, Writer w) {
        try {
            Path f = tmp.resolve("seed-" + name);
            w.write(f);
            byte[] b = Files.readAllBytes(f);
            Files.delete(f);
            return b;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes every seed into the Jazzer seed directories (run once; the files are committed). */
    public static void main(String[] args) throws IOException {
        Path tmp = Files.createTempDirectory("seeds");
        Path base = Path.of("src/test/resources/org/gsa4j/reliability/LoaderFuzzTestInputs");
        write(base.resolve("safetensors"), safetensors(tmp));
        write(base.resolve("config"), configs());
        write(base.resolve("index"), indexes(tmp));
        write(base.resolve("tokenizer"), tokenizers());
        write(base.resolve("tokenFile"), tokenFiles(tmp));
        write(base.resolve("trainConfig"), runConfigs());
    }

    private static void write(Path dir, List<byte[]> seeds) throws IOException {
        Files.createDirectories(dir);
        for (int i = 0; i < seeds.size(); i++) Files.write(dir.resolve("seed-" + i), seeds.get(i));
    }
}
