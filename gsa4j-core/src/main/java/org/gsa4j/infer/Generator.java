package org.gsa4j.infer;

import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;

import java.util.Arrays;

/**
 * Autoregressive generation with constant memory for the linear models: the prompt is prefilled
 * through the chunk form into a decoding state, then each new token is one recurrent step.
 *
 * <p>Generation stops after {@code maxNew} tokens, at an end-of-sequence token of {@link Options#eosIds}
 * (not handed on), or when the listener returns false (e.g. a {@link TextStream} that met a stop
 * string). Logits that are not finite stop it with a {@link NonFiniteException}.
 */
public final class Generator {
    /** Longest slice of the prompt fed at once. */
    public static final int PREFILL_CHUNK = 1024;

    /** Takes each generated token; returns false to stop generating. */
    @FunctionalInterface
    public interface TokenListener {
        boolean accept(int id);
    }

    /** Why generation ended: {@code length} (maxNew reached), {@code eos}, or {@code stop} (the listener said so). */
    public enum StopReason {
        LENGTH, EOS, STOP;

        /** The name in JSON output, as OpenAI-style APIs write it. */
        public String json() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /**
     * @param eosIds            tokens that end generation (from the model's config and tokenizer); empty: none
     * @param repetitionPenalty transformers' definition: the logit of every token already in the prompt
     *                          or the output is divided by it when positive, multiplied when negative; 1: off
     */
    public record Options(int[] eosIds, double repetitionPenalty) {
        public Options {
            eosIds = eosIds.clone();
            if (!(repetitionPenalty > 0) || !Double.isFinite(repetitionPenalty)) {
                throw new IllegalArgumentException("repetition penalty must be a positive number, got " + repetitionPenalty);
            }
        }

        public static final Options NONE = new Options(new int[0], 1.0);
    }

    /**
     * What generation needs of a model, wherever it computes: single-sequence decoding states that are fed
     * tokens and give the logits after the last one. {@link #of} is the CPU engine's; a GPU model has its own.
     */
    public interface Decoder {
        int vocabSize();

        /** A fresh (empty) state for a sequence that will see at most {@code maxTokens} tokens (a capacity hint). */
        Session start(int maxTokens);

        /** One sequence's state. */
        interface Session extends AutoCloseable {
            /** Feeds a slice of the prompt through the chunk form; the logits [vocab] after its last token. */
            float[] prefill(int[] tokens);

            /** Feeds one generated token; the logits [vocab] after it. */
            float[] next(int token);

            /** The state's size in bytes. */
            long bytes();

            @Override
            default void close() {}
        }

        /** The CPU engine's decoding: the chunk form for the prompt, the allocation-free single-token step after it. */
        static Decoder of(CausalLM model) {
            return new Decoder() {
                @Override
                public int vocabSize() {
                    return model.config.vocabSize();
                }

                @Override
                public Session start(int maxTokens) {
                    DecodeState state = model.newState(1);
                    state.reserve(maxTokens);
                    int[] one = new int[1];
                    return new Session() {
                        /** Whether the allocation-free single-token path serves this state; asked after the prefill. */
                        Boolean step;

                        @Override
                        public float[] prefill(int[] tokens) {
                            return model.feed(tokens, 1, tokens.length, state).f;
                        }

                        @Override
                        public float[] next(int token) {
                            one[0] = token;
                            if (step == null) step = model.canStep(state);
                            return (step ? model.step(one, state) : model.feed(one, 1, 1, state)).f;
                        }

                        @Override
                        public long bytes() {
                            return state.bytes();
                        }
                    };
                }
            };
        }
    }

    private final Decoder decoder;
    private final Options options;

    public Generator(CausalLM model) {
        this(model, Options.NONE);
    }

    public Generator(CausalLM model, Options options) {
        this(Decoder.of(model), options);
    }

    /** Generation through any engine's decoding (e.g. a GPU model's). */
    public Generator(Decoder decoder, Options options) {
        this.decoder = decoder;
        this.options = options;
    }

    /** Statistics of one generation. */
    public record Stats(int promptTokens, int newTokens, double prefillSeconds, double decodeSeconds, long stateBytes, StopReason stopReason) {
        public double decodeTokensPerSecond() {
            return newTokens == 0 ? 0 : newTokens / decodeSeconds;
        }
    }

    /**
     * Generates up to maxNew tokens after the prompt, handing each to the listener as it is produced;
     * stops early at an end-of-sequence token or when the listener returns false.
     */
    public Stats generate(int[] prompt, int maxNew, Sampler sampler, TokenListener listener) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
        int vocab = decoder.vocabSize();
        for (int id : prompt) {
            if (id < 0 || id >= vocab) throw new IllegalArgumentException("prompt token " + id + " outside the vocabulary [0, " + vocab + ")");
        }
        boolean[] seen = null;
        int[] seenIds = null;
        int seenCount = 0;
        if (options.repetitionPenalty() != 1.0) {
            seen = new boolean[vocab];
            seenIds = new int[Math.min(vocab, prompt.length + Math.max(0, maxNew))];
            for (int id : prompt) if (!seen[id]) { seen[id] = true; seenIds[seenCount++] = id; }
        }
        try (Decoder.Session state = decoder.start((int) Math.min(Integer.MAX_VALUE, (long) prompt.length + maxNew))) {
            long t0 = System.nanoTime();
            // The prompt goes in slices of PREFILL_CHUNK tokens (the state carries over exactly), so a
            // long prompt needs memory for one slice's activations and logits, not the whole prompt's.
            float[] logits = null;
            for (int from = 0; from < prompt.length; from += PREFILL_CHUNK) {
                logits = state.prefill(Arrays.copyOfRange(prompt, from, Math.min(prompt.length, from + PREFILL_CHUNK)));
            }
            long t1 = System.nanoTime();
            int produced = 0;
            StopReason reason = StopReason.LENGTH;
            for (int i = 0; i < maxNew; i++) {
                requireFinite(logits, prompt.length + i);
                if (seen != null) penalize(logits, seenIds, seenCount, (float) options.repetitionPenalty());
                int next = sampler.sample(logits);
                if (isEos(next)) {
                    reason = StopReason.EOS;
                    break;
                }
                produced++;
                if (!listener.accept(next)) {
                    reason = StopReason.STOP;
                    break;
                }
                if (seen != null && !seen[next]) {
                    seen[next] = true;
                    seenIds[seenCount++] = next;
                }
                if (i + 1 < maxNew) logits = state.next(next);
            }
            long t2 = System.nanoTime();
            return new Stats(prompt.length, produced, (t1 - t0) / 1e9, (t2 - t1) / 1e9, state.bytes(), reason);
        }
    }

    private boolean isEos(int id) {
        for (int e : options.eosIds()) if (e == id) return true;
        return false;
    }

    /** transformers' RepetitionPenaltyLogitsProcessor: z / p for z > 0, z · p otherwise, on every token seen. */
    static void penalize(float[] logits, int[] ids, int n, float penalty) {
        for (int k = 0; k < n; k++) {
            int id = ids[k];
            float z = logits[id];
            logits[id] = z < 0 ? z * penalty : z / penalty;
        }
    }

    /** Throws when a logit is NaN or infinite: sampling from them would pick token 0 forever. */
    static void requireFinite(float[] logits, long position) {
        float sum = 0;
        for (float z : logits) sum += z * 0f; // 0·x is NaN exactly when x is NaN or infinite
        if (sum == 0) return;
        for (int j = 0; j < logits.length; j++) {
            if (!Float.isFinite(logits[j])) {
                throw new NonFiniteException("generation stopped: the model's logits are not finite (token " + j + ": " + logits[j]
                        + ") at position " + position + ": its weights hold NaN or infinity, or its arithmetic overflowed"
                        + " (check the weights with --check-tensors)");
            }
        }
    }
}
