package org.gsa4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.gsa4j.cli.GenerateCommandTest.fixture;
import static org.gsa4j.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** generate's controls: end of sequence, stop strings, repetition penalty, prompt sources, echo, JSON, ranges, non-finite numbers. */
class GenerateOptionsTest {
    @TempDir
    static Path dir;
    static Path model;
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void tinyModel() throws Exception {
        model = TinyModel.train(dir, "run", 30);
    }

    private static JsonNode json(GenerateCommandTest.Run r) throws Exception {
        assertEquals(0, r.exitCode(), r.err());
        return JSON.readTree(r.out());
    }

    private static List<Long> ids(JsonNode j) {
        List<Long> out = new ArrayList<>();
        j.get("ids").forEach(n -> out.add(n.asLong()));
        return out;
    }

    @Test
    void theModelsEndOfSequenceTokenStopsGeneration() throws Exception {
        Path ref = fixture("gsa");
        JsonNode all = json(run("generate", "--model", ref.toString(), "--prompt-ids", "1,2,3", "--temperature", "0", "-n", "12", "--json"));
        assertEquals("length", all.get("stop_reason").asText());
        List<Long> free = ids(all);
        assertEquals(12, free.size());
        // the same model whose config names the fourth generated token as end of sequence
        Path copy = Files.createDirectories(dir.resolve("eos-model"));
        for (String f : new String[] {"model.safetensors"}) Files.copy(ref.resolve(f), copy.resolve(f));
        ObjectNode cfg = (ObjectNode) JSON.readTree(ref.resolve("config.json").toFile());
        cfg.put("eos_token_id", free.get(3));
        JSON.writeValue(copy.resolve("config.json").toFile(), cfg);
        JsonNode stopped = json(run("generate", "--model", copy.toString(), "--prompt-ids", "1,2,3", "--temperature", "0", "-n", "12", "--json"));
        assertEquals("eos", stopped.get("stop_reason").asText());
        assertEquals(free.subList(0, free.indexOf(free.get(3))), ids(stopped));
        JsonNode ignored = json(run("generate", "--model", copy.toString(), "--prompt-ids", "1,2,3", "--temperature", "0", "-n", "12", "--json",
                "--ignore-eos"));
        assertEquals(free, ids(ignored));
    }

    @Test
    void aStopStringEndsTheTextBeforeIt() throws Exception {
        JsonNode full = json(run("generate", "-m", model.toString(), "-p", "the letter", "--temperature", "0", "-n", "30", "--ignore-eos", "--json"));
        String text = full.get("text").asText();
        assertTrue(text.length() > 12, text);
        String stop = text.substring(8, 11);
        JsonNode cut = json(run("generate", "-m", model.toString(), "-p", "the letter", "--temperature", "0", "-n", "30", "--ignore-eos", "--json",
                "--stop", "zzz", "--stop", stop));
        assertEquals("stop", cut.get("stop_reason").asText());
        assertEquals(text.substring(0, text.indexOf(stop)), cut.get("text").asText());
        GenerateCommandTest.Run printed = run("generate", "-m", model.toString(), "-p", "the letter", "--temperature", "0", "-n", "30",
                "--ignore-eos", "--stop", stop);
        assertEquals("the letter" + text.substring(0, text.indexOf(stop)) + System.lineSeparator(), printed.out());
    }

    @Test
    void repetitionPenaltyChangesAGreedyLoopAndIsRangeChecked() throws Exception {
        Path ref = fixture("gsa"); // its greedy continuation repeats 182 8 182 8 ...
        List<Long> plain = ids(json(run("generate", "--model", ref.toString(), "--prompt-ids", "1,2,3", "--temperature", "0", "-n", "16", "--json")));
        List<Long> penalized = ids(json(run("generate", "--model", ref.toString(), "--prompt-ids", "1,2,3", "--temperature", "0", "-n", "16", "--json",
                "--repetition-penalty", "5")));
        assertNotEquals(plain, penalized);
        assertTrue(penalized.stream().distinct().count() > plain.stream().distinct().count(), plain + " vs " + penalized);
        for (String bad : new String[] {"0", "-1", "NaN"}) {
            GenerateCommandTest.Run r = run("generate", "--model", ref.toString(), "--prompt-ids", "1", "--repetition-penalty", bad);
            assertEquals(2, r.exitCode(), bad);
            assertTrue(r.err().contains("--repetition-penalty must be a number > 0"), r.err());
        }
    }

    @Test
    void samplingOptionsAreRangeChecked() {
        Path ref;
        try {
            ref = fixture("gsa");
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        String[][] bad = {{"--top-p", "2"}, {"--top-p", "-0.1"}, {"--top-k", "-3"}, {"--temperature", "-1"}, {"--temperature", "Infinity"}};
        for (String[] b : bad) {
            GenerateCommandTest.Run r = run("generate", "--model", ref.toString(), "--prompt-ids", "1,2", "-n", "2", b[0], b[1]);
            assertEquals(2, r.exitCode(), String.join(" ", b) + ": " + r.err());
            assertTrue(r.err().startsWith("gsa4j: ") && r.err().contains(b[0].substring(2)), r.err());
        }
        // top-p 0 keeps only the most likely token (transformers and llama.cpp accept it)
        GenerateCommandTest.Run r = run("generate", "--model", ref.toString(), "--prompt-ids", "1,2,3", "-n", "4", "--top-p", "0");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(run("generate", "--model", ref.toString(), "--prompt-ids", "1,2,3", "-n", "4", "--temperature", "0").out(), r.out());
    }

    @Test
    void thePromptComesFromAFileOrStandardInputOfAnyLength() throws Exception {
        String prompt = "the letter was written by Anne";
        String expected = run("generate", "-m", model.toString(), "-p", prompt, "--temperature", "0", "-n", "5").out();
        Path file = Files.writeString(dir.resolve("prompt.txt"), prompt);
        assertEquals(expected, run("generate", "-m", model.toString(), "--prompt-file", file.toString(), "--temperature", "0", "-n", "5").out());
        InputStream stdin = System.in;
        try {
            System.setIn(new ByteArrayInputStream(prompt.getBytes(StandardCharsets.UTF_8)));
            assertEquals(expected, run("generate", "-m", model.toString(), "-p", "-", "--temperature", "0", "-n", "5").out());
        } finally {
            System.setIn(stdin);
        }
        // longer than a command-line argument may be (128 KiB on Linux)
        Path big = Files.writeString(dir.resolve("big.txt"), (prompt + " and he read it.\n").repeat(3000));
        assertTrue(Files.size(big) > 128 * 1024);
        GenerateCommandTest.Run r = run("generate", "-m", model.toString(), "--prompt-file", big.toString(), "-n", "3", "--no-echo", "--json");
        assertTrue(json(r).get("prompt_tokens").asInt() > 20_000, r.out());
        Path bad = Files.write(dir.resolve("bad-prompt.txt"), new byte[] {'a', 'b', (byte) 0xC3});
        r = run("generate", "-m", model.toString(), "--prompt-file", bad.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("not valid UTF-8 text at byte 2"), r.err());
    }

    @Test
    void noEchoPrintsOnlyTheContinuationAndJsonTellsEverything() throws Exception {
        String echo = run("generate", "-m", model.toString(), "-p", "the letter", "--temperature", "0", "-n", "6", "--ignore-eos").out();
        String plain = run("generate", "-m", model.toString(), "-p", "the letter", "--temperature", "0", "-n", "6", "--ignore-eos", "--no-echo").out();
        assertTrue(echo.startsWith("the letter"), echo);
        assertEquals(echo.substring("the letter".length()), plain);
        JsonNode j = json(run("generate", "-m", model.toString(), "-p", "the letter", "--temperature", "0", "-n", "6", "--ignore-eos", "--json"));
        assertEquals(plain.strip(), j.get("text").asText().strip());
        assertEquals(6, j.get("ids").size());
        assertEquals("length", j.get("stop_reason").asText());
        assertEquals("the letter", j.get("prompt").asText());
        assertTrue(j.get("prompt_tokens").asInt() > 0);
        assertTrue(j.path("timings").get("prefill_seconds").asDouble() >= 0 && j.path("timings").has("decode_tokens_per_second"), j.toString());
    }

    @Test
    void nonFiniteWeightsStopGenerateAndEvalWithOneLineAndCheckTensorsNamesThem() throws Exception {
        Path bad = TinyModel.poisoned(model, dir.resolve("nan-model"));
        GenerateCommandTest.Run r = run("generate", "-m", bad.toString(), "-p", "the letter", "-n", "8", "--temperature", "0");
        assertEquals(2, r.exitCode(), r.out() + r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().contains("not finite"), r.err());
        r = run("generate", "-m", bad.toString(), "--prompt-ids", "1,2", "-n", "8");
        assertEquals(2, r.exitCode());
        r = run("generate", "-m", bad.toString(), "-p", "the letter", "--check-tensors");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("model.layers.0.attn.q_proj.weight") && r.err().contains("NaN"), r.err());
        assertEquals("", r.out(), "nothing is generated from a model that fails the check");
        r = run("eval", "-m", bad.toString(), "--text", dir.resolve("texts/persuasion.txt").toString(), "--no-progress");
        assertEquals(2, r.exitCode());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().contains("not finite"), r.err());
        assertEquals(0, run("generate", "-m", model.toString(), "-p", "the", "-n", "2", "--check-tensors").exitCode());
    }

    @Test
    void aPlainGenerateWritesNoLoggerWarnings() throws Exception {
        GenerateCommandTest.Run r = run("generate", "-m", model.toString(), "-p", "the letter", "-n", "3");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals("", r.err());
        // tokenizers the pure-Java path cannot read go through DJL, which logs through SLF4J: bound to a no-op logger
        assertDoesNotThrow(() -> Class.forName("org.slf4j.nop.NOPServiceProvider"));
    }
}
