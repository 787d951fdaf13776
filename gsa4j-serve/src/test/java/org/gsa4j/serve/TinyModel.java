package org.gsa4j.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.data.BpeTokenizer;
import org.gsa4j.data.BpeTrainer;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.models.ModelLoader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A tiny random GSA model folder with a byte-level BPE tokenizer and a chat template, for the server tests. */
final class TinyModel {
    private TinyModel() {}

    static final String TEXT = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. "
            + "However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed "
            + "in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.";

    /** A chat template in the style of ChatML, skipping the system prompt when a session continues. */
    static final String TEMPLATE = "{% for m in messages %}{% if not (session_continues and m.role == 'system') %}"
            + "<|{{ m.role }}|>{{ m.content }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

    /** Writes the folder: config.json, model.safetensors, tokenizer.json, tokenizer_config.json with the template. */
    static Path write(Path dir, boolean chatTemplate) throws IOException {
        BpeTokenizer tok = BpeTrainer.train(List.of(TEXT, TEXT.toUpperCase()), 320);
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("model_type", "gsa");
        c.put("vocab_size", tok.vocabSize());
        c.put("hidden_size", 48);
        c.put("num_hidden_layers", 2);
        c.put("num_heads", 2);
        c.put("num_slots", 8);
        c.put("intermediate_size", 64);
        c.put("use_short_conv", true);
        c.put("conv_size", 3);
        c.put("initializer_range", 0.3);
        CausalLM model = ModelLoader.create(c, 42);
        Files.createDirectories(dir);
        ModelLoader.save(model, dir, SafeTensors.DType.F32);
        tok.saveHuggingFace(dir);
        if (chatTemplate) {
            ObjectNode cfg = (ObjectNode) new ObjectMapper().readTree(dir.resolve("tokenizer_config.json").toFile());
            cfg.put("chat_template", TEMPLATE);
            Files.writeString(dir.resolve("tokenizer_config.json"), cfg.toString());
        }
        return dir;
    }

    /** Greedy tokens after {@code prompt} by the library's own single-sequence step (the reference for the server). */
    static int[] greedy(CausalLM model, int[] prompt, int n) {
        DecodeState s = model.newState(1);
        float[] logits = null;
        for (int t : prompt) logits = model.step(new int[] {t}, s).f;
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
            out.add(best);
            if (i + 1 < n) logits = model.step(new int[] {best}, s).f;
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }
}
