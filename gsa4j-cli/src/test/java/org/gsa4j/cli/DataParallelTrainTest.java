package org.gsa4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.train.Checkpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.gsa4j.cli.GenerateCommandTest.run;
import static org.gsa4j.cli.TinyModel.SIZE;
import static org.gsa4j.cli.TinyModel.with;
import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code gsa4j train --nproc-per-node 2} on the CPU: two ranks (processes) that sum their gradients over the
 * process group's TCP links. Two ranks with {@code grad_accum} 2 add the same two micro-batch gradients in the
 * same order as one process with {@code grad_accum} 2, so the runs must agree bit for bit (losses, gradient norms,
 * weights), also when a run is resumed with another number of ranks; a killed rank ends the run with one line
 * on the rank left, and the last checkpoint stays whole.
 */
class DataParallelTrainTest {
    @TempDir
    static Path dir;
    static Path texts;
    /** One process, grad_accum 2, 4 updates, a checkpoint every 2: what every other run is compared with. */
    static Path reference;

    @BeforeAll
    static void referenceRun() throws Exception {
        texts = TinyModel.texts(dir);
        reference = dir.resolve("reference");
        GenerateCommandTest.Run r = run(train(reference, "--steps", "4"));
        assertEquals(0, r.exitCode(), r.err());
    }

    private static String[] train(Path out, String... args) {
        return with(with(new String[] {"train", "--data", texts.toString(), "--out", out.toString(), "--grad-accum", "2",
                "--checkpoint-every", "2"}, args), SIZE);
    }

    @Test
    void twoRanksTrainBitForBitAsOneProcessAndOnlyRankZeroWrites() throws Exception {
        Path out = dir.resolve("two");
        GenerateCommandTest.Run r = run(train(out, "--steps", "4", "--nproc-per-node", "2"));
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(List.of("[rank 0] trained gsa to step 4"), r.out().lines().filter(l -> l.contains("trained gsa")).map(l -> l.replaceAll(" in .*", "")).toList(),
                r.out());
        assertTrue(r.out().lines().noneMatch(l -> l.startsWith("[rank 1]")), "rank 1 prints nothing: " + r.out());
        assertTrue(r.err().contains("[rank 0] model: gsa") && r.err().contains("in each of 2 ranks"), r.err());
        assertEquals(List.of(2L, 4L), steps(out));
        assertEquals(2, Checkpoints.load(Checkpoints.latest(out.resolve("checkpoints"))).state().path("data").path("world_size").asInt());
        assertEquals(trainRecords(reference), trainRecords(out));
        assertEquals(validation(reference), validation(out));
        assertSameWeights(reference, out, 4);
        assertSameWeights(reference, out, 2);
    }

    @Test
    void aRunResumesWithAnotherNumberOfRanks() throws Exception {
        // two ranks, then one process
        Path a = dir.resolve("two-then-one");
        GenerateCommandTest.Run r = run(train(a, "--steps", "2", "--nproc-per-node", "2"));
        assertEquals(0, r.exitCode(), r.err());
        r = run(train(a, "--steps", "4", "--resume"));
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(trainRecords(reference), trainRecords(a));
        assertSameWeights(reference, a, 4);
        assertEquals(1, Checkpoints.load(Checkpoints.latest(a.resolve("checkpoints"))).state().path("data").path("world_size").asInt());

        // one process, then two ranks
        Path b = dir.resolve("one-then-two");
        r = run(train(b, "--steps", "2"));
        assertEquals(0, r.exitCode(), r.err());
        r = run(train(b, "--steps", "4", "--resume", "--nproc-per-node", "2"));
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.err().contains("[rank 0] resuming from " + b.resolve("checkpoints")), r.err());
        assertEquals(trainRecords(reference), trainRecords(b));
        assertSameWeights(reference, b, 4);

        // grad_accum must split over the ranks: refused on every rank with the same line, before any update
        Path c = dir.resolve("three");
        r = run(train(c, "--steps", "4", "--nproc-per-node", "3"));
        assertNotEquals(0, r.exitCode(), r.err());
        assertTrue(r.err().contains("grad_accum 2 does not split over 3 ranks"), r.err());
        assertTrue(Checkpoints.list(c.resolve("checkpoints")).isEmpty());
    }

    @Test
    void aKilledRankEndsTheRunWithOneLineAndTheLastCheckpointStaysWhole() throws Exception {
        withRanksStoppedAfterwards(dir.resolve("killed"), this::killedRank);
    }

    private void killedRank(Path out) throws Exception {
        CompletableFuture<GenerateCommandTest.Run> running = CompletableFuture.supplyAsync(
                () -> run(train(out, "--steps", "100000", "--nproc-per-node", "2")), DataParallelTrainTest::thread);
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (Checkpoints.list(out.resolve("checkpoints")).isEmpty()) {
            assertTrue(System.nanoTime() < until && !running.isDone(), "no checkpoint was written");
            Thread.sleep(20);
        }
        ProcessHandle rank1 = rank(out, 1);
        assertTrue(rank1.destroyForcibly(), "SIGKILL to rank 1");
        GenerateCommandTest.Run r = running.get(120, TimeUnit.SECONDS);
        assertEquals(137, r.exitCode(), "the launcher's status is the killed rank's (128 + SIGKILL): " + r.err());
        List<String> rank0 = r.err().lines().filter(l -> l.startsWith("[rank 0] gsa4j:")).toList();
        assertEquals(1, rank0.size(), r.err());
        assertTrue(rank0.getFirst().matches("\\[rank 0] gsa4j: rank 1 of 2 \\(pid " + rank1.pid() + " on .+\\) ended without finishing \\(.+\\)"), rank0.getFirst());
        assertTrue(r.err().lines().anyMatch(l -> l.equals("gsa4j: rank 1 exited with status 137; the other ranks stop too")), r.err());
        assertNull(rank(out, 0), "rank 0 ended too");
        // the newest checkpoint loads, and nothing half-written lies beside the checkpoints
        Path ckpts = out.resolve("checkpoints");
        Checkpoints.load(Checkpoints.latest(ckpts));
        try (Stream<Path> s = Files.list(ckpts)) {
            for (Path p : s.toList()) assertTrue(p.getFileName().toString().matches("step-\\d{8}"), "left in " + ckpts + ": " + p.getFileName());
        }
    }

    @Test
    void aStopRequestOnOneRankStopsEveryRankAfterTheSameUpdateWithACheckpoint() throws Exception {
        withRanksStoppedAfterwards(dir.resolve("stopped"), this::stopOneRank);
    }

    private void stopOneRank(Path out) throws Exception {
        CompletableFuture<GenerateCommandTest.Run> running = CompletableFuture.supplyAsync(
                () -> run(train(out, "--steps", "100000", "--nproc-per-node", "2")), DataParallelTrainTest::thread);
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(out.resolve("metrics.jsonl")) || Files.readAllLines(out.resolve("metrics.jsonl")).size() < 3) {
            assertTrue(System.nanoTime() < until && !running.isDone(), "no updates were logged");
            Thread.sleep(20);
        }
        assertTrue(rank(out, 1).destroy(), "SIGTERM to rank 1 alone");
        GenerateCommandTest.Run r = running.get(120, TimeUnit.SECONDS);
        long stop = Checkpoints.stepOf(Checkpoints.latest(out.resolve("checkpoints")));
        List<String> logged = trainRecords(out);
        assertTrue(logged.getLast().startsWith("step=" + stop + " "), "rank 0 stopped at the checkpoint's update: " + logged.getLast());
        assertTrue(r.err().lines().anyMatch(l -> l.startsWith("[rank 0] gsa4j: stopped at step " + stop + "; resume with --resume")), r.err());
        Checkpoints.load(Checkpoints.latest(out.resolve("checkpoints")));
        assertNull(rank(out, 0), "rank 0 ended");
    }

    interface RunTest {
        void run(Path out) throws Exception;
    }

    /** Runs {@code test}, then kills what a failure left running of the run in {@code out}, so that it does not train on. */
    private static void withRanksStoppedAfterwards(Path out, RunTest test) throws Exception {
        try {
            test.run(out);
        } finally {
            for (int r = 0; r < 2; r++) {
                ProcessHandle p = rank(out, r);
                if (p != null) p.destroyForcibly();
            }
        }
    }

    private static Thread thread(Runnable r) {
        Thread t = new Thread(r, "launcher");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** The live rank {@code rank} of the run writing into {@code out} (a child of this JVM), or null. */
    private static ProcessHandle rank(Path out, int rank) throws IOException {
        for (ProcessHandle p : ProcessHandle.current().descendants().toList()) {
            String cmd, env;
            try {
                cmd = Files.readString(Path.of("/proc", Long.toString(p.pid()), "cmdline"), StandardCharsets.ISO_8859_1);
                env = Files.readString(Path.of("/proc", Long.toString(p.pid()), "environ"), StandardCharsets.ISO_8859_1);
            } catch (IOException gone) {
                continue;
            }
            if (p.isAlive() && cmd.contains(out.toString()) && List.of(env.split("\0")).contains("RANK=" + rank)) return p;
        }
        return null;
    }

    static List<Long> steps(Path out) {
        return Checkpoints.list(out.resolve("checkpoints")).stream().map(Checkpoints::stepOf).toList();
    }

    /** step, loss, lr and gradient norm of every update in metrics.jsonl (not the timings). */
    static List<String> trainRecords(Path out) throws IOException {
        return records(out, "train", List.of("step", "loss", "lr", "grad_norm", "tokens"));
    }

    static List<String> validation(Path out) throws IOException {
        return records(out, "val", List.of("step", "val_loss"));
    }

    private static List<String> records(Path out, String type, List<String> fields) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<String> rows = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode n = json.readTree(line);
            if (!type.equals(n.path("type").asText())) continue;
            StringBuilder b = new StringBuilder();
            for (String f : fields) b.append(f).append('=').append(n.get(f)).append(' ');
            rows.add(b.toString().strip());
        }
        assertFalse(rows.isEmpty(), "no " + type + " records in " + out);
        return rows;
    }

    static void assertSameWeights(Path expected, Path actual, long step) {
        Map<String, Tensor> e = Checkpoints.load(checkpoint(expected, step)).model().params();
        Map<String, Tensor> a = Checkpoints.load(checkpoint(actual, step)).model().params();
        assertEquals(e.keySet(), a.keySet());
        for (String name : e.keySet()) assertArrayEquals(e.get(name).f, a.get(name).f, name + " at step " + step);
    }

    private static Path checkpoint(Path out, long step) {
        return Checkpoints.list(out.resolve("checkpoints")).stream().filter(p -> Checkpoints.stepOf(p) == step).findFirst()
                .orElseThrow(() -> new AssertionError("no checkpoint of step " + step + " in " + out));
    }
}
