package org.gsa4j.train.dist;

import org.gsa4j.data.Batcher;
import org.gsa4j.data.TokenFile;
import org.gsa4j.train.Checkpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Data-parallel runs as real processes on the CPU, started by the {@link Launcher}: the rendezvous, the
 * disjoint shards, rank-0-only checkpoints, resuming with another number of ranks, and a rank that dies or
 * hangs. The ranks are {@link RankWorker}s: the run's bookkeeping without the model's step, so that many updates
 * take no time (the real trainer over several ranks: gsa4j-cli's DataParallelTrainTest).
 */
class DistributedRunTest {

    @TempDir
    static Path dir;
    static Path tokens;

    @BeforeAll
    static void data() {
        int[] t = new int[4000];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < t.length; i++) t[i] = r.nextInt(RankWorker.VOCAB);
        tokens = dir.resolve("tokens.bin");
        TokenFile.write(tokens, t, RankWorker.VOCAB);
    }

    record Run(int status, String out, String err) {}

    /** Starts {@code world} ranks on this machine and waits for them. */
    static Run launch(int world, Path out, Map<String, String> env, String... args) throws IOException {
        Files.createDirectories(out);
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        List<String> workerArgs = new ArrayList<>(List.of(out.toString(), tokens.toString()));
        workerArgs.addAll(List.of(args));
        List<String> cmd = Launcher.javaCommand(RankWorker.class.getName(), List.of("-Xmx256m", "-XX:TieredStopAtLevel=1", "-Xshare:auto"), workerArgs);
        try (PrintStream po = new PrintStream(o, true, StandardCharsets.UTF_8); PrintStream pe = new PrintStream(e, true, StandardCharsets.UTF_8)) {
            int status = Launcher.run(new Launcher.Spec(world, 1, 0, "127.0.0.1", 0), r -> cmd, env, Duration.ofSeconds(20), po, pe);
            return new Run(status, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        }
    }

    static List<String> log(Path out, int rank) throws IOException {
        return Files.readAllLines(out.resolve("rank-" + rank + ".log"));
    }

    /** step -> (batch index -> window starts), over the given ranks' logs. */
    static TreeMap<Long, TreeMap<Long, String>> batches(Path out, int world) throws IOException {
        TreeMap<Long, TreeMap<Long, String>> all = new TreeMap<>();
        Set<Long> seen = new HashSet<>();
        for (int r = 0; r < world; r++) {
            for (String line : log(out, r)) {
                if (!line.startsWith("batch ")) continue;
                String[] f = line.split(" ", 4);
                long index = Long.parseLong(f[2]);
                assertTrue(seen.add(index), "batch " + index + " read twice (rank " + r + ")");
                all.computeIfAbsent(Long.parseLong(f[1]), s -> new TreeMap<>()).put(index, f[3]);
            }
        }
        return all;
    }

    /** What one rank alone reads at update {@code step} with {@code gradAccum} micro-batches. */
    static TreeMap<Long, String> singleRank(long step, int gradAccum) {
        TreeMap<Long, String> m = new TreeMap<>();
        try (TokenFile tf = TokenFile.open(tokens)) {
            Batcher b = new Batcher(tf, RankWorker.BATCH, RankWorker.SEQ, RankWorker.SEED);
            for (int i = 0; i < gradAccum; i++) m.put(step * gradAccum + i, Arrays.toString(b.batch(step * gradAccum + i).starts()));
        }
        return m;
    }

    @Test
    void threeRanksShareTheIdReadDisjointShardsAndResumeOnTwo() throws IOException {
        Path out = dir.resolve("three");
        Run r = launch(3, out, Map.of(), "4", "6", "2");
        assertEquals(0, r.status(), r.err());
        // every rank got rank 0's id
        Set<String> ids = new HashSet<>();
        for (int rank = 0; rank < 3; rank++) ids.add(log(out, rank).getFirst());
        assertEquals(1, ids.size(), ids.toString());
        assertTrue(ids.iterator().next().matches("id [0-9a-f]{256}"), ids.toString());
        // the shards are disjoint and together the batches one rank with grad_accum 6 reads
        TreeMap<Long, TreeMap<Long, String>> seen = batches(out, 3);
        assertEquals(Set.of(0L, 1L, 2L, 3L), seen.keySet());
        for (long step : seen.keySet()) assertEquals(singleRank(step, 6), seen.get(step), "update " + step);
        // rank 0 alone wrote the checkpoints, and they are whole
        assertEquals(List.of(2L, 4L), Checkpoints.list(out.resolve("checkpoints")).stream().map(Checkpoints::stepOf).toList());
        for (int rank = 0; rank < 3; rank++) {
            assertEquals(rank == 0 ? List.of("checkpoint 2", "checkpoint 4") : List.of(),
                    log(out, rank).stream().filter(l -> l.startsWith("checkpoint")).toList());
            assertEquals("done", log(out, rank).getLast());
        }
        Checkpoints.load(Checkpoints.latest(out.resolve("checkpoints")));

        // resumed on 2 ranks from step 4: updates 4 and 5 read what one rank would read
        r = launch(2, out, Map.of(), "6", "6", "2");
        assertEquals(0, r.status(), r.err());
        TreeMap<Long, TreeMap<Long, String>> resumed = new TreeMap<>();
        for (var e : batches(out, 2).entrySet()) if (e.getKey() >= 4) resumed.put(e.getKey(), e.getValue());
        assertEquals(Set.of(4L, 5L), resumed.keySet());
        for (long step : resumed.keySet()) assertEquals(singleRank(step, 6), resumed.get(step), "update " + step);
        assertEquals(6L, Checkpoints.stepOf(Checkpoints.latest(out.resolve("checkpoints"))));
    }

    @Test
    void aRankThatDiesEndsTheRunOnEveryRankWithOneLineAndTheCheckpointStaysWhole() throws IOException {
        Path out = dir.resolve("dies");
        Run r = launch(3, out, Map.of(), "8", "3", "2", "2", "3");
        assertEquals(1, r.status(), "the launcher's status is the dead rank's: " + r.err());
        List<String> errors = r.err().lines().filter(l -> l.contains("gsa4j:")).toList();
        String expected = "rank 2 of 3 (pid ";
        List<String> rankLines = errors.stream().filter(l -> l.startsWith("[rank 0]") || l.startsWith("[rank 1]")).toList();
        assertEquals(2, rankLines.size(), r.err());
        for (String l : rankLines) {
            assertTrue(l.matches("\\[rank [01]] gsa4j: rank 2 of 3 \\(pid \\d+ on .+\\) ended without finishing \\(connection closed\\)"), l);
            assertTrue(l.contains(expected), l);
        }
        assertEquals(rankLines.get(0).substring(9), rankLines.get(1).substring(9), "the same line on every rank");
        assertTrue(errors.stream().anyMatch(l -> l.equals("gsa4j: rank 2 exited with status 1; the other ranks stop too")), r.err());
        // no rank got past update 3, and the checkpoint of update 2 is whole, with nothing half-written beside it
        for (long step : batches(out, 3).keySet()) assertTrue(step <= 3, "update " + step + " ran after rank 2 died");
        Path ckpts = out.resolve("checkpoints");
        assertEquals(List.of(2L), Checkpoints.list(ckpts).stream().map(Checkpoints::stepOf).toList());
        Checkpoints.load(Checkpoints.latest(ckpts));
        try (Stream<Path> s = Files.list(ckpts)) {
            assertEquals(List.of("step-00000002"), s.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void aHungRankIsNamedAfterTheHeartbeatTimeout() throws Exception {
        Path out = dir.resolve("hangs");
        Files.createDirectories(out);
        // rank 1 is stopped (SIGSTOP) once it has joined; rank 0 notices the silence, and rank 1, let go again, hears why
        Thread stopper = Thread.ofPlatform().start(() -> {
            try {
                Path log = out.resolve("rank-1.log");
                long until = System.nanoTime() + 60_000_000_000L;
                String pid = null;
                while (pid == null && System.nanoTime() < until) {
                    if (Files.exists(log)) pid = Files.readAllLines(log).stream().filter(l -> l.startsWith("pid ")).map(l -> l.substring(4)).findFirst().orElse(null);
                    Thread.sleep(20);
                }
                new ProcessBuilder("kill", "-STOP", pid).start().waitFor();
                Thread.sleep(3500);
                new ProcessBuilder("kill", "-CONT", pid).start().waitFor();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        Run r = launch(2, out, Map.of(ProcessGroup.Options.HEARTBEAT_TIMEOUT, "1.5"), "100000", "2", "1000");
        stopper.join();
        assertNotEquals(0, r.status(), r.err());
        List<String> lines = r.err().lines().filter(l -> l.matches("\\[rank [01]] gsa4j: .*")).toList();
        assertEquals(2, lines.size(), r.err());
        for (String l : lines) assertTrue(l.matches("\\[rank [01]] gsa4j: rank 1 of 2 \\(pid \\d+ on .+\\) sent no heartbeat for 1.5 s \\(hung, or its machine is unreachable\\)"), l);
    }
}
