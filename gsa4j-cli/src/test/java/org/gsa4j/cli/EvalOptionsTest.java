package org.gsa4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.gsa4j.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** eval's progress when redirected, its unigram baseline, --max-tokens, and where invalid UTF-8 is. */
class EvalOptionsTest {
    @TempDir
    static Path dir;
    static Path model, text;

    @BeforeAll
    static void tinyModel() throws Exception {
        model = TinyModel.train(dir, "run", 10);
        text = dir.resolve("texts/persuasion.txt");
    }

    @Test
    void redirectedProgressIsPlainLines() {
        // stderr is not a terminal here: no bar, but lines (at least the closing one)
        GenerateCommandTest.Run r = run("eval", "-m", model.toString(), "--text", text.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.err().lines().anyMatch(l -> l.startsWith("eval: ") && l.contains("tokens") && l.contains("100 %")), r.err());
        assertFalse(r.err().contains("\r"), "no progress bar redraws when redirected");
        assertEquals("", run("eval", "-m", model.toString(), "--text", text.toString(), "--no-progress").err());
    }

    @Test
    void theUnigramBaselineIsPrintedBesideTheModel() throws Exception {
        GenerateCommandTest.Run r = run("eval", "-m", model.toString(), "--text", text.toString(), "--no-progress");
        assertTrue(r.out().contains("unigram baseline: "), r.out());
        JsonNode j = new ObjectMapper().readTree(run("eval", "-m", model.toString(), "--text", text.toString(), "--json", "--no-progress").out());
        double unigram = j.get("unigram_bits_per_byte").asDouble();
        assertTrue(unigram > 0.5 && unigram < 8, j.toString());
    }

    @Test
    void maxTokensScoresOnlyTheFirstTokens() throws Exception {
        ObjectMapper m = new ObjectMapper();
        JsonNode all = m.readTree(run("eval", "-m", model.toString(), "--text", text.toString(), "--json", "--no-progress").out());
        JsonNode first = m.readTree(run("eval", "-m", model.toString(), "--text", text.toString(), "--json", "--no-progress",
                "--max-tokens", "100").out());
        assertEquals(100, first.get("tokens").asLong());
        assertTrue(all.get("tokens").asLong() > 100);
        assertTrue(first.get("bytes").asLong() < all.get("bytes").asLong());
        GenerateCommandTest.Run r = run("eval", "-m", model.toString(), "--max-tokens", "0");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--max-tokens must be positive"), r.err());
    }

    @Test
    void invalidUtf8IsReportedWithItsByteOffset() throws Exception {
        Path bad = dir.resolve("bad.txt");
        Files.write(bad, "good text\nmore \u00e9 ".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        Files.write(bad, new byte[] {(byte) 0xFF, 'x', '\n'}, java.nio.file.StandardOpenOption.APPEND);
        GenerateCommandTest.Run r = run("eval", "-m", model.toString(), "--text", bad.toString(), "--no-progress");
        assertEquals(2, r.exitCode());
        assertEquals("gsa4j: " + bad + ": not valid UTF-8 text at byte 18 (0xFF)", r.err().strip());
    }
}
