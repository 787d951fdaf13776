package org.gsa4j.reliability;

import org.gsa4j.Gsa4jException;
import org.gsa4j.data.BpeTokenizer;
import org.gsa4j.data.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/**
 * One named test per crash the fuzzers found (docs/RELIABILITY.md lists them); the crashing inputs
 * themselves are replayed by {@link LoaderFuzzCiTest} from {@code LoaderFuzzTestInputs/}.
 */
class FuzzRegressionTest {
    static final Path CORPUS = LoaderFuzzCiTest.CORPUS;

    @TempDir
    Path tmp;

    Path tokenizerFile(String json) throws IOException {
        Path f = tmp.resolve("tokenizer.json");
        Files.writeString(f, json);
        return f;
    }

    String seedTokenizer() {
        return new String(Seeds.tokenizers().get(0), java.nio.charset.StandardCharsets.UTF_8);
    }

    /** Bug 1: a continuing_subword_prefix longer than a merge's right part made the native library panic (JVM abort). */
    @Test
    void subwordPrefixLongerThanAMergePartIsRefusedBeforeTheNativeLibrary() throws IOException {
        String json = seedTokenizer().replace("\"continuing_subword_prefix\" : null", "\"continuing_subword_prefix\" : \"" + "a".repeat(50) + "\"");
        assertNotEquals(seedTokenizer(), json);
        Path f = tokenizerFile(json);
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> Tokenizer.loadFast(f).close());
        assertTrue(e.getMessage().startsWith(f.toString()) && e.getMessage().contains("continuing_subword_prefix"), e.getMessage());
        assertThrows(Gsa4jException.class, () -> Tokenizer.load(f).close());
    }

    /** Bug 2: JSON nested past serde_json's recursion limit in the decoder made the native library panic (JVM abort). */
    @Test
    void deeplyNestedTokenizerJsonIsRefusedBeforeTheNativeLibrary() throws IOException {
        String json = seedTokenizer().replaceFirst("\"trim_offsets\" : true", "\"trim_offsets\" : " + "[".repeat(200) + "]".repeat(200));
        Path f = tokenizerFile(json);
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> Tokenizer.load(f).close());
        assertTrue(e.getMessage().contains("nested"), e.getMessage());
    }

    /** Bugs 3–5: a token id of 2^31−1 / 1e9 / 1e8 sized the pure-Java encoder's arrays (NegativeArraySize, OOM, minutes of GC). */
    @Test
    void hostileTokenIdsDoNotSizeAllocations() throws IOException {
        for (String id : new String[] {"2147483647", "1000000000", "100000000"}) {
            String json = seedTokenizer().replaceFirst("\"¢\" : \\d+", "\"¢\" : " + id);
            assertNotEquals(seedTokenizer(), json, "seed lacks the token");
            Path f = tokenizerFile(json);
            long allocated = ResourceLimitsTest.allocatedBy(() -> assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
                Gsa4jException e = assertThrows(Gsa4jException.class, () -> BpeTokenizer.load(f));
                assertTrue(e.getMessage().contains("sparse ids"), e.getMessage());
                // loadFast hands such a file to the native library, which keeps a hash map: fine either way
                try (Tokenizer t = Tokenizer.loadFast(f)) {
                    t.encode(Seeds.TEXT);
                } catch (Gsa4jException ok) {
                    assertTrue(ok.getMessage().startsWith(f.toString()), ok.getMessage());
                }
            }));
            assertTrue(allocated < 256L << 20, id + ": allocated " + allocated);
        }
    }

    /**
     * Bug 8: merging one pre-token rescanned it once per merge applied (O(n·merges)): 320,000
     * letters without a space took 12 s with a 4,096-token Austen vocabulary. The heap-based merge
     * is O(n log n) and gives the same tokens.
     */
    @Test
    void encodingAPreTokenOfAMegabyteIsFast() {
        String text = org.gsa4j.data.Corpus.austen().validation().text();
        BpeTokenizer tok = org.gsa4j.data.BpeTrainer.train(java.util.List.of(text.substring(0, 200_000)), 2048);
        java.util.SplittableRandom rng = new java.util.SplittableRandom(8);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 1 << 20; i++) sb.append((char) ('a' + rng.nextInt(26)));
        String word = sb.toString();
        int[] ids = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> tok.encode(word));
        assertEquals(word, tok.decode(ids));
        // Same tokens as the plain algorithm (repeatedly merge every occurrence of the best pair) on a prefix.
        String prefix = word.substring(0, 3000);
        assertArrayEquals(plainBpe(tok, prefix), tok.encode(prefix));
    }

    /** The textbook BPE loop on one pre-token, through the public merge list. */
    static int[] plainBpe(BpeTokenizer tok, String piece) {
        java.util.List<String> syms = new java.util.ArrayList<>();
        for (char c : piece.toCharArray()) syms.add(String.valueOf(c)); // ASCII letters: one byte-level char each
        java.util.Map<String, Integer> rank = new java.util.HashMap<>();
        java.util.List<String[]> merges = tok.merges();
        for (int r = merges.size() - 1; r >= 0; r--) rank.put(merges.get(r)[0] + " " + merges.get(r)[1], r);
        while (true) {
            int best = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < syms.size(); i++) best = Math.min(best, rank.getOrDefault(syms.get(i) + " " + syms.get(i + 1), Integer.MAX_VALUE));
            if (best == Integer.MAX_VALUE) break;
            String a = merges.get(best)[0], b = merges.get(best)[1];
            java.util.List<String> out = new java.util.ArrayList<>();
            for (int i = 0; i < syms.size(); ) {
                if (i + 1 < syms.size() && syms.get(i).equals(a) && syms.get(i + 1).equals(b)) {
                    out.add(a + b);
                    i += 2;
                } else {
                    out.add(syms.get(i++));
                }
            }
            syms = out;
        }
        java.util.Map<String, Integer> idOf = new java.util.HashMap<>();
        for (int id = 0; id < tok.vocabSize(); id++) if (tok.token(id) != null) idOf.putIfAbsent(tok.token(id), id);
        int[] ids = new int[syms.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = idOf.getOrDefault(syms.get(i), -1);
        return ids;
    }
}
