package org.gsa4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.gsa4j.Gsa4jException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The project's byte-level BPE: training on the Austen training split, round trips, parity with DJL. */
class BpeTokenizerTest {

    static Corpus corpus;
    static BpeTokenizer tok;
    static double trainSeconds;

    @BeforeAll
    static void trainOnce() {
        corpus = Corpus.austen();
        List<String> texts = new ArrayList<>();
        for (Corpus.Document d : corpus.train()) texts.add(d.text());
        BpeTrainer.Result r = BpeTrainer.trainWithStats(texts, 4096, 2);
        tok = r.tokenizer();
        trainSeconds = r.seconds();
        String val = corpus.validation().text();
        long t0 = System.nanoTime();
        int[] ids = tok.encode(val);
        double encSec = (System.nanoTime() - t0) / 1e9;
        System.out.printf("BPE vocab 4096 on %d training bytes (%d distinct pre-tokens of %d): trained in %.2f s;"
                        + " validation %d bytes -> %d tokens = %.3f bytes/token (encoded in %.2f s)%n",
                texts.stream().mapToLong(Corpus::utf8Length).sum(), r.distinctWords(), r.totalWords(), trainSeconds,
                Corpus.utf8Length(val), ids.length, Corpus.utf8Length(val) / (double) ids.length, encSec);
    }

    @Test
    void vocabularyLayout() {
        assertEquals(4096, tok.vocabSize());
        assertEquals(4096 - 257, tok.mergeCount());
        assertEquals(0, tok.eosId());
        assertEquals(Tokenizer.END_OF_TEXT, tok.token(0));
        assertEquals("!", tok.token(1 + '!'));
        assertEquals("Ġ", tok.token(1 + ' ')); // GPT-2's printable stand-in for the space byte
        assertTrue(trainSeconds < 60, "BPE training took " + trainSeconds + " s");
    }

    /**
     * The Austen vocab-4096 tokenizer is pinned: a change to the pre-tokenizer, the counting or the
     * tie-breaking would silently make validation numbers incomparable with earlier runs.
     */
    @Test
    void austenMergesArePinned() {
        StringBuilder sb = new StringBuilder();
        for (String[] m : tok.merges()) sb.append(sb.isEmpty() ? "" : "\n").append(m[0]).append(' ').append(m[1]);
        assertArrayEquals(new String[] {"h", "e"}, tok.merges().get(0));
        assertArrayEquals(new String[] {"Ġ", "t"}, tok.merges().get(1));
        assertEquals("cdb9b632e333715074a48d3c4966f62a99e33729b7f320a5bdcb4105ca555cfe",
                Corpus.sha256(sb.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        assertEquals(131_147, tok.encode(corpus.validation().text()).length);
    }

    @Test
    void roundTripsAustenAndUnicode() {
        String val = corpus.validation().text();
        assertEquals(val, tok.decode(tok.encode(val)));
        for (String s : samples()) {
            assertEquals(s, tok.decode(tok.encode(s)), () -> "round trip of " + s);
        }
    }

    @Test
    void compressesEnglish() {
        String val = corpus.validation().text();
        double bpt = Corpus.utf8Length(val) / (double) tok.encode(val).length;
        assertTrue(bpt > 3.0, "bytes/token " + bpt);
        // frequent words are single tokens with GPT-2's leading-space convention
        assertArrayEquals(new int[] {tok.encode(" the")[0]}, tok.encode(" the"));
    }

    @Test
    void specialTokenIsSplitOut() {
        int[] ids = tok.encode("Emma.<|endoftext|>Anne");
        int eot = 0;
        int count = 0;
        for (int id : ids) if (id == eot) count++;
        assertEquals(1, count);
        assertEquals("Emma.<|endoftext|>Anne", tok.decode(ids));
    }

    @Test
    void trainingIsDeterministic() {
        List<String> texts = List.of(corpus.train().get(0).text().substring(0, 200_000));
        BpeTokenizer a = BpeTrainer.train(texts, 600);
        BpeTokenizer b = BpeTrainer.train(texts, 600);
        assertEquals(a.mergeCount(), b.mergeCount());
        List<String[]> ma = a.merges(), mb = b.merges();
        for (int i = 0; i < ma.size(); i++) assertArrayEquals(ma.get(i), mb.get(i), "merge " + i);
        assertEquals(a.toJson(), b.toJson());
    }

    @Test
    void savedJsonReloadsIdentically(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("tokenizer.json");
        tok.save(f);
        BpeTokenizer re = BpeTokenizer.load(f);
        String text = corpus.validation().text().substring(0, 50_000);
        assertArrayEquals(tok.encode(text), re.encode(text));
        assertEquals(tok.vocabSize(), re.vocabSize());
        assertInstanceOf(BpeTokenizer.class, Tokenizer.loadFast(f));
        String json = Files.readString(f);
        assertTrue(json.contains("\"type\" : \"BPE\""));
        assertTrue(json.contains("\"pre_tokenizer\""));
    }

    @Test
    void djlEncodesIdentically(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("tokenizer.json");
        tok.save(f);
        try (Tokenizer djl = Tokenizer.load(f)) {
            assertInstanceOf(DjlTokenizer.class, djl);
            assertEquals(4096, djl.vocabSize());
            assertEquals(0, djl.eosId());
            String val = corpus.validation().text();
            List<String> texts = new ArrayList<>(samples());
            texts.add(val.substring(0, 5000));
            texts.add(val.substring(200_000, 206_000));
            texts.add(val.substring(val.length() - 3000));
            for (String s : texts) {
                int[] ours = tok.encode(s);
                int[] theirs = djl.encode(s);
                assertArrayEquals(theirs, ours, () -> "encoding differs for: " + s.substring(0, Math.min(80, s.length())));
                assertEquals(s, djl.decode(theirs));
            }
        }
    }

    /** Random strings over tricky code points (Unicode spaces, digits, marks, emoji, surrogates): same ids as DJL. */
    @Test
    void djlAgreesOnRandomUnicode(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("tokenizer.json");
        tok.save(f);
        int[] pool = {' ', ' ', 'a', 'Z', 'e', '1', '9', '\'', 's', 't', '.', ',', '-', '_', '\t', '\n', '\r', 0x0B, 0x0C,
            0x85, 0xA0, 0x1680, 0x180E, 0x2000, 0x2007, 0x200A, 0x200B, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF,
            0xB2, 0xBD, 0x0663, 0x0966, 0x2160, 0xFF11, 0x00E9, 0x0301, 0x0915, 0x093F, 0x05D0, 0x4E2D, 0xAC00, 0x00DF,
            0x1F600, 0x1F44D, 0x1F3FD, 0x200D, 0xFE0F, 0x1F1EC, 0x1D400, 0x10400, 0x00A3, 0x20AC, 0x2014, 0x201C, '<', '|', '>'};
        java.util.Random rnd = new java.util.Random(7);
        try (Tokenizer djl = Tokenizer.load(f)) {
            for (int k = 0; k < 300; k++) {
                StringBuilder sb = new StringBuilder();
                int n = 1 + rnd.nextInt(40);
                for (int i = 0; i < n; i++) sb.appendCodePoint(pool[rnd.nextInt(pool.length)]);
                String s = sb.toString();
                assertArrayEquals(djl.encode(s), tok.encode(s), () -> "encoding differs for " + s.codePoints()
                        .mapToObj(c -> String.format("U+%04X", c)).toList());
                assertEquals(s, tok.decode(tok.encode(s)));
            }
            String val = corpus.validation().text();
            assertArrayEquals(djl.encode(val), tok.encode(val), "whole validation text");
        }
    }

    @Test
    void missingOrInvalidTokenizerFile(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("nope.json");
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> Tokenizer.load(missing));
        assertTrue(e.getMessage().contains("nope.json"), e.getMessage());
        Path junk = dir.resolve("junk.json");
        Files.writeString(junk, "{ this is not json");
        e = assertThrows(Gsa4jException.class, () -> Tokenizer.load(junk));
        assertTrue(e.getMessage().contains("junk.json") && e.getMessage().contains("JSON"), e.getMessage());
        Path empty = dir.resolve("empty.json");
        Files.writeString(empty, "");
        e = assertThrows(Gsa4jException.class, () -> Tokenizer.loadFast(empty));
        assertTrue(e.getMessage().contains("empty"), e.getMessage());
        Path other = dir.resolve("other.json");
        Files.writeString(other, "{\"a\": 1}");
        e = assertThrows(Gsa4jException.class, () -> Tokenizer.load(other));
        assertTrue(e.getMessage().contains("model"), e.getMessage());
        Path nonsense = dir.resolve("nonsense.json");
        Files.writeString(nonsense, "{\"model\": {\"type\": \"Nonsense\", \"vocab\": {\"a\": 0}}}");
        e = assertThrows(Gsa4jException.class, () -> Tokenizer.load(nonsense));
        assertTrue(e.getMessage().contains("nonsense.json"), e.getMessage());
        System.out.println("invalid tokenizer.json message: " + e.getMessage());
        Path brokenMerge = dir.resolve("merge.json");
        tok.save(brokenMerge);
        Files.writeString(brokenMerge, Files.readString(brokenMerge).replaceFirst("\"merges\" : \\[", "\"merges\" : [ \"Ġ qqqq\","));
        e = assertThrows(Gsa4jException.class, () -> Tokenizer.loadFast(brokenMerge));
        assertTrue(e.getMessage().contains("merge.json") && e.getMessage().contains("model.merges"), e.getMessage());
    }

    @Test
    void vocabTooSmallIsRejected() {
        assertThrows(Gsa4jException.class, () -> BpeTrainer.train(List.of("abc"), 100));
    }

    static List<String> samples() {
        return List.of(
                "",
                "a",
                "Hello, world! It's 2026; isn't it? I'll say we've 3.14159 reasons.",
                "Ünïcödé — “quotes”, £5, naïve café, Straße, 東京, Москва, العربية",
                "emoji: 😀👍🏽 👨‍👩‍👧 🇬🇧 and a lone ☃",
                "   leading spaces, trailing spaces   ",
                "tabs\t\tand\nnew\n\n\nlines\r\n  \n\t end",
                "          ten spaces then word",
                "'s 're 've 'm 'll 'd 'S 'T don't",
                "12345678901234567890 numbers 1st 2nd ³ ½ ٣",
                "\u00a0non-breaking\u00a0space and\u2003em\u3000ideographic",
                "<|endoftext|><|endoftext|>double<|endoftext|");
    }
}
