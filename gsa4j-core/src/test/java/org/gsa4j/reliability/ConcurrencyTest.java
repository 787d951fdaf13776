package org.gsa4j.reliability;

import org.gsa4j.infer.Generator;
import org.gsa4j.infer.Sampler;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 6 item 4: one loaded model serves many threads. 16 generations with different prompts,
 * seeds and sampling settings run concurrently (released together by a barrier, three rounds) on
 * the reference GSA model; each must produce exactly the tokens and the bit-identical prompt logits
 * it produces when run alone, and the weights must be unchanged afterwards. The weights are only
 * read; everything a request changes (decoding state, sampler, scratch arrays, which are
 * thread-local) belongs to that request.
 */
class ConcurrencyTest {
    static final int THREADS = 16, ROUNDS = 3, NEW_TOKENS = 40;

    record Request(int[] prompt, double temperature, int topK, double topP, long seed) {
        Sampler sampler() {
            return Sampler.of(temperature, topK, topP, seed);
        }
    }

    record Answer(List<Integer> tokens, float[] promptLogits) {}

    static Answer run(CausalLM model, Request r) {
        List<Integer> tokens = new ArrayList<>();
        new Generator(model).generate(r.prompt(), NEW_TOKENS, r.sampler(), tokens::add);
        float[] logits = model.feed(r.prompt(), 1, r.prompt().length, model.newState(1)).f;
        return new Answer(tokens, logits);
    }

    static long[] fingerprint(CausalLM m) {
        long[] out = new long[m.params().size()];
        int i = 0;
        for (Map.Entry<String, Tensor> e : m.params().entrySet()) out[i++] = Arrays.hashCode(e.getValue().f);
        return out;
    }

    @Test
    void sixteenConcurrentGenerationsMatchTheSameGenerationsRunAlone() throws Exception {
        CausalLM model = ModelLoader.load(Seeds.REFERENCE_GSA);
        long[] before = fingerprint(model);
        int vocab = model.config.vocabSize();
        SplittableRandom rng = new SplittableRandom(42);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < THREADS; i++) {
            int[] prompt = new int[1 + rng.nextInt(60)];
            for (int j = 0; j < prompt.length; j++) prompt[j] = rng.nextInt(vocab);
            requests.add(new Request(prompt, i % 4 == 0 ? 0 : 0.6 + 0.1 * (i % 5), i % 3 == 0 ? 20 : 0, i % 2 == 0 ? 0.9 : 1.0, 1000 + i));
        }
        List<Answer> alone = new ArrayList<>();
        for (Request r : requests) alone.add(run(model, r));
        // Run alone again: bit-identical (no result may depend on JIT timing or on earlier requests).
        for (int i = 0; i < THREADS; i++) {
            Answer again = run(model, requests.get(i));
            assertEquals(alone.get(i).tokens(), again.tokens(), "request " + i + " run alone twice: tokens");
            assertArrayEquals(alone.get(i).promptLogits(), again.promptLogits(), "request " + i + " run alone twice: logits");
        }

        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
                for (int round = 0; round < ROUNDS; round++) {
                    CyclicBarrier start = new CyclicBarrier(THREADS);
                    List<Future<Answer>> futures = new ArrayList<>();
                    for (Request r : requests) {
                        futures.add(pool.submit(() -> {
                            start.await();
                            return run(model, r);
                        }));
                    }
                    for (int i = 0; i < THREADS; i++) {
                        Answer a = futures.get(i).get();
                        assertEquals(alone.get(i).tokens(), a.tokens(), "round " + round + ", request " + i + ": tokens");
                        assertArrayEquals(alone.get(i).promptLogits(), a.promptLogits(), "round " + round + ", request " + i + ": logits");
                    }
                }
            });
        } finally {
            pool.shutdownNow();
        }
        assertArrayEquals(before, fingerprint(model), "weights changed while serving");
    }
}
