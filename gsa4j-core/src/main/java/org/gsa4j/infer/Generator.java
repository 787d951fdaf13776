package org.gsa4j.infer;

import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.tensor.Tensor;

import java.util.function.IntConsumer;

/**
 * Autoregressive generation with constant memory for the linear models: the prompt is prefilled
 * through the chunk form into a decoding state, then each new token is one recurrent step.
 */
public final class Generator {
    /** Longest slice of the prompt fed at once. */
    public static final int PREFILL_CHUNK = 1024;

    private final CausalLM model;

    public Generator(CausalLM model) {
        this.model = model;
    }

    /** Statistics of one generation. */
    public record Stats(int promptTokens, int newTokens, double prefillSeconds, double decodeSeconds, long stateBytes) {
        public double decodeTokensPerSecond() {
            return newTokens == 0 ? 0 : newTokens / decodeSeconds;
        }
    }

    /** Generates up to maxNew tokens after the prompt, handing each to {@code onToken} as it is produced. */
    public Stats generate(int[] prompt, int maxNew, Sampler sampler, IntConsumer onToken) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
        int vocab = model.config.vocabSize();
        for (int id : prompt) {
            if (id < 0 || id >= vocab) throw new IllegalArgumentException("prompt token " + id + " outside the vocabulary [0, " + vocab + ")");
        }
        DecodeState state = model.newState(1);
        state.reserve((int) Math.min(Integer.MAX_VALUE, (long) prompt.length + maxNew));
        long t0 = System.nanoTime();
        // The prompt goes in slices of PREFILL_CHUNK tokens (the state carries over exactly), so a
        // long prompt needs memory for one slice's activations and logits, not the whole prompt's.
        Tensor logits = null;
        for (int from = 0; from < prompt.length; from += PREFILL_CHUNK) {
            int[] part = java.util.Arrays.copyOfRange(prompt, from, Math.min(prompt.length, from + PREFILL_CHUNK));
            logits = model.feed(part, 1, part.length, state);
        }
        long t1 = System.nanoTime();
        int produced = 0;
        int[] one = new int[1];
        boolean step = model.canStep(state); // the allocation-free single-token path
        for (int i = 0; i < maxNew; i++) {
            int next = sampler.sample(logits.f);
            onToken.accept(next);
            produced++;
            one[0] = next;
            if (i + 1 < maxNew) logits = step ? model.step(one, state) : model.feed(one, 1, 1, state);
        }
        long t2 = System.nanoTime();
        return new Stats(prompt.length, produced, (t1 - t0) / 1e9, (t2 - t1) / 1e9, state.bytes());
    }
}
