package org.gsa4j.train;

import org.gsa4j.Gsa4jException;
import org.gsa4j.config.ModelSize;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class MqarTest {

    @Test
    void examplesFollowTheZoologyLayout() {
        Mqar.Spec spec = new Mqar.Spec(128, 64, 8, 0.01, true);
        Mqar.Dataset d = Mqar.generate(spec, 50, 3);
        int L = 64, N = 8;
        for (int e = 0; e < d.size(); e++) {
            int o = e * L;
            Set<Integer> keys = new HashSet<>(), values = new HashSet<>();
            for (int i = 0; i < N; i++) {
                int k = d.inputs()[o + 2 * i], v = d.inputs()[o + 2 * i + 1];
                assertTrue(k >= 1 && k < 64 && v >= 64 && v < 128);
                assertTrue(keys.add(k) && values.add(v), "keys and values are distinct");
                assertEquals(-100, d.targets()[o + 2 * i]);
                assertEquals(-100, d.targets()[o + 2 * i + 1]);
            }
            int labelled = 0;
            for (int t = 2 * N; t < L; t++) {
                int y = d.targets()[o + t];
                if (y == -100) continue;
                labelled++;
                assertEquals(0, (t - 2 * N) % 2, "queries sit at even offsets after the context");
                int key = d.inputs()[o + t];
                int i = 0;
                while (d.inputs()[o + 2 * i] != key) i++;
                assertEquals(d.inputs()[o + 2 * i + 1], y, "the target of a query is its key's value");
            }
            assertEquals(N, labelled, "each key is queried exactly once");
        }
        assertArrayEquals(d.inputs(), Mqar.generate(spec, 50, 3).inputs(), "reproducible");
        assertFalse(java.util.Arrays.equals(d.inputs(), Mqar.generate(spec, 50, 13).inputs()));
        // without random non-queries the filler is 0
        Mqar.Dataset z = Mqar.generate(new Mqar.Spec(128, 64, 8, 0.01, false), 5, 3);
        long zeros = java.util.Arrays.stream(z.inputs()).filter(x -> x == 0).count();
        assertEquals(5 * (64 - 16 - 8), zeros);
        assertThrows(Gsa4jException.class, () -> new Mqar.Spec(64, 64, 4, 0.01, true));  // V must exceed L
        assertThrows(Gsa4jException.class, () -> new Mqar.Spec(128, 64, 17, 0.01, true)); // 4N <= L
    }

    /** A tiny GSA learns recall well above chance (1/32 over the value range) in well under a minute. */
    @Test
    void tinyGsaLearnsRecall() {
        Mqar.Spec spec = new Mqar.Spec(64, 32, 4, 0.01, true);
        Mqar.Dataset train = Mqar.generate(spec, 4000, 0), test = Mqar.generate(spec, 256, 10);
        var cfg = ModelRegistry.preset("gsa", new ModelSize(64, 64, 2, 2, 16, 128)).toJson();
        cfg.put("use_short_conv", Boolean.parseBoolean(System.getProperty("mqar.conv", "false")));
        CausalLM model = ModelLoader.create(cfg, 0);
        TrainConfig c = TrainConfig.builder().steps(Long.getLong("mqar.steps", 250)).batchSize(32).seqLen(32)
                .lr(Double.parseDouble(System.getProperty("mqar.lr", "3e-3"))).warmupSteps(20).weightDecay(0.1).evalEvery(0)
                .build();
        double before = Mqar.score(model, test, 64).accuracy();
        long t0 = System.nanoTime();
        new Trainer(model, c, Mqar.batches(train, c.batchSize(), 1), null, null, null, null).run();
        Mqar.Score after = Mqar.score(model, test, 64);
        System.out.printf("MQAR tiny GSA: accuracy %.3f → %.3f (%d labelled) in %.1f s%n", before, after.accuracy(), after.labelled(),
                (System.nanoTime() - t0) / 1e9);
        assertTrue(before < 0.1, "a fresh model is at chance: " + before);
        // chance is 1/32 (a value guessed among the 32 value tokens); 250 short updates reach about 0.26
        assertTrue(after.accuracy() > 0.15, "accuracy should rise well above chance (1/32): " + after.accuracy());
    }
}
