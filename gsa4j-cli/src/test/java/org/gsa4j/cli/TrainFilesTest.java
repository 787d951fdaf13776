package org.gsa4j.cli;

import org.gsa4j.train.Checkpoints;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.gsa4j.cli.GenerateCommandTest.run;
import static org.gsa4j.cli.TinyModel.SIZE;
import static org.gsa4j.cli.TinyModel.with;
import static org.junit.jupiter.api.Assertions.*;

/** What train leaves on disk: nothing on failure, usual permissions, no writes into read-only data; and Ctrl-C. */
class TrainFilesTest {
    @TempDir
    static Path dir;
    static Path texts;

    @BeforeAll
    static void corpus() throws Exception {
        texts = TinyModel.texts(dir);
    }

    private static String[] train(String... args) {
        return with(with(new String[] {"train"}, args), SIZE);
    }

    @Test
    void aMissingDataFolderLeavesNoOutputFolder() {
        Path out = dir.resolve("never/made");
        GenerateCommandTest.Run r = run(train("--data", dir.resolve("missing").toString(), "--out", out.toString()));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("no such data directory"), r.err());
        assertFalse(Files.exists(dir.resolve("never")), "no empty output folder is left behind");
    }

    @Test
    void aRunFolderWithCheckpointsIsRefusedBeforeTheDataAreRead() throws Exception {
        Path out = dir.resolve("taken");
        assertEquals(0, run(train("--data", texts.toString(), "--out", out.toString(), "--steps", "1")).exitCode());
        GenerateCommandTest.Run r = run(train("--data", dir.resolve("missing").toString(), "--out", out.toString(), "--steps", "1"));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("already has checkpoints"), r.err());
    }

    @Test
    void filesGetTheUsualPermissions() throws Exception {
        Path out = dir.resolve("perm");
        assertEquals(0, run(train("--data", texts.toString(), "--out", out.toString(), "--steps", "2")).exitCode());
        assertEquals(0, run(train("--data", texts.toString(), "--out", out.toString(), "--steps", "3", "--resume")).exitCode());
        Set<PosixFilePermission> usual = Files.getPosixFilePermissions(Files.createFile(out.resolve("fresh-file")));
        assertEquals(usual, Files.getPosixFilePermissions(out.resolve("metrics.jsonl")), "metrics.jsonl after a resume");
        assertEquals(usual, Files.getPosixFilePermissions(out.resolve("loss.png")));
        Path png = out.resolve("curves.png");
        assertEquals(0, run("plot-curves", "a=" + out.resolve("metrics.jsonl"), "--out", png.toString()).exitCode());
        assertEquals(usual, Files.getPosixFilePermissions(png), "plot-curves output");
        // a rewritten file keeps the permissions it had
        Files.setPosixFilePermissions(png, PosixFilePermissions.fromString("rw-rw-r--"));
        assertEquals(0, run("plot-curves", "a=" + out.resolve("metrics.jsonl"), "--out", png.toString()).exitCode());
        assertEquals(PosixFilePermissions.fromString("rw-rw-r--"), Files.getPosixFilePermissions(png));
    }

    @Test
    void aReadOnlyDataFolderIsPreparedIntoTheCache() throws Exception {
        Path ro = Files.createDirectories(dir.resolve("read-only"));
        Files.copy(texts.resolve("emma.txt"), ro.resolve("emma.txt"));
        Files.copy(texts.resolve("persuasion.txt"), ro.resolve("persuasion.txt"));
        Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("r-xr-xr-x"));
        Path home = Files.createDirectories(dir.resolve("home"));
        String oldHome = System.getProperty("user.home");
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv("GSA4J_CACHE") == null, "the cache is set by GSA4J_CACHE here");
        try {
            System.setProperty("user.home", home.toString());
            GenerateCommandTest.Run r = run(train("--data", ro.toString(), "--out", dir.resolve("ro-run").toString(), "--steps", "1"));
            assertEquals(0, r.exitCode(), r.err());
        } finally {
            System.setProperty("user.home", oldHome);
            Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        try (var s = Files.list(ro)) {
            assertEquals(List.of("emma.txt", "persuasion.txt"), s.map(p -> p.getFileName().toString()).sorted().toList(), "nothing written there");
        }
        try (var s = Files.list(home.resolve(".cache/gsa4j"))) {
            assertTrue(s.anyMatch(p -> p.getFileName().toString().startsWith("prep-") && Files.isRegularFile(p.resolve("prep.json"))));
        }
    }

    @Test
    void invalidUtf8InTheDataNamesTheFileAndByte() throws Exception {
        Path bad = Files.createDirectories(dir.resolve("bad-data"));
        Files.write(bad.resolve("a.txt"), new byte[] {'g', 'o', 'o', 'd', '\n', 'b', (byte) 0xFE, 'd', '\n'});
        Files.copy(texts.resolve("persuasion.txt"), bad.resolve("persuasion.txt"));
        GenerateCommandTest.Run r = run(train("--data", bad.toString(), "--out", dir.resolve("bad-run").toString()));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("a.txt: not valid UTF-8 text at byte 6 (0xFE)"), r.err());
    }

    /**
     * SIGTERM (what Ctrl-C's shutdown also runs) while training in its own JVM: it finishes the update,
     * writes a checkpoint and the plot, and says so, with no error about the plot.
     */
    @Test
    void interruptingTrainingStopsCleanly() throws Exception {
        Path out = dir.resolve("interrupted");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(train("--data", texts.toString(), "--out", out.toString(), "--steps", "1000000", "--eval-every", "5",
                "--checkpoint-every", "0")));
        Path err = dir.resolve("interrupted.err");
        Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).redirectOutput(dir.resolve("interrupted.out").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(out.resolve("loss.png")) || Files.readString(err).lines().noneMatch(l -> l.startsWith("step 10:"))) {
            assertTrue(p.isAlive(), () -> "training ended early: " + read(err));
            assertTrue(System.nanoTime() < deadline, () -> "no validation within 2 minutes: " + read(err));
            Thread.sleep(100);
        }
        p.destroy(); // SIGTERM: the shutdown hook asks the trainer to stop
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        String e = read(err);
        assertTrue(e.contains("gsa4j: stopped at step"), e);
        assertFalse(e.contains("warning") || e.contains("Shutdown in progress") || e.contains("Exception"), e);
        assertEquals(1, Checkpoints.list(out.resolve("checkpoints")).size(), e);
    }

    /**
     * {@code --nproc-per-node 1}: the launcher starts one rank (a second JVM, with RANK 0 of WORLD_SIZE 1), which
     * trains through the same group and trainer; a shape the launcher cannot run is refused before anything starts.
     * (Several ranks: {@link DataParallelTrainTest}.)
     */
    @Test
    void theLauncherTrainsWithOneRank() throws Exception {
        Path out = dir.resolve("launched");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx1g",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(train("--data", texts.toString(), "--out", out.toString(), "--steps", "2", "--nproc-per-node", "1")));
        Path err = dir.resolve("launched.err"), stdout = dir.resolve("launched.out");
        Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).redirectOutput(stdout.toFile()).start();
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "the launched run did not end");
        assertEquals(0, p.exitValue(), read(err));
        assertEquals(1, Files.readAllLines(stdout).stream().filter(l -> l.startsWith("trained gsa to step 2")).count(), read(stdout));
        assertEquals(List.of(2L), Checkpoints.list(out.resolve("checkpoints")).stream().map(Checkpoints::stepOf).toList());
        assertEquals(1, Checkpoints.load(Checkpoints.latest(out.resolve("checkpoints"))).state().path("data").path("world_size").asInt());

        GenerateCommandTest.Run r = run(train("--data", texts.toString(), "--out", dir.resolve("two").toString(), "--nproc-per-node", "1", "--nnodes", "2"));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--master-port: a run over 2 machines needs the same port given on every machine"), r.err());
        assertFalse(Files.exists(dir.resolve("two")), "nothing was started");
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }
}
