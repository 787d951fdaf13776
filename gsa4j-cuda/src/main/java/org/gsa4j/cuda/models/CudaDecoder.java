package org.gsa4j.cuda.models;

import org.gsa4j.infer.Generator;

/**
 * Generation on the GPU ({@link Generator.Decoder}): the prompt's slices through the chunk kernels from the
 * sequence's state, then one token per {@link CudaCausalLM#feed}; the logits come back to the host, where the
 * CPU engine's sampler, repetition penalty and stop rules pick the next token. So greedy decoding gives the
 * CPU engine's tokens wherever the two models' logits order the candidates alike.
 */
public final class CudaDecoder implements Generator.Decoder {
    private final CudaCausalLM model;

    public CudaDecoder(CudaCausalLM model) {
        this.model = model;
    }

    @Override
    public int vocabSize() {
        return model.config().vocabSize();
    }

    @Override
    public Session start(int maxTokens) {
        CudaCausalLM.State state = model.newState(1);
        int[] one = new int[1];
        return new Session() {
            @Override
            public float[] prefill(int[] tokens) {
                return model.feed(tokens, 1, tokens.length, state).f;
            }

            @Override
            public float[] next(int token) {
                one[0] = token;
                return model.feed(one, 1, 1, state).f;
            }

            @Override
            public long bytes() {
                return model.device().call(state.arena::bytes);
            }

            @Override
            public void close() {
                state.close();
            }
        };
    }
}
