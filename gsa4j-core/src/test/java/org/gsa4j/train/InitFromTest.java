package org.gsa4j.train;

import org.gsa4j.Gsa4jException;
import org.gsa4j.convert.TransformerToRnn.Options;
import org.gsa4j.convert.TransformerToRnn.Target;
import org.gsa4j.convert.TransformerToRnn;
import org.gsa4j.data.TokenFile;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ReferenceCases;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.*;

/** {@code train --init-from}: finetuning a converted reference Llama, all parameters or a frozen subset. */
class InitFromTest {
    @TempDir
    Path dir;

    /** The first Llama/Mistral case of the reference folder (the T2R conversion tests cover every one). */
    static Path referenceLlama() throws IOException {
        List<Path> cases = ReferenceCases.transformerCases();
        assertFalse(cases.isEmpty(), "no llama/mistral case under " + ReferenceCases.root().resolve("models"));
        return cases.getFirst();
    }

    private Path converted(Target target) throws Exception {
        Path out = dir.resolve("converted-" + target);
        TransformerToRnn.convert(referenceLlama(), out, new Options(target, 8, Options.defaults(target).featureMap(), 3, 0));
        return out;
    }

    private static Map<String, float[]> snapshot(CausalLM m) {
        Map<String, float[]> s = new LinkedHashMap<>();
        m.params().forEach((n, t) -> s.put(n, t.f.clone()));
        return s;
    }

    private static double mean(List<Double> l, int from, int to) {
        return l.subList(from, to).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    }

    @Test
    void finetuningAConvertedLlamaLowersTheLoss() throws Exception {
        for (Target target : Target.values()) {
            CausalLM model = ModelLoader.load(converted(target));
            try (TokenFile data = TinyRuns.data(dir, 4000)) {
                TrainConfig c = TinyRuns.config(16);
                c = c.toBuilder().lr(3e-3).initFrom("converted").build();
                Trainer t = new Trainer(model, c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, null, null, null);
                assertEquals(model.params().size(), t.trainableNames().size(), "all parameters train by default");
                List<Double> l = t.run().losses();
                assertTrue(mean(l, 13, 16) < mean(l, 0, 3) - 0.3, target + ": loss should fall: " + l);
            }
        }
    }

    @Test
    void aTrainableSubsetLeavesTheRestBitIdenticalAndSurvivesCheckpoints() throws Exception {
        CausalLM model = ModelLoader.load(converted(Target.GSA));
        Map<String, float[]> before = snapshot(model);
        try (TokenFile data = TinyRuns.data(dir, 4000)) {
            TrainConfig c = TinyRuns.config(8);
            c = c.toBuilder().lr(3e-3).trainOnly("new,attention").weightDecay(0.1)
                    .build(); // frozen matrices would shrink if they were decayed
            Path out = dir.resolve("subset");
            Trainer t = new Trainer(model, c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, out, null, null);
            Set<String> trained = t.trainableNames();
            Set<String> expected = new TreeSet<>();
            for (String n : model.params().keySet()) if (n.contains(".attn.")) expected.add(n);
            assertEquals(expected, trained);
            assertTrue(trained.stream().anyMatch(n -> n.contains("f_proj")), "GSA's new forget-gate projection trains: " + trained);
            List<Double> l = t.run(6).losses();
            assertTrue(mean(l, 3, 6) < mean(l, 0, 3), "loss should fall: " + l);

            for (String n : model.params().keySet()) {
                if (trained.contains(n)) assertFalse(java.util.Arrays.equals(before.get(n), model.params().get(n).f), n + " should have moved");
                else assertArrayEquals(before.get(n), model.params().get(n).f, 0f, n + " is frozen");
            }
            Set<String> withState = new TreeSet<>();
            for (String k : t.optimizer().stateTensors(model.params()).keySet()) if (k.startsWith("exp_avg.")) withState.add(k.substring(8));
            assertEquals(trained, withState, "optimizer state only for the trained parameters");

            // the checkpoint loads as a model and resumes the subset run; frozen weights still untouched
            Path latest = Checkpoints.latest(out.resolve("checkpoints"));
            assertEquals(6, Checkpoints.stepOf(latest));
            CausalLM loaded = ModelLoader.load(latest);
            for (String n : model.params().keySet()) assertArrayEquals(model.params().get(n).f, loaded.params().get(n).f, 0f, n);
            Checkpoints.Loaded ck = Checkpoints.load(latest);
            TrainConfig saved = TrainConfig.fromJson(ck.state().get("train_config"), latest);
            assertEquals("new,attention", saved.trainOnly());
            Trainer resumed = new Trainer(ck.model(), saved, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, out, null, null);
            resumed.resume(ck);
            resumed.run();
            for (String n : model.params().keySet()) {
                if (!trained.contains(n)) assertArrayEquals(before.get(n), ck.model().params().get(n).f, 0f, n + " is frozen after resume");
            }
        }
    }

    @Test
    void groupsSelectWhatTheySay() throws Exception {
        CausalLM gla = ModelLoader.load(converted(Target.GLA));
        Set<String> fresh = Trainable.trainedNames("new", gla);
        assertFalse(fresh.isEmpty());
        for (String n : fresh) assertTrue(n.contains(".attn.") && !n.matches(".*\\.[qkvo]_proj\\.weight"), n);
        assertEquals(Set.of("model.embeddings.weight", "lm_head.weight"), Trainable.trainedNames("embeddings, head", gla));
        CausalLM llama = ModelLoader.load(referenceLlama());
        Set<String> attn = Trainable.trainedNames("attention", llama);
        assertEquals(4 * llama.config.numLayers(), attn.size(), attn.toString());
        Gsa4jException none = assertThrows(Gsa4jException.class, () -> Trainable.trainedNames("new", llama));
        assertTrue(none.getMessage().contains("selects none"), none.getMessage());
        Gsa4jException bad = assertThrows(Gsa4jException.class, () -> Trainable.groups("new,atention"));
        assertTrue(bad.getMessage().contains("atention") && bad.getMessage().contains("attention"), bad.getMessage());
    }
}
