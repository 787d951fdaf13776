package org.gsa4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.data.TokenFile;
import org.gsa4j.models.CausalLM;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class TrainerTest {
    @TempDir
    Path dir;

    private static double[] arr(List<Double> l) {
        return l.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** Every architecture ModelLoader knows: the loss falls clearly on learnable data. */
    @TestFactory
    List<DynamicTest> lossDecreasesForEveryArchitecture() {
        List<DynamicTest> tests = new ArrayList<>();
        for (ObjectNode cfg : TinyRuns.tinyConfigs()) {
            String arch = cfg.get("model_type").asText();
            tests.add(DynamicTest.dynamicTest(arch, () -> {
                CausalLM model = TinyRuns.create(cfg, 1);
                try (TokenFile data = TinyRuns.data(dir, 4000)) {
                    TrainConfig c = TinyRuns.config(40);
                    Trainer t = new Trainer(model, c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, null, null, null);
                    double[] l = arr(t.run().losses());
                    double first = (l[0] + l[1]) / 2, last = (l[l.length - 1] + l[l.length - 2] + l[l.length - 3]) / 3;
                    assertTrue(first > 3.5, arch + ": a fresh model should be near ln(48) = 3.87, is " + first);
                    assertTrue(last < first - 1.0, arch + ": loss should fall by > 1 nat: " + first + " → " + last);
                }
            }));
        }
        return tests;
    }

    @Test
    void sameSeedGivesBitIdenticalLosses() {
        try (TokenFile data = TinyRuns.data(dir, 4000)) {
            TrainConfig c = TinyRuns.config(6);
            c = c.toBuilder().gradAccum(2).build();
            double[][] runs = new double[2][];
            for (int i = 0; i < 2; i++) {
                Trainer t = new Trainer(TinyRuns.gsa(3), c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, null, null, null);
                runs[i] = arr(t.run().losses());
            }
            assertArrayEquals(runs[0], runs[1], 0.0);
            Trainer other = new Trainer(TinyRuns.gsa(4), c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, null, null, null);
            assertNotEquals(runs[0][0], other.run().losses().get(0), "another init seed must change the losses");
        }
    }

    @Test
    void resumeReproducesTheUninterruptedLossesExactly() throws Exception {
        try (TokenFile data = TinyRuns.data(dir, 4000)) {
            TrainConfig c = TinyRuns.config(8);
            Validator val = LmData.validator(data, 2, c.seqLen(), c.evalTokens());
            c = c.toBuilder().evalEvery(4).build();
            Trainer full = new Trainer(TinyRuns.gsa(3), c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), val, dir.resolve("full"), null, null);
            double[] expected = arr(full.run().losses());

            Path out = dir.resolve("interrupted");
            Trainer first = new Trainer(TinyRuns.gsa(3), c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), val, out, null, null);
            first.run(5); // "killed" after update 5 (checkpoints at 3 and 5)
            Path latest = Checkpoints.latest(out.resolve("checkpoints"));
            assertEquals(5, Checkpoints.stepOf(latest));
            // a model with other initial weights: everything must come from the checkpoint
            Trainer second = new Trainer(TinyRuns.gsa(99), c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), val, out, null, null);
            second.resume(Checkpoints.load(latest));
            double[] rest = arr(second.run().losses());
            assertArrayEquals(java.util.Arrays.copyOfRange(expected, 5, 8), rest, 0.0);

            // the metrics file reads as one run; the plot exists; only the last 2 checkpoints are kept
            List<JsonNode> recs = MetricsLog.read(out.resolve("metrics.jsonl"));
            List<Double> trainLosses = new ArrayList<>();
            for (JsonNode r : recs) if (r.get("type").asText().equals("train")) trainLosses.add(r.get("loss").asDouble());
            assertArrayEquals(expected, arr(trainLosses), 0.0);
            assertTrue(Files.size(out.resolve("loss.png")) > 1000);
            assertEquals(List.of(6L, 8L), Checkpoints.list(out.resolve("checkpoints")).stream().map(Checkpoints::stepOf).toList());
            // final weights equal too
            CausalLM a = Checkpoints.load(Checkpoints.latest(dir.resolve("full/checkpoints"))).model();
            CausalLM b = Checkpoints.load(Checkpoints.latest(out.resolve("checkpoints"))).model();
            for (String n : a.params().keySet()) assertArrayEquals(a.params().get(n).f, b.params().get(n).f, 0f, n);
        }
    }

    @Test
    void nonFiniteLossStopsWithTheStepAndKeepsTheLastGoodCheckpoint() {
        try (TokenFile data = TinyRuns.data(dir, 4000)) {
            TrainConfig c = TinyRuns.config(10);
            CausalLM model = TinyRuns.gsa(3);
            Path out = dir.resolve("nan");
            Trainer t = new Trainer(model, c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, out, null, new Trainer.Listener() {
                @Override
                public void onStep(Trainer.StepMetrics m) {
                    if (m.step() == 4) java.util.Arrays.fill(model.params().get("model.norm.weight").f, Float.NaN);
                }
            });
            NonFiniteLossException e = assertThrows(NonFiniteLossException.class, t::run);
            assertEquals(5, e.step);
            assertTrue(e.getMessage().contains("step 5") && e.getMessage().contains("step-00000003"), e.getMessage());
            assertEquals(List.of(3L), Checkpoints.list(out.resolve("checkpoints")).stream().map(Checkpoints::stepOf).toList());
            Checkpoints.load(Checkpoints.latest(out.resolve("checkpoints"))); // intact
        }
    }

    @Test
    void aRequestedStopWritesACheckpointAtTheCurrentStep() {
        try (TokenFile data = TinyRuns.data(dir, 4000)) {
            TrainConfig c = TinyRuns.config(10);
            Path out = dir.resolve("stop");
            Trainer[] t = new Trainer[1];
            t[0] = new Trainer(TinyRuns.gsa(3), c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, out, null, new Trainer.Listener() {
                @Override
                public void onStep(Trainer.StepMetrics m) {
                    if (m.step() == 4) t[0].requestStop(); // as the Ctrl-C hook does
                }
            });
            Trainer.Result r = t[0].run();
            assertEquals(4, r.step());
            assertEquals(List.of(3L, 4L), Checkpoints.list(out.resolve("checkpoints")).stream().map(Checkpoints::stepOf).toList());
            assertEquals(4, Checkpoints.load(r.lastCheckpoint()).step());
        }
    }

    @Test
    void corruptCheckpointsAreRefusedClearly() throws Exception {
        try (TokenFile data = TinyRuns.data(dir, 4000)) {
            TrainConfig c = TinyRuns.config(3);
            Path out = dir.resolve("run");
            new Trainer(TinyRuns.gsa(3), c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, out, null, null).run();
            Path ck = Checkpoints.latest(out.resolve("checkpoints"));
            Path weights = ck.resolve("model.safetensors");
            byte[] orig = Files.readAllBytes(weights);
            byte[] bad = orig.clone();
            bad[bad.length - 5] ^= 0x40;
            Files.write(weights, bad);
            Gsa4jException e = assertThrows(Gsa4jException.class, () -> Checkpoints.load(ck));
            assertTrue(e.getMessage().contains("checksum mismatch") && e.getMessage().contains("--resume"), e.getMessage());
            Files.write(weights, orig);
            Checkpoints.load(ck);
            Files.writeString(ck.resolve(Checkpoints.TRAINER_STATE), "{\"format\": \"gsa4j-trainer-st");
            e = assertThrows(Gsa4jException.class, () -> Checkpoints.load(ck));
            assertTrue(e.getMessage().contains("not valid JSON"), e.getMessage());
            Files.delete(ck.resolve(Checkpoints.TRAINER_STATE));
            e = assertThrows(Gsa4jException.class, () -> Checkpoints.load(ck));
            assertTrue(e.getMessage().contains("not a complete"), e.getMessage());
            e = assertThrows(Gsa4jException.class, () -> Checkpoints.load(dir.resolve("nowhere")));
            assertTrue(e.getMessage().contains("no such checkpoint"), e.getMessage());
        }
    }

    @Test
    void badOutputDirectoryAndTooShortDataAreClearErrors() throws Exception {
        try (TokenFile data = TinyRuns.data(dir, 4000); TokenFile small = TinyRuns.data(dir, 20)) {
            TrainConfig c = TinyRuns.config(3);
            Path file = Files.writeString(dir.resolve("a-file"), "x");
            Gsa4jException e = assertThrows(Gsa4jException.class, () ->
                    new Trainer(TinyRuns.gsa(3), c, LmData.train(data, 4, 24, 1), null, file.resolve("out"), null, null));
            assertTrue(e.getMessage().contains("not writable"), e.getMessage());
            e = assertThrows(Gsa4jException.class, () -> LmData.train(small, 4, 24, 1));
            assertTrue(e.getMessage().contains("longer than the data"), e.getMessage());
        }
    }

    @Test
    void trainConfigRefusesUnknownFieldsAndBadRanges() throws Exception {
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> TrainConfig.fromJson(json.readTree("{\"learning_rate\": 1}"), Path.of("t.json")));
        assertTrue(e.getMessage().contains("learning_rate") && e.getMessage().contains("unknown"), e.getMessage());
        e = assertThrows(Gsa4jException.class, () -> TrainConfig.fromJson(json.readTree("{\"batch_size\": 0}"), Path.of("t.json")));
        assertTrue(e.getMessage().contains("batch_size"), e.getMessage());
        TrainConfig c = TrainConfig.fromJson(json.readTree("{\"lr\": 0.001, \"warmup_steps\": 7}"), Path.of("t.json"));
        assertEquals(0.001, c.lr());
        assertEquals(7, c.warmupSteps());
        assertEquals(Map.of(), Map.of());
    }
}
