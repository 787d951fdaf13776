package org.gsa4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.gsa4j.train.Checkpoints;
import org.gsa4j.train.MetricsLog;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.gsa4j.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** train / eval / mqar end to end on tiny inputs, and every bad input as one clear line. */
class TrainCommandsTest {
    @TempDir
    static Path dir;
    static Path texts;

    static final String[] TINY = {"--arch", "gsa", "--hidden-size", "16", "--num-hidden-layers", "1", "--num-heads", "2", "--num-slots", "4",
            "--batch-size", "2", "--seq-len", "16", "--vocab-size", "300", "--no-progress", "--eval-tokens", "64"};

    @BeforeAll
    static void corpus() throws Exception {
        texts = Files.createDirectories(dir.resolve("texts"));
        StringBuilder a = new StringBuilder(), b = new StringBuilder();
        String[] words = {"the", "letter", "was", "written", "by", "Anne", "to", "Captain", "Wentworth", "in", "Bath", "and", "he", "read", "it"};
        java.util.SplittableRandom r = new java.util.SplittableRandom(1);
        for (int i = 0; i < 3000; i++) {
            a.append(words[r.nextInt(words.length)]).append(i % 12 == 11 ? ".\n" : " ");
            if (i < 800) b.append(words[r.nextInt(words.length)]).append(i % 12 == 11 ? ".\n" : " ");
        }
        Files.writeString(texts.resolve("emma.txt"), a);
        Files.writeString(texts.resolve("persuasion.txt"), b);
    }

    private static String[] args(String... extra) {
        List<String> l = new ArrayList<>(List.of(extra));
        for (int i = 0; i < TINY.length; i++) {
            boolean hasValue = i + 1 < TINY.length && !TINY[i + 1].startsWith("--");
            if (!l.contains(TINY[i])) {
                l.add(TINY[i]);
                if (hasValue) l.add(TINY[i + 1]);
            }
            if (hasValue) i++;
        }
        return l.toArray(String[]::new);
    }

    @Test
    void trainResumeEvalAndGenerateEndToEnd() throws Exception {
        Path out = dir.resolve("run");
        GenerateCommandTest.Run r = run(args("train", "--data", texts.toString(), "--out", out.toString(), "--steps", "4", "--checkpoint-every", "2"));
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("trained gsa to step 4"), r.out());
        assertTrue(r.err().contains("step 4/4"), r.err());
        assertEquals(List.of(2L, 4L), Checkpoints.list(out.resolve("checkpoints")).stream().map(Checkpoints::stepOf).toList());
        assertTrue(Files.size(out.resolve("loss.png")) > 1000);

        // a second run into the same directory must not clobber it silently
        r = run(args("train", "--data", texts.toString(), "--out", out.toString(), "--steps", "4"));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("already has checkpoints") && r.err().contains("--resume"), r.err());

        // resume and extend to 6 updates: the metrics file holds updates 1..6 once each
        r = run(args("train", "--data", texts.toString(), "--out", out.toString(), "--resume", "--steps", "6"));
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.err().contains("resuming from") && r.out().contains("to step 6"), r.err() + r.out());
        List<Long> steps = new ArrayList<>();
        for (JsonNode n : MetricsLog.read(out.resolve("metrics.jsonl"))) if (n.get("type").asText().equals("train")) steps.add(n.get("step").asLong());
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), steps);

        Path ck = Checkpoints.latest(out.resolve("checkpoints"));
        r = run("eval", "--model", ck.toString(), "--text", texts.resolve("persuasion.txt").toString(), "--chunk", "37", "--json", "--no-progress");
        assertEquals(0, r.exitCode(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertTrue(j.get("perplexity").asDouble() > 1 && j.get("bits_per_byte").asDouble() > 0, r.out());
        assertEquals(Files.size(texts.resolve("persuasion.txt")), j.get("bytes").asLong());

        r = run("generate", "--model", ck.toString(), "--prompt", "the letter", "--max-new-tokens", "5");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().startsWith("the letter"), r.out());
    }

    @Test
    void corruptCheckpointOnResumeIsRefusedAndKept() throws Exception {
        Path out = dir.resolve("corrupt");
        assertEquals(0, run(args("train", "--data", texts.toString(), "--out", out.toString(), "--steps", "2")).exitCode());
        Path ck = Checkpoints.latest(out.resolve("checkpoints"));
        Path opt = ck.resolve(Checkpoints.OPTIMIZER);
        byte[] b = Files.readAllBytes(opt);
        b[b.length / 2] ^= 1;
        Files.write(opt, b);
        GenerateCommandTest.Run r = run(args("train", "--data", texts.toString(), "--out", out.toString(), "--resume", "--steps", "4"));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("gsa4j: cannot resume from the checkpoint") && r.err().contains("checksum mismatch"), r.err());
        assertTrue(Files.isRegularFile(opt), "the checkpoint is left as it was");
    }

    @Test
    void nonFiniteLossNamesTheStepAndKeepsTheLastGoodCheckpoint() {
        Path out = dir.resolve("nan");
        GenerateCommandTest.Run r = run(args("train", "--data", texts.toString(), "--out", out.toString(), "--steps", "5",
                "--checkpoint-every", "1", "--lr", "1e30", "--warmup-steps", "0"));
        assertEquals(2, r.exitCode(), r.err());
        assertTrue(r.err().contains("training stopped at step 2") && r.err().contains("step-00000001"), r.err());
        assertEquals(List.of(1L), Checkpoints.list(out.resolve("checkpoints")).stream().map(Checkpoints::stepOf).toList());
    }

    @Test
    void badInputsAreOneClearLine() throws Exception {
        Path out = dir.resolve("bad");
        GenerateCommandTest.Run r = run(args("train", "--data", dir.resolve("missing").toString(), "--out", out.toString()));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("no such data directory"), r.err());

        Path empty = Files.createDirectories(dir.resolve("empty"));
        Files.writeString(empty.resolve("a.txt"), "");
        Files.writeString(empty.resolve("persuasion.txt"), "");
        r = run(args("train", "--data", empty.toString(), "--out", out.toString()));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().startsWith("gsa4j: ") && r.err().contains("empty"), r.err());

        r = run(args("train", "--data", texts.toString(), "--out", out.toString(), "--seq-len", "1000000"));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("longer than the data"), r.err());

        Path cfg = dir.resolve("run.json");
        Files.writeString(cfg, "{\"model\": {\"model_type\": \"gsa\", \"vocab_size\": 999, \"hidden_size\": 16, \"num_hidden_layers\": 1,"
                + " \"num_heads\": 2, \"num_slots\": 4}, \"train\": {\"steps\": 2}}");
        r = run(args("train", "--data", texts.toString(), "--out", out.toString(), "--config", cfg.toString()));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("has 300 tokens but the model's vocab_size is 999"), r.err());

        Files.writeString(cfg, "{\"train\": {\"stepz\": 2}}");
        r = run(args("train", "--data", texts.toString(), "--out", out.toString(), "--config", cfg.toString()));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("stepz") && r.err().contains("unknown training setting"), r.err());

        Path file = Files.writeString(dir.resolve("plain-file"), "x");
        r = run(args("train", "--data", texts.toString(), "--out", file.resolve("sub").toString()));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("not writable"), r.err());

        r = run(args("train", "--data", texts.toString(), "--out", dir.resolve("nothing").toString(), "--resume"));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("no checkpoint to resume from"), r.err());

        Path emptyText = Files.writeString(dir.resolve("empty.txt"), "");
        r = run("eval", "--model", dir.resolve("no-model").toString(), "--text", emptyText.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("config.json"), r.err());
    }

    @Test
    void mqarPrintsAccuracyAsJson() throws Exception {
        GenerateCommandTest.Run r = run("mqar", "--vocab-size", "32", "--seq-len", "16", "--kv-pairs", "2", "--train-examples", "64",
                "--test-examples", "16", "--steps", "3", "--batch-size", "8", "--hidden-size", "16", "--num-heads", "2", "--num-slots", "4", "--no-progress");
        assertEquals(0, r.exitCode(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals("gsa", j.get("model_type").asText());
        assertEquals(32, j.get("labelled_positions").asInt());
        assertTrue(j.get("accuracy").asDouble() >= 0 && j.get("accuracy").asDouble() <= 1);
        r = run("mqar", "--vocab-size", "16", "--seq-len", "16", "--kv-pairs", "2");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("must be larger than the sequence length"), r.err());
    }
}
