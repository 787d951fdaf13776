package org.gsa4j.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.config.ModelSize;
import org.gsa4j.data.TokenFile;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Tiny models and data shared by the training tests. */
final class TinyRuns {
    private TinyRuns() {}

    static final int VOCAB = 48;

    /** A tiny config per architecture; add a line here when a new architecture arrives. */
    static List<ObjectNode> tinyConfigs() {
        List<ObjectNode> out = new ArrayList<>();
        for (String arch : ModelRegistry.modelTypes()) out.add(ModelRegistry.preset(arch, new ModelSize(VOCAB, 32, 2, 2, 8, 64)).toJson());
        return out;
    }

    /** The model, or null when ModelLoader does not support this architecture yet. */
    static CausalLM create(ObjectNode config, long seed) {
        return ModelLoader.create(config, seed);
    }

    static CausalLM gsa(long seed) {
        return ModelLoader.create(ModelRegistry.preset("gsa", new ModelSize(VOCAB, 32, 2, 2, 8, 64)).toJson(), seed);
    }

    /** Learnable tokens: copies of a few random motifs, with 5% noise. */
    static TokenFile data(Path dir, int n) {
        SplittableRandom r = new SplittableRandom(7);
        int[][] motifs = new int[4][12];
        for (int[] m : motifs) for (int i = 0; i < m.length; i++) m[i] = r.nextInt(VOCAB);
        int[] t = new int[n];
        int i = 0;
        while (i < n) {
            int[] m = motifs[r.nextInt(motifs.length)];
            for (int j = 0; j < m.length && i < n; j++) t[i++] = r.nextInt(20) == 0 ? r.nextInt(VOCAB) : m[j];
        }
        Path f = dir.resolve("tiny-" + n + ".bin");
        TokenFile.write(f, t, VOCAB);
        return TokenFile.open(f);
    }

    static TrainConfig config(long steps) {
        TrainConfig c = TrainConfig.builder().steps(steps).batchSize(4).seqLen(24).lr(1e-2).warmupSteps(2).evalEvery(0)
                .evalTokens(96).checkpointEvery(3).keepCheckpoints(2).seed(5).build();
        return c;
    }
}
