package org.gsa4j.train;

import org.gsa4j.Gsa4jException;
import org.gsa4j.data.Batcher;
import org.gsa4j.data.TokenFile;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Language-model data on token files: random training windows and a fixed validation slice. */
public final class LmData {
    private LmData() {}

    /** Random windows of T+1 tokens (the {@link Batcher}: a pure function of seed and index). */
    public static BatchSource train(TokenFile file, int batchSize, int seqLen, long seed) {
        Batcher b = new Batcher(file, batchSize, seqLen, seed);
        return new BatchSource() {
            @Override
            public Batch batch(long index) {
                Batcher.Batch x = b.batch(index);
                return new Batch(x.batchSize(), x.seqLen(), x.inputs(), x.targets());
            }

            @Override
            public String describe() {
                return file.path().getFileName() + " (" + String.format("%,d", file.size()) + " tokens, random windows of " + seqLen + ")";
            }
        };
    }

    /**
     * Validation loss on the first {@code maxTokens} predictions of a token file, cut into
     * non-overlapping windows of T (each from a zero state, as in training), B windows per forward.
     */
    public static Validator validator(TokenFile file, int batchSize, int seqLen, int maxTokens) {
        if (file.size() < 2) throw Gsa4jException.at(file.path(), null, "needs at least 2 tokens to validate on, has " + file.size());
        List<Batcher.Window> windows = new ArrayList<>();
        long predictions = 0;
        for (Batcher.Window w : Batcher.sequential(file, seqLen)) {
            if (predictions >= maxTokens) break;
            windows.add(w);
            predictions += w.length();
        }
        return model -> {
            double nll = 0;
            long count = 0;
            int i = 0;
            while (i < windows.size()) {
                int t = windows.get(i).length();
                int n = 0;
                while (i + n < windows.size() && n < batchSize && windows.get(i + n).length() == t) n++;
                int[] in = new int[n * t], tg = new int[n * t];
                for (int r = 0; r < n; r++) {
                    System.arraycopy(windows.get(i + r).inputs(), 0, in, r * t, t);
                    System.arraycopy(windows.get(i + r).targets(), 0, tg, r * t, t);
                }
                nll += model.score(in, tg, n, t, false).loss() * (n * (long) t);
                count += (long) n * t;
                i += n;
            }
            Map<String, Double> out = new LinkedHashMap<>();
            double mean = nll / count;
            out.put("val_loss", mean);
            out.put("val_ppl", Math.exp(mean));
            return out;
        };
    }
}
