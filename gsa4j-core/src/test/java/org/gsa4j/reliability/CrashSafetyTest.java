package org.gsa4j.reliability;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.config.ModelSize;
import org.gsa4j.data.TokenFile;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.train.Checkpoints;
import org.gsa4j.train.LmData;
import org.gsa4j.train.MetricsLog;
import org.gsa4j.train.TrainConfig;
import org.gsa4j.train.Trainer;
import org.gsa4j.train.Validator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 6 item 1: a training run in a child JVM is killed with SIGKILL at random moments (a
 * checkpoint is written after every update, so many kills land inside a checkpoint write) and
 * resumed each time in a fresh JVM. After every kill each visible checkpoint must load and verify
 * (checksums) — no partial checkpoint is ever visible to resume — and at the end the logged losses
 * and the final weights must equal an uninterrupted run's exactly.
 */
class CrashSafetyTest {
    static final int VOCAB = 48, STEPS = 30, MAX_KILLS = 6;

    @TempDir
    Path tmp;

    static TrainConfig config() {
        TrainConfig c = TrainConfig.builder().steps(STEPS).batchSize(4).seqLen(24).lr(1e-2).warmupSteps(2).evalEvery(5)
                .evalTokens(96).checkpointEvery(1).keepCheckpoints(2).seed(5).build();
        return c;
    }

    static CausalLM model() {
        return ModelLoader.create(ModelRegistry.preset("gsa", new ModelSize(VOCAB, 32, 2, 2, 8, 64)).toJson(), 3);
    }

    /** Writes learnable tokens (repeated random motifs with 5% noise). */
    static void writeData(Path f) {
        SplittableRandom r = new SplittableRandom(7);
        int[][] motifs = new int[4][12];
        for (int[] m : motifs) for (int i = 0; i < m.length; i++) m[i] = r.nextInt(VOCAB);
        int[] t = new int[4000];
        for (int i = 0; i < t.length; ) {
            int[] m = motifs[r.nextInt(motifs.length)];
            for (int j = 0; j < m.length && i < t.length; j++) t[i++] = r.nextInt(20) == 0 ? r.nextInt(VOCAB) : m[j];
        }
        TokenFile.write(f, t, VOCAB);
    }

    /** Trains into out (resuming from its newest checkpoint when there is one) to the end. */
    static Trainer.Result train(Path data, Path out) {
        try (TokenFile tf = TokenFile.open(data)) {
            TrainConfig c = config();
            Validator val = LmData.validator(tf, 2, c.seqLen(), c.evalTokens());
            Trainer t = new Trainer(model(), c, LmData.train(tf, c.batchSize(), c.seqLen(), c.seed()), val, out, null, null);
            Path latest = Checkpoints.latest(out.resolve("checkpoints"));
            if (latest != null) t.resume(Checkpoints.load(latest));
            return t.run();
        }
    }

    /** The child process: {@code CrashSafetyTest DATA OUT}. */
    public static void main(String[] args) {
        train(Path.of(args[0]), Path.of(args[1]));
        System.out.println("DONE");
        System.exit(0);
    }

    Process start(Path data, Path out) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "-Xss8m", "-Xmx512m", "-XX:TieredStopAtLevel=4",
                "-cp", System.getProperty("java.class.path"), CrashSafetyTest.class.getName(), data.toString(), out.toString())
                .redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile()).start();
    }

    static List<Double> trainLosses(Path metrics) {
        List<Double> out = new ArrayList<>();
        for (JsonNode r : MetricsLog.read(metrics)) if (r.get("type").asText().equals("train")) out.add(r.get("loss").asDouble());
        return out;
    }

    static long latestStep(Path root) {
        try {
            Path l = Checkpoints.latest(root);
            return l == null ? 0 : Checkpoints.stepOf(l);
        } catch (RuntimeException e) { // listing while the child renames
            return 0;
        }
    }

    static long hiddenEntries(Path root) throws IOException {
        if (!Files.isDirectory(root)) return 0;
        try (Stream<Path> s = Files.list(root)) {
            return s.filter(p -> p.getFileName().toString().startsWith(".")).count();
        }
    }

    @Test
    void sigkillAtRandomMomentsThenResumeEqualsAnUninterruptedRun() throws Exception {
        Path data = tmp.resolve("tokens.bin");
        writeData(data);
        Path reference = tmp.resolve("reference");
        train(data, reference);   // in this JVM: a fresh JVM resumed must still match bit for bit

        Path out = tmp.resolve("killed");
        Path ckpts = out.resolve("checkpoints");
        SplittableRandom rng = new SplittableRandom(20261129);
        int kills = 0, duringCheckpointWrite = 0;
        List<Long> killedAfterStep = new ArrayList<>();
        boolean finished = false;
        while (!finished) {
            long before = latestStep(ckpts);
            Process p = start(data, out);
            if (kills < MAX_KILLS) {
                // Let the child make progress (1–3 new checkpoints), then kill it at a random moment
                // within the next update/checkpoint cycle.
                long target = before + 1 + rng.nextInt(3);
                while (p.isAlive() && latestStep(ckpts) < target) Thread.sleep(2);
                if (kills % 2 == 1) {
                    // Every other kill: the moment a checkpoint's temporary directory appears.
                    long until = System.nanoTime() + 5_000_000_000L;
                    while (p.isAlive() && hiddenEntries(ckpts) == 0 && System.nanoTime() < until) java.util.concurrent.locks.LockSupport.parkNanos(200_000);
                } else if (p.waitFor(rng.nextInt(120), TimeUnit.MILLISECONDS)) {
                    finished = p.exitValue() == 0;
                    assertTrue(finished, "child failed: " + Files.readString(tmp.resolve("child.log")));
                    continue;
                }
                if (!p.isAlive()) {
                    finished = p.exitValue() == 0;
                    assertTrue(finished, "child failed: " + Files.readString(tmp.resolve("child.log")));
                    continue;
                }
                p.destroyForcibly();          // SIGKILL on Linux
                assertTrue(p.waitFor(30, TimeUnit.SECONDS));
                kills++;
                if (hiddenEntries(ckpts) > 0) duringCheckpointWrite++;
                // No partial checkpoint is visible: every listed one loads and verifies.
                for (Path c : Checkpoints.list(ckpts)) Checkpoints.load(c);
                Path latest = Checkpoints.latest(ckpts);
                killedAfterStep.add(latest == null ? 0 : Checkpoints.stepOf(latest));
            } else {
                assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child did not finish");
                assertEquals(0, p.exitValue(), Files.readString(tmp.resolve("child.log")));
                finished = true;
            }
        }
        System.out.printf("crash safety: %d SIGKILLs (%d with a checkpoint write in progress), newest checkpoint at each kill %s%n",
                kills, duringCheckpointWrite, killedAfterStep);
        assertTrue(kills >= 3, "too few kills landed: " + kills);

        assertEquals(trainLosses(reference.resolve("metrics.jsonl")), trainLosses(out.resolve("metrics.jsonl")), "logged losses");
        CausalLM a = Checkpoints.load(Checkpoints.latest(reference.resolve("checkpoints"))).model();
        CausalLM b = Checkpoints.load(Checkpoints.latest(ckpts)).model();
        assertEquals(STEPS, Checkpoints.stepOf(Checkpoints.latest(ckpts)));
        for (String n : a.params().keySet()) assertArrayEquals(a.params().get(n).f, b.params().get(n).f, 0f, n);
    }
}
