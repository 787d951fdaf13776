package org.gsa4j.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;

import org.gsa4j.Gsa4jException;

/**
 * A {@link Tokenizer} over any Hugging Face tokenizer.json, through DJL's binding of the Rust
 * {@code tokenizers} library (loaded offline from the local file; DJL unpacks its native library to
 * {@code ~/.djl.ai} or {@code $DJL_CACHE_DIR}). No truncation, no padding, no special-token template.
 */
public final class DjlTokenizer implements Tokenizer {

    private final Path file;
    private final HuggingFaceTokenizer hf;
    private final int vocabSize;
    private final int eosId;

    private DjlTokenizer(Path file, HuggingFaceTokenizer hf, int vocabSize, int eosId) {
        this.file = file;
        this.hf = hf;
        this.vocabSize = vocabSize;
        this.eosId = eosId;
    }

    public static DjlTokenizer load(Path file) {
        if (!Files.exists(file)) throw Gsa4jException.at(file, null, "tokenizer file does not exist");
        if (Files.isDirectory(file)) throw Gsa4jException.at(file, null, "is a directory; expected a tokenizer.json file");
        JsonNode root = BpeTokenizer.readJson(file); // clear messages for empty / non-JSON / non-tokenizer files
        int max = -1;
        JsonNode vocab = root.path("model").path("vocab");
        if (vocab.isObject()) {
            for (Map.Entry<String, JsonNode> e : vocab.properties()) max = Math.max(max, e.getValue().asInt(-1));
        } else if (vocab.isArray()) { // Unigram: [[piece, score], ...]
            max = vocab.size() - 1;
        }
        int eos = -1;
        for (JsonNode t : root.path("added_tokens")) {
            int id = t.path("id").asInt(-1);
            max = Math.max(max, id);
            String c = t.path("content").asText("");
            if (eos < 0 && (c.equals(END_OF_TEXT) || c.equals("</s>") || c.equals("<eos>") || c.equals("<|end_of_text|>"))) {
                eos = id;
            }
        }
        if (max < 0) throw Gsa4jException.at(file, "model.vocab", "empty or missing vocabulary");
        HuggingFaceTokenizer hf;
        try {
            hf = HuggingFaceTokenizer.newInstance(file, Map.of(
                    "addSpecialTokens", "false",
                    "truncation", "false",
                    "padding", "false"));
        } catch (IOException | RuntimeException e) {
            throw Gsa4jException.at(file, null, "Hugging Face tokenizers could not load it: " + e.getMessage(), e);
        }
        return new DjlTokenizer(file, hf, max + 1, eos);
    }

    @Override
    public int[] encode(String text) {
        Encoding enc = hf.encode(text, false, false);
        long[] ids = enc.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw Gsa4jException.at(file, null, "token id " + ids[i] + " out of range (vocabulary size " + vocabSize + ")");
            }
            l[i] = ids[i];
        }
        return hf.decode(l, false);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int eosId() {
        return eosId;
    }

    /** The tokenizer.json this was loaded from. */
    public Path file() {
        return file;
    }

    @Override
    public void close() {
        hf.close();
    }
}
