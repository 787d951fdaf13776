package org.gsa4j.data;

import org.gsa4j.io.AtomicFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import org.gsa4j.Gsa4jException;

/**
 * A pure-Java GPT-2-style byte-level BPE tokenizer that encodes exactly as Hugging Face
 * {@code tokenizers} does for a {@code tokenizer.json} with a BPE model, a ByteLevel pre-tokenizer
 * ({@code add_prefix_space: false}, {@code use_regex: true}), no normalizer and a ByteLevel decoder.
 *
 * <p>Encoding: the text is first split on added (special) tokens, e.g. {@code <|endoftext|>}; each
 * remaining segment is cut into pre-tokens by {@link ByteLevel#GPT2_SPLIT}; each pre-token's UTF-8
 * bytes start as single-byte tokens and the lowest-ranked adjacent pair in the merge list is merged
 * until no listed pair remains. Results are cached per pre-token, so bulk encoding of natural text is
 * fast. Thread-safe.
 */
public final class BpeTokenizer implements Tokenizer {

    private final String[] idToToken; // byte-level strings; added tokens hold their content
    private final Map<String, Integer> vocab;
    private final List<String[]> merges; // in rank order: {left, right}
    private final LongLongMap mergeTable; // pair(a,b) -> rank << 32 | newId
    private final int[] mergeLeft, mergeRight; // ids of each merge's parts, by rank
    private final int[] byteIds = new int[256];
    private final Map<String, Integer> added; // content -> id, in file order
    private final List<String> addedByLength; // longest first, for leftmost-longest matching
    private final boolean[] special;
    private final boolean ignoreMerges;
    private final int vocabSize;
    private final int eosId;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();
    private static final int CACHE_LIMIT = 1 << 18;

    /**
     * @param vocab      token (byte-level string) to id, including the 256 single bytes
     * @param merges     merge list in rank order, each {left, right}; left+right must be in vocab
     * @param added      added tokens (content to id), all treated as special
     */
    public BpeTokenizer(Map<String, Integer> vocab, List<String[]> merges, Map<String, Integer> added) {
        this(vocab, merges, added, null, false, null);
    }

    private BpeTokenizer(Map<String, Integer> vocab, List<String[]> merges, Map<String, Integer> added,
                         boolean[] specialFlags, boolean ignoreMerges, Path where) {
        this.vocab = Collections.unmodifiableMap(new LinkedHashMap<>(vocab));
        this.added = Collections.unmodifiableMap(new LinkedHashMap<>(added));
        this.ignoreMerges = ignoreMerges;
        int max = -1;
        for (int id : vocab.values()) max = Math.max(max, id);
        for (int id : added.values()) max = Math.max(max, id);
        this.vocabSize = max + 1;
        this.idToToken = new String[vocabSize];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            if (e.getValue() < 0) throw bad(where, "model.vocab", "negative id for token '" + e.getKey() + "'");
            idToToken[e.getValue()] = e.getKey();
        }
        this.special = new boolean[vocabSize];
        for (Map.Entry<String, Integer> e : added.entrySet()) {
            if (e.getValue() < 0) throw bad(where, "added_tokens", "negative id for '" + e.getKey() + "'");
            idToToken[e.getValue()] = e.getKey();
            special[e.getValue()] = specialFlags == null || specialFlags[e.getValue()];
        }
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.valueOf(ByteLevel.byteToChar(b)));
            if (id == null) throw bad(where, "model.vocab", "byte " + b + " ('" + ByteLevel.byteToChar(b) + "') has no token");
            byteIds[b] = id;
        }
        this.merges = List.copyOf(merges);
        this.mergeTable = new LongLongMap(merges.size() + 16);
        this.mergeLeft = new int[merges.size()];
        this.mergeRight = new int[merges.size()];
        for (int r = 0; r < merges.size(); r++) {
            String[] m = merges.get(r);
            Integer a = vocab.get(m[0]), b = vocab.get(m[1]), c = vocab.get(m[0] + m[1]);
            if (a == null || b == null || c == null) {
                throw bad(where, "model.merges", "merge " + r + " '" + m[0] + " " + m[1] + "' uses a token missing from the vocab");
            }
            mergeLeft[r] = a;
            mergeRight[r] = b;
            long key = LongLongMap.pair(a, b);
            if (mergeTable.get(key, -1) == -1) mergeTable.put(key, ((long) r << 32) | c);
        }
        List<String> byLen = new ArrayList<>(added.keySet());
        byLen.sort(Comparator.comparingInt(String::length).reversed());
        this.addedByLength = List.copyOf(byLen);
        Integer eos = added.get(END_OF_TEXT);
        if (eos == null) eos = added.get("</s>");
        if (eos == null) eos = added.get("<eos>");
        if (eos == null) eos = added.get("<|end_of_text|>");
        this.eosId = eos == null ? -1 : eos;
    }

    private static Gsa4jException bad(Path where, String field, String problem) {
        return where == null ? new Gsa4jException("tokenizer: " + field + ": " + problem) : Gsa4jException.at(where, field, problem);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int eosId() {
        return eosId;
    }

    /** True when no added token contains a line break (so text may be encoded in line-aligned chunks). */
    boolean addedTokensAvoidNewlines() {
        for (String a : added.keySet()) if (a.indexOf('\n') >= 0 || a.indexOf('\r') >= 0) return false;
        return true;
    }

    /** Number of merges. */
    public int mergeCount() {
        return merges.size();
    }

    /** The merge list in rank order, as {left, right} byte-level strings (copies). */
    public List<String[]> merges() {
        List<String[]> out = new ArrayList<>(merges.size());
        for (String[] m : merges) out.add(m.clone());
        return out;
    }

    /** The token string (byte-level characters, or an added token's content) of an id, or null. */
    public String token(int id) {
        return id >= 0 && id < idToToken.length ? idToToken[id] : null;
    }

    // ------------------------------------------------------------------------------- encode

    @Override
    public int[] encode(String text) {
        IntList out = new IntList(Math.max(16, text.length() / 3));
        encodeInto(text, out);
        return out.toArray();
    }

    void encodeInto(String text, IntList out) {
        int pos = 0, n = text.length();
        int k = addedByLength.size();
        int[] next = new int[k]; // next occurrence of each added token at or after pos (-1: none left)
        for (int i = 0; i < k; i++) next[i] = addedByLength.get(i).isEmpty() ? -1 : text.indexOf(addedByLength.get(i));
        while (pos < n) {
            // leftmost, then longest, added token at or after pos (as HF's added-vocabulary split)
            int best = -1, bi = -1;
            for (int i = 0; i < k; i++) {
                if (next[i] >= 0 && next[i] < pos) next[i] = text.indexOf(addedByLength.get(i), pos);
                if (next[i] >= 0 && (best < 0 || next[i] < best)) {
                    best = next[i];
                    bi = i;
                }
            }
            if (bi < 0) break;
            String hit = addedByLength.get(bi);
            encodeOrdinary(text, pos, best, out);
            out.add(added.get(hit));
            pos = best + hit.length();
        }
        encodeOrdinary(text, pos, n, out);
    }

    private void encodeOrdinary(String text, int from, int to, IntList out) {
        if (from >= to) return;
        Matcher m = ByteLevel.GPT2_SPLIT.matcher(text);
        m.region(from, to);
        int last = from;
        while (m.find()) {
            if (m.start() > last) encodePiece(text.substring(last, m.start()), out);
            encodePiece(text.substring(m.start(), m.end()), out);
            last = m.end();
        }
        if (last < to) encodePiece(text.substring(last, to), out);
    }

    private void encodePiece(String piece, IntList out) {
        int[] ids = cache.get(piece);
        if (ids == null) {
            ids = bpe(piece.getBytes(StandardCharsets.UTF_8));
            if (cache.size() >= CACHE_LIMIT) cache.clear();
            cache.put(piece, ids);
        }
        out.addAll(ids);
    }

    /**
     * Applies the merges to one pre-token's bytes, as Hugging Face {@code tokenizers} does
     * ({@code Word::merge_all}): the symbols form a linked list, every adjacent pair with a merge
     * sits in a min-heap ordered by (rank, position), and the top entry is merged unless it has
     * expired (one of its symbols already merged away). O(n log n) in the pre-token's length, so
     * hostile text (a megabyte without a space) cannot make encoding quadratic.
     */
    int[] bpe(byte[] bytes) {
        int n = bytes.length;
        if (ignoreMerges) {
            Integer whole = vocab.get(ByteLevel.encodeBytes(bytes, 0, n));
            if (whole != null) return new int[] {whole};
        }
        int[] sym = new int[n], next = new int[n], prev = new int[n];
        boolean[] gone = new boolean[n];
        for (int i = 0; i < n; i++) {
            sym[i] = byteIds[bytes[i] & 0xFF];
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        LongHeap heap = new LongHeap(Math.max(n, 1));
        for (int i = 0; i + 1 < n; i++) push(heap, sym[i], sym[i + 1], i);
        int live = n;
        while (!heap.isEmpty()) {
            long top = heap.pop();
            int rank = (int) (top >>> 32), pos = (int) top;
            if (gone[pos] || next[pos] < 0) continue;
            int right = next[pos];
            long v = mergeTable.get(LongLongMap.pair(sym[pos], sym[right]), Long.MAX_VALUE);
            if (v == Long.MAX_VALUE || (int) (v >>> 32) != rank) continue; // expired entry
            sym[pos] = (int) v;
            gone[right] = true;
            live--;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            if (prev[pos] >= 0) push(heap, sym[prev[pos]], sym[pos], prev[pos]);
            if (next[pos] >= 0) push(heap, sym[pos], sym[next[pos]], pos);
        }
        int[] out = new int[live];
        for (int i = 0, w = 0; i >= 0 && w < live; i = next[i]) out[w++] = sym[i];
        return out;
    }

    private void push(LongHeap heap, int a, int b, int pos) {
        long v = mergeTable.get(LongLongMap.pair(a, b), Long.MAX_VALUE);
        if (v != Long.MAX_VALUE) heap.push((v >>> 32) << 32 | pos);
    }

    /** A binary min-heap of longs (rank in the high half, position in the low half). */
    static final class LongHeap {
        private long[] a;
        private int size;

        LongHeap(int cap) {
            a = new long[cap];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long x) {
            if (size == a.length) a = Arrays.copyOf(a, a.length * 2);
            int i = size++;
            while (i > 0) {
                int p = (i - 1) >>> 1;
                if (a[p] <= x) break;
                a[i] = a[p];
                i = p;
            }
            a[i] = x;
        }

        long pop() {
            long top = a[0], x = a[--size];
            int i = 0;
            while (true) {
                int c = 2 * i + 1;
                if (c >= size) break;
                if (c + 1 < size && a[c + 1] < a[c]) c++;
                if (x <= a[c]) break;
                a[i] = a[c];
                i = c;
            }
            a[i] = x;
            return top;
        }
    }

    // ------------------------------------------------------------------------------- decode

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) {
            if (id < 0 || id >= vocabSize || idToToken[id] == null) {
                throw new Gsa4jException("tokenizer: token id " + id + " out of range (vocabulary size " + vocabSize + ")");
            }
            // as HF's ByteLevel decoder: map every char to its byte; if some char is not a
            // byte-level char, emit the token's own UTF-8 instead
            String t = idToToken[id];
            byte[] tb = new byte[t.length()];
            boolean allBytes = true;
            for (int i = 0; i < t.length() && allBytes; i++) {
                int b = ByteLevel.charToByte(t.charAt(i));
                if (b < 0) allBytes = false;
                else tb[i] = (byte) b;
            }
            bytes.writeBytes(allBytes ? tb : t.getBytes(StandardCharsets.UTF_8));
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    // ------------------------------------------------------------------------------- JSON

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * The Hugging Face tokenizer.json document (schema of {@code tokenizers} 0.13 to 0.2x): BPE model
     * with vocab and merges (as "left right" strings, which every version reads), ByteLevel
     * pre-tokenizer, post-processor and decoder, and the added tokens.
     */
    public String toJson() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        List<Map<String, Object>> addedList = new ArrayList<>();
        for (Map.Entry<String, Integer> e : added.entrySet()) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("id", e.getValue());
            t.put("content", e.getKey());
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", special[e.getValue()]);
            addedList.add(t);
        }
        root.put("added_tokens", addedList);
        root.put("normalizer", null);
        root.put("pre_tokenizer", byteLevel(true));
        root.put("post_processor", byteLevel(false));
        root.put("decoder", byteLevel(true));
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", ignoreMerges);
        Map<String, Integer> v = new LinkedHashMap<>();
        Integer[] order = vocab.values().toArray(new Integer[0]);
        Arrays.sort(order);
        for (int id : order) v.put(idToToken[id], id);
        model.put("vocab", v);
        List<String> m = new ArrayList<>(merges.size());
        for (String[] mg : merges) m.add(mg[0] + " " + mg[1]);
        model.put("merges", m);
        root.put("model", model);
        try {
            return JSON.writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Map<String, Object> byteLevel(boolean trimOffsets) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "ByteLevel");
        m.put("add_prefix_space", false);
        m.put("trim_offsets", trimOffsets);
        m.put("use_regex", true);
        return m;
    }

    /** Writes tokenizer.json atomically (temporary file, fsync, rename). */
    public void save(Path file) {
        AtomicFiles.write(file, toJson().getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The {@code tokenizer_config.json} that lets {@code transformers}' {@code AutoTokenizer} open a
     * directory holding this tokenizer.json as a {@code PreTrainedTokenizerFast}, with
     * {@code <|endoftext|>} as BOS/EOS and no clean-up of spaces on decode (so decode(encode(x)) == x).
     */
    public String tokenizerConfigJson() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("tokenizer_class", "PreTrainedTokenizerFast");
        root.put("add_prefix_space", false);
        root.put("clean_up_tokenization_spaces", false);
        if (eosId >= 0) {
            String eos = idToToken[eosId];
            root.put("bos_token", eos);
            root.put("eos_token", eos);
            root.put("unk_token", eos);
        }
        root.put("model_max_length", 1_000_000_000_000_000L);
        try {
            return JSON.writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Writes tokenizer.json and tokenizer_config.json into {@code dir}, atomically each. */
    public void saveHuggingFace(Path dir) {
        save(dir.resolve("tokenizer.json"));
        AtomicFiles.write(dir.resolve("tokenizer_config.json"), tokenizerConfigJson().getBytes(StandardCharsets.UTF_8));
    }

    /** Loads a byte-level BPE tokenizer.json; a Gsa4jException when it is missing, invalid or of another kind. */
    public static BpeTokenizer load(Path file) {
        JsonNode root = readJson(file);
        String why = incompatibility(root);
        if (why != null) throw Gsa4jException.at(file, null, "not a byte-level BPE tokenizer this encoder supports: " + why);
        return fromJson(root, file);
    }

    /** Like {@link #load(Path)} but returns null when the file is valid JSON of an unsupported kind. */
    static BpeTokenizer tryLoad(Path file) {
        JsonNode root = readJson(file);
        if (incompatibility(root) != null) return null;
        return fromJson(root, file);
    }

    static JsonNode readJson(Path file) {
        try {
            byte[] data = Files.readAllBytes(file);
            if (data.length == 0) throw Gsa4jException.at(file, null, "tokenizer file is empty");
            JsonNode root = new ObjectMapper().readTree(data);
            if (root == null || !root.isObject()) throw Gsa4jException.at(file, null, "not a JSON object");
            if (!root.path("model").isObject()) throw Gsa4jException.at(file, "model", "missing: not a Hugging Face tokenizer.json");
            return root;
        } catch (NoSuchFileException e) {
            throw Gsa4jException.at(file, null, "tokenizer file does not exist", e);
        } catch (JsonProcessingException e) {
            throw Gsa4jException.at(file, null, "not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw Gsa4jException.at(file, null, "cannot read: " + e.getMessage(), e);
        }
    }

    private static String incompatibility(JsonNode root) {
        JsonNode model = root.path("model");
        if (!"BPE".equals(model.path("type").asText("BPE"))) return "model.type is " + model.path("type").asText();
        if (!model.path("vocab").isObject()) return "model.vocab is not an object";
        if (!model.path("merges").isArray()) return "model.merges is not an array";
        if (!root.path("normalizer").isNull() && !root.path("normalizer").isMissingNode()) return "it has a normalizer";
        JsonNode pre = root.path("pre_tokenizer");
        if (!"ByteLevel".equals(pre.path("type").asText())) return "pre_tokenizer is not ByteLevel";
        if (pre.path("add_prefix_space").asBoolean(false)) return "pre_tokenizer.add_prefix_space is true";
        if (!pre.path("use_regex").asBoolean(true)) return "pre_tokenizer.use_regex is false";
        if (!"ByteLevel".equals(root.path("decoder").path("type").asText())) return "decoder is not ByteLevel";
        if (!model.path("dropout").isNull() && !model.path("dropout").isMissingNode()) return "model.dropout is set";
        for (String f : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (!model.path(f).asText("").isEmpty() && !model.path(f).isNull()) return "model." + f + " is set";
        }
        if (model.path("byte_fallback").asBoolean(false)) return "model.byte_fallback is true";
        // This encoder keeps id-indexed arrays: ids far beyond the number of tokens (a sparse or hostile
        // vocabulary) would make it allocate gigabytes; the native library keeps a hash map instead.
        long entries = model.path("vocab").size() + root.path("added_tokens").size(), maxId = -1;
        for (JsonNode id : model.path("vocab")) if (id.canConvertToLong()) maxId = Math.max(maxId, id.asLong());
        for (JsonNode t : root.path("added_tokens")) if (t.path("id").canConvertToLong()) maxId = Math.max(maxId, t.path("id").asLong());
        if (maxId >= 4 * entries + 1024) return "its largest id " + maxId + " is far beyond its " + entries + " tokens (sparse ids)";
        for (JsonNode t : root.path("added_tokens")) {
            if (t.path("lstrip").asBoolean(false) || t.path("rstrip").asBoolean(false) || t.path("single_word").asBoolean(false)) {
                return "added token '" + t.path("content").asText() + "' uses lstrip/rstrip/single_word";
            }
        }
        return null;
    }

    private static BpeTokenizer fromJson(JsonNode root, Path file) {
        JsonNode model = root.path("model");
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : model.path("vocab").properties()) {
            if (!e.getValue().canConvertToInt()) throw Gsa4jException.at(file, "model.vocab", "id of '" + e.getKey() + "' is not an integer");
            vocab.put(e.getKey(), e.getValue().asInt());
        }
        List<String[]> merges = new ArrayList<>();
        int i = 0;
        for (JsonNode m : model.path("merges")) {
            String[] pair;
            if (m.isTextual()) {
                String s = m.asText();
                int sp = s.indexOf(' ');
                if (sp < 0 || s.indexOf(' ', sp + 1) >= 0) throw Gsa4jException.at(file, "model.merges", "entry " + i + " '" + s + "' is not 'left right'");
                pair = new String[] {s.substring(0, sp), s.substring(sp + 1)};
            } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
                pair = new String[] {m.get(0).asText(), m.get(1).asText()};
            } else {
                throw Gsa4jException.at(file, "model.merges", "entry " + i + " is neither \"a b\" nor [\"a\",\"b\"]");
            }
            merges.add(pair);
            i++;
        }
        Map<String, Integer> added = new LinkedHashMap<>();
        Map<Integer, Boolean> specialById = new HashMap<>();
        for (JsonNode t : root.path("added_tokens")) {
            if (!t.path("content").isTextual() || !t.path("id").canConvertToInt()) {
                throw Gsa4jException.at(file, "added_tokens", "entry without a textual content and integer id");
            }
            added.put(t.get("content").asText(), t.get("id").asInt());
            specialById.put(t.get("id").asInt(), t.path("special").asBoolean(false));
        }
        int max = -1;
        for (int id : vocab.values()) max = Math.max(max, id);
        for (int id : added.values()) max = Math.max(max, id);
        boolean[] flags = new boolean[max + 1];
        specialById.forEach((id, s) -> { if (id >= 0) flags[id] = s; });
        return new BpeTokenizer(vocab, merges, added, flags, model.path("ignore_merges").asBoolean(false), file);
    }

    /** Growable int array. */
    static final class IntList {
        int[] a;
        int n;

        IntList(int cap) {
            a = new int[Math.max(cap, 4)];
        }

        void add(int v) {
            if (n == a.length) a = Arrays.copyOf(a, a.length * 2);
            a[n++] = v;
        }

        void addAll(int[] v) {
            if (n + v.length > a.length) a = Arrays.copyOf(a, Math.max(a.length * 2, n + v.length));
            System.arraycopy(v, 0, a, n, v.length);
            n += v.length;
        }

        int size() {
            return n;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
