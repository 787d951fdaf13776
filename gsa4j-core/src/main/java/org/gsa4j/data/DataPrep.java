package org.gsa4j.data;

import org.gsa4j.io.AtomicFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import org.gsa4j.Gsa4jException;

/**
 * The {@code prepare} step: corpus in, tokenizer and token files out.
 *
 * <p>{@link #prepare(Corpus, Path, int)} trains a byte-level BPE on the corpus' training split and
 * writes into {@code outDir}:
 * <ul>
 *   <li>{@code tokenizer.json} — Hugging Face format (loads in DJL and {@code transformers}), with a
 *       {@code tokenizer_config.json} for {@code AutoTokenizer};</li>
 *   <li>{@code train.bin}, {@code val.bin} — {@link TokenFile}s; each document is followed by one
 *       end-of-text token (when the tokenizer has one);</li>
 *   <li>{@code prep.json} — vocabulary size, and per split the documents, token count, UTF-8 byte
 *       count of the texts (end-of-text tokens add no bytes) and bytes per token. Bits per byte of a
 *       model is {@code sum of per-token NLL (nats) / (ln 2 * bytes)} over the split; also the
 *       validation bits per byte of a unigram model of the training tokens, as a baseline.</li>
 * </ul>
 * Every file is written atomically. {@link #prepare(Corpus, Path, Path)} does the same with an
 * existing tokenizer.json instead of training one.
 */
public final class DataPrep {

    private DataPrep() {}

    public static final String TOKENIZER = "tokenizer.json";
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    public static final String TRAIN = "train.bin";
    public static final String VAL = "val.bin";
    public static final String PREP = "prep.json";

    /** Statistics of one split. */
    public record Split(String file, List<String> documents, long tokens, long bytes) {
        public double bytesPerToken() {
            return tokens == 0 ? 0 : bytes / (double) tokens;
        }
    }

    /** What {@code prepare} wrote (or what {@link #load(Path)} read back). */
    public record Result(Path dir, int vocabSize, int eosId, boolean tokenizerTrained, double bpeSeconds,
                         String corpusSource, String corpusSha256, Split train, Split validation,
                         double unigramValBitsPerByte) {
        public Path tokenizerPath() {
            return dir.resolve(TOKENIZER);
        }

        public Path trainPath() {
            return dir.resolve(train.file());
        }

        public Path validationPath() {
            return dir.resolve(validation.file());
        }
    }

    /** Trains a BPE of {@code vocabSize} on the training split and writes all outputs. */
    public static Result prepare(Corpus corpus, Path outDir, int vocabSize) {
        ensureWritable(outDir);
        List<String> texts = new ArrayList<>();
        for (Corpus.Document d : corpus.train()) texts.add(d.text());
        BpeTrainer.Result r = BpeTrainer.trainWithStats(texts, vocabSize, 2);
        r.tokenizer().saveHuggingFace(outDir); // tokenizer.json + tokenizer_config.json
        return encodeAll(corpus, outDir, r.tokenizer(), true, r.seconds());
    }

    /** Uses an existing tokenizer.json (any Hugging Face tokenizer): copies it to outDir and encodes the corpus. */
    public static Result prepare(Corpus corpus, Path outDir, Path tokenizerJson) {
        ensureWritable(outDir);
        try (Tokenizer tok = Tokenizer.loadFast(tokenizerJson)) {
            byte[] json;
            try {
                json = Files.readAllBytes(tokenizerJson);
            } catch (IOException e) {
                throw Gsa4jException.at(tokenizerJson, null, "cannot read: " + e, e);
            }
            Path dst = outDir.resolve(TOKENIZER);
            if (!dst.toAbsolutePath().normalize().equals(tokenizerJson.toAbsolutePath().normalize())) {
                AtomicFiles.write(dst, json);
                Path cfg = tokenizerJson.resolveSibling(TOKENIZER_CONFIG);
                if (Files.isRegularFile(cfg)) {
                    try {
                        AtomicFiles.write(outDir.resolve(TOKENIZER_CONFIG), Files.readAllBytes(cfg));
                    } catch (IOException e) {
                        throw Gsa4jException.at(cfg, null, "cannot read: " + e, e);
                    }
                }
            }
            return encodeAll(corpus, outDir, tok, false, 0);
        }
    }

    /**
     * Reuses {@code outDir} when its prep.json was made from the same corpus texts with a trained
     * tokenizer of the same vocabulary size and all files are present; otherwise prepares afresh.
     */
    public static Result loadOrPrepare(Corpus corpus, Path outDir, int vocabSize) {
        if (Files.isRegularFile(outDir.resolve(PREP))) {
            try {
                Result old = load(outDir);
                if (old.tokenizerTrained() && old.vocabSize() == vocabSize && old.corpusSha256().equals(fingerprint(corpus))) {
                    try (TokenFile a = TokenFile.open(old.trainPath()); TokenFile b = TokenFile.open(old.validationPath())) {
                        if (a.size() == old.train().tokens() && b.size() == old.validation().tokens()
                                && a.vocabSize() == vocabSize && b.vocabSize() == vocabSize) {
                            return old;
                        }
                    }
                }
            } catch (Gsa4jException stale) {
                // fall through and rebuild
            }
        }
        return prepare(corpus, outDir, vocabSize);
    }

    /** Reads prep.json of a prepared directory; every referenced file must exist. */
    public static Result load(Path dir) {
        Path p = dir.resolve(PREP);
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readAllBytes(p));
        } catch (java.nio.file.NoSuchFileException e) {
            throw Gsa4jException.at(p, null, "does not exist: run prepare first", e);
        } catch (IOException e) {
            throw Gsa4jException.at(p, null, "cannot read: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw Gsa4jException.at(p, null, "not a JSON object");
        int vocab = requireInt(p, root, "vocab_size");
        Split train = readSplit(p, root, "train");
        Split val = readSplit(p, root, "validation");
        for (String f : new String[] {TOKENIZER, train.file(), val.file()}) {
            if (!Files.isRegularFile(dir.resolve(f))) throw Gsa4jException.at(dir.resolve(f), null, "missing (listed in " + PREP + ")");
        }
        return new Result(dir, vocab, root.path("eos_id").asInt(-1), root.path("tokenizer_trained").asBoolean(false),
                root.path("bpe_training_seconds").asDouble(0), root.path("corpus").asText(""),
                root.path("corpus_sha256").asText(""), train, val, root.path("unigram_validation_bits_per_byte").asDouble(Double.NaN));
    }

    /** Unigram baseline: a model that ignores context, fitted on the training tokens. */
    public record Unigram(double natsPerToken, double bitsPerByte) {}

    /**
     * Cross-entropy on {@code val} of the add-one-smoothed unigram distribution of {@code train}'s
     * tokens, per token and per byte of validation text: the number a language model must beat.
     */
    public static Unigram unigramBaseline(TokenFile train, TokenFile val, long valBytes) {
        int v = Math.max(train.vocabSize(), val.vocabSize());
        long[] counts = new long[v];
        int[] buf = new int[1 << 16];
        for (long i = 0; i < train.size(); i += buf.length) {
            int n = (int) Math.min(buf.length, train.size() - i);
            train.read(i, buf, 0, n);
            for (int k = 0; k < n; k++) counts[buf[k]]++;
        }
        double total = train.size() + (double) v;
        double nats = 0;
        for (long i = 0; i < val.size(); i += buf.length) {
            int n = (int) Math.min(buf.length, val.size() - i);
            val.read(i, buf, 0, n);
            for (int k = 0; k < n; k++) nats -= Math.log((counts[buf[k]] + 1) / total);
        }
        double perToken = val.size() == 0 ? 0 : nats / val.size();
        return new Unigram(perToken, valBytes == 0 ? 0 : nats / (Math.log(2) * valBytes));
    }

    /**
     * Encodes a UTF-8 text file (.txt or .txt.gz) of any size into a token file, holding only one
     * chunk of text at a time when the tokenizer is the project's byte-level BPE: chunks are cut after
     * a line break that has non-whitespace on both sides, where GPT-2's pre-tokenizer always splits,
     * so the ids equal those of encoding the whole text. Other tokenizers get the whole text at once.
     * No end-of-text token is added. Returns the split statistics (bytes = UTF-8 bytes of the text).
     */
    public static Split encodeFile(Path textFile, Tokenizer tok, Path outBin) {
        return encodeFile(textFile, tok, outBin, 1 << 20);
    }

    static Split encodeFile(Path textFile, Tokenizer tok, Path outBin, int chunkChars) {
        boolean chunked = tok instanceof BpeTokenizer b && b.addedTokensAvoidNewlines();
        long bytes = 0;
        try (java.io.Reader r = openText(textFile);
             TokenFile.Writer w = TokenFile.writer(outBin, tok.vocabSize())) {
            char[] buf = new char[Math.max(chunkChars, 16) * 2];
            int have = 0;
            boolean eof = false;
            while (!eof || have > 0) {
                while (!eof && have < buf.length) {
                    int n = r.read(buf, have, buf.length - have);
                    if (n < 0) eof = true;
                    else have += n;
                }
                int cut = have;
                if (chunked && !eof) {
                    cut = safeCut(buf, have);
                    if (cut < 0) { // no safe point in the window: grow it
                        buf = java.util.Arrays.copyOf(buf, buf.length * 2);
                        continue;
                    }
                } else if (!eof) {
                    buf = java.util.Arrays.copyOf(buf, buf.length * 2);
                    continue;
                }
                String piece = new String(buf, 0, cut);
                int[] ids = tok.encode(piece);
                w.append(ids, 0, ids.length);
                bytes += Corpus.utf8Length(piece);
                System.arraycopy(buf, cut, buf, 0, have - cut);
                have -= cut;
            }
            if (bytes == 0) throw Gsa4jException.at(textFile, null, "text file is empty");
            long n = w.count();
            w.commit();
            return new Split(outBin.getFileName().toString(), List.of(textFile.getFileName().toString()), n, bytes);
        } catch (java.nio.charset.MalformedInputException e) {
            throw Utf8.invalid(textFile, e);
        } catch (java.nio.file.NoSuchFileException e) {
            throw Gsa4jException.at(textFile, null, "text file does not exist", e);
        } catch (IOException e) {
            throw Gsa4jException.at(textFile, null, "cannot read: " + e, e);
        }
    }

    /** Largest i in (0, have) with buf[i-1] == '\n' and non-whitespace at i-2 and i, or -1. */
    private static int safeCut(char[] buf, int have) {
        for (int i = have - 1; i >= 2; i--) {
            if (buf[i - 1] == '\n' && !isSpace(buf[i - 2]) && !isSpace(buf[i])
                    && !Character.isLowSurrogate(buf[i]) && !Character.isHighSurrogate(buf[i - 2])) {
                return i;
            }
        }
        return -1;
    }

    private static final java.util.regex.Pattern SPACE =
            java.util.regex.Pattern.compile("\\s", java.util.regex.Pattern.UNICODE_CHARACTER_CLASS);

    /** Whitespace as the pre-tokenizer's {@code \s} sees it. */
    private static boolean isSpace(char c) {
        return SPACE.matcher(String.valueOf(c)).matches();
    }

    private static java.io.Reader openText(Path p) throws IOException {
        java.io.InputStream in = Files.newInputStream(p);
        try {
            if (p.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".gz")) {
                in = new java.util.zip.GZIPInputStream(in, 1 << 16);
            }
        } catch (IOException e) {
            in.close();
            throw Gsa4jException.at(p, null, "not a valid gzip file (" + e.getMessage() + ")", e);
        }
        java.nio.charset.CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);
        return new java.io.BufferedReader(new java.io.InputStreamReader(in, dec), 1 << 16);
    }

    // -------------------------------------------------------------------------------------

    private static Result encodeAll(Corpus corpus, Path outDir, Tokenizer tok, boolean trained, double bpeSeconds) {
        int vocab = tok.vocabSize();
        int eos = tok.eosId();
        Split train = writeSplit(outDir, TRAIN, corpus.train(), tok, vocab, eos);
        Split val = writeSplit(outDir, VAL, List.of(corpus.validation()), tok, vocab, eos);
        double unigram;
        try (TokenFile a = TokenFile.open(outDir.resolve(TRAIN)); TokenFile b = TokenFile.open(outDir.resolve(VAL))) {
            unigram = unigramBaseline(a, b, val.bytes()).bitsPerByte();
        }
        Result res = new Result(outDir, vocab, eos, trained, bpeSeconds, corpus.source(), fingerprint(corpus), train, val, unigram);
        writePrepJson(res);
        return res;
    }

    private static Split writeSplit(Path outDir, String name, List<Corpus.Document> docs, Tokenizer tok, int vocab, int eos) {
        long bytes = 0;
        List<String> names = new ArrayList<>();
        Path target = outDir.resolve(name);
        try (TokenFile.Writer w = TokenFile.writer(target, vocab)) {
            for (Corpus.Document d : docs) {
                int[] ids = tok.encode(d.text());
                w.append(ids, 0, ids.length);
                if (eos >= 0) w.append(eos);
                bytes += d.utf8Bytes();
                names.add(d.name());
            }
            long n = w.count();
            w.commit();
            return new Split(name, names, n, bytes);
        }
    }

    private static void writePrepJson(Result r) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("format", "gsa4j-prep");
        root.put("version", 1);
        root.put("corpus", r.corpusSource());
        root.put("corpus_sha256", r.corpusSha256());
        root.put("tokenizer", TOKENIZER);
        root.put("tokenizer_trained", r.tokenizerTrained());
        root.put("vocab_size", r.vocabSize());
        root.put("eos_id", r.eosId());
        if (r.tokenizerTrained()) root.put("bpe_training_seconds", Math.round(r.bpeSeconds() * 1000) / 1000.0);
        root.put("train", splitJson(r.train()));
        root.put("validation", splitJson(r.validation()));
        root.put("unigram_validation_bits_per_byte", Math.round(r.unigramValBitsPerByte() * 10000) / 10000.0);
        root.put("note", "tokens include one end-of-text token after each document (when the tokenizer has one);"
                + " bytes are the UTF-8 bytes of the texts alone; bits per byte = total NLL in nats / (ln 2 * bytes)");
        try {
            byte[] json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(root);
            AtomicFiles.write(r.dir().resolve(PREP), json);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Map<String, Object> splitJson(Split s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("file", s.file());
        m.put("documents", s.documents());
        m.put("tokens", s.tokens());
        m.put("bytes", s.bytes());
        m.put("bytes_per_token", Math.round(s.bytesPerToken() * 10000) / 10000.0);
        return m;
    }

    private static Split readSplit(Path p, JsonNode root, String field) {
        JsonNode s = root.path(field);
        if (!s.isObject()) throw Gsa4jException.at(p, field, "missing");
        String file = s.path("file").asText("");
        if (file.isEmpty() || file.contains("/") || file.contains("\\")) throw Gsa4jException.at(p, field + ".file", "missing or not a plain file name");
        List<String> docs = new ArrayList<>();
        for (JsonNode d : s.path("documents")) docs.add(d.asText());
        return new Split(file, docs, requireLong(p, s, "tokens", field), requireLong(p, s, "bytes", field));
    }

    private static int requireInt(Path p, JsonNode n, String f) {
        if (!n.path(f).canConvertToInt()) throw Gsa4jException.at(p, f, "missing or not an integer");
        return n.get(f).asInt();
    }

    private static long requireLong(Path p, JsonNode n, String f, String parent) {
        if (!n.path(f).canConvertToLong()) throw Gsa4jException.at(p, parent + "." + f, "missing or not an integer");
        return n.get(f).asLong();
    }

    private static void ensureWritable(Path outDir) {
        try {
            Files.createDirectories(outDir);
        } catch (AccessDeniedException e) {
            throw Gsa4jException.at(outDir, null, "output directory cannot be created: permission denied", e);
        } catch (FileSystemException e) {
            throw Gsa4jException.at(outDir, null, "output directory cannot be created: " + e.getReason(), e);
        } catch (IOException e) {
            throw Gsa4jException.at(outDir, null, "output directory cannot be created: " + e, e);
        }
        if (!Files.isDirectory(outDir)) throw Gsa4jException.at(outDir, null, "output path is not a directory");
        // probe: isWritable is unreliable for root and some file systems
        Path probe = AtomicFiles.tempFor(outDir.resolve(".write-probe"));
        AtomicFiles.deleteQuietly(probe);
    }

    /** SHA-256 over the split's document names and texts (train then validation). */
    static String fingerprint(Corpus corpus) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            List<Corpus.Document> all = new ArrayList<>(corpus.train());
            all.add(corpus.validation());
            for (Corpus.Document d : all) {
                md.update(d.name().getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
                md.update(d.text().getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
            }
            md.update(Integer.toString(corpus.train().size()).getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
