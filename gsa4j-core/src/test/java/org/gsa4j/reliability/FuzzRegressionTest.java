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
}
