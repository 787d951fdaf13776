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
        long max = -1;
        JsonNode vocab = root.path("model").path("vocab");
        if (vocab.isObject()) {
            for (Map.Entry<String, JsonNode> e : vocab.properties()) max = Math.max(max, e.getValue().asLong(-1));
        } else if (vocab.isArray()) { // Unigram: [[piece, score], ...]
            max = vocab.size() - 1;
        }
        long eos = -1;
        for (JsonNode t : root.path("added_tokens")) {
            long id = t.path("id").asLong(-1);
            max = Math.max(max, id);
            String c = t.path("content").asText("");
            if (eos < 0 && (c.equals(END_OF_TEXT) || c.equals("</s>") || c.equals("<eos>") || c.equals("<|end_of_text|>"))) {
                eos = id;
            }
        }
        if (max < 0) throw Gsa4jException.at(file, "model.vocab", "empty or missing vocabulary");
        if (max >= Integer.MAX_VALUE) throw Gsa4jException.at(file, "model.vocab", "token id " + max + " does not fit a 32-bit vocabulary");
        checkNativePreconditions(file, root);
        HuggingFaceTokenizer hf;
        try {
            hf = HuggingFaceTokenizer.newInstance(file, Map.of(
                    "addSpecialTokens", "false",
                    "truncation", "false",
                    "padding", "false"));
        } catch (IOException | RuntimeException e) {
            throw Gsa4jException.at(file, null, "Hugging Face tokenizers could not load it: " + e.getMessage(), e);
        }
        return new DjlTokenizer(file, hf, (int) max + 1, (int) eos);
    }

    /**
     * Conditions under which the native {@code tokenizers} library panics instead of returning an
     * error; a panic inside the native call aborts the whole JVM, so these are refused here first.
     * <ul>
     * <li>BPE with a {@code continuing_subword_prefix} of n UTF-8 bytes: the library slices the
     * right part of every merge whose parts are in the vocab at byte n ({@code &b[prefix_len..]},
     * tokenizers 0.21 bpe/model.rs), which panics when that part is shorter than n bytes or byte n
     * is inside a character.</li>
     * <li>JSON nested deeper than serde_json's recursion limit (128) inside a component the library
     * deserializes through an {@code unwrap()} (e.g. the decoder, tokenizers 0.21 decoders/mod.rs):
     * no tokenizer.json nests more than a few levels, so anything deeper than
     * {@link #MAX_JSON_DEPTH} is refused.</li>
     * </ul>
     */
    static void checkNativePreconditions(Path file, JsonNode root) {
        int depth = depth(root, 1);
        if (depth > MAX_JSON_DEPTH) {
            throw Gsa4jException.at(file, null, "JSON nested " + depth + " levels deep (at most " + MAX_JSON_DEPTH
                    + " accepted: deeper documents crash the native tokenizers library)");
        }
        JsonNode model = root.path("model");
        JsonNode prefixNode = model.path("continuing_subword_prefix");
        if (!"BPE".equals(model.path("type").asText("BPE")) || !prefixNode.isTextual() || prefixNode.textValue().isEmpty()) return;
        int prefixLen = prefixNode.textValue().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        JsonNode vocab = model.path("vocab");
        int i = 0;
        for (JsonNode m : model.path("merges")) {
            String a = null, b = null;
            if (m.isTextual()) {
                String[] parts = m.textValue().split(" ", -1);
                if (parts.length == 2) {
                    a = parts[0];
                    b = parts[1];
                }
            } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
                a = m.get(0).textValue();
                b = m.get(1).textValue();
            }
            if (a != null && vocab.has(a) && vocab.has(b)) {
                byte[] bb = b.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                if (bb.length < prefixLen || (bb.length > prefixLen && (bb[prefixLen] & 0xC0) == 0x80)) {
                    throw Gsa4jException.at(file, "model.merges", "merge " + i + " ('" + a + "', '" + b
                            + "'): its right part does not start with a whole continuing_subword_prefix of "
                            + prefixLen + " bytes");
                }
            }
            i++;
        }
    }

    /** Deepest JSON nesting accepted (serde_json, inside the native library, stops at 128). */
    static final int MAX_JSON_DEPTH = 64;

    /** Nesting depth of a JSON value (a scalar is 0, {} or [] is 1); stops counting past the limit. */
    private static int depth(JsonNode n, int level) {
        if (!n.isContainerNode()) return level - 1;
        if (level > MAX_JSON_DEPTH) return level;
        int max = level;
        for (JsonNode c : n) {
            max = Math.max(max, depth(c, level + 1));
            if (max > MAX_JSON_DEPTH) break;
        }
        return max;
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
