package org.gsa4j.cuda.models;

import org.gsa4j.Gsa4jException;
import org.gsa4j.train.LmEval;

/**
 * Evaluation on the GPU ({@link LmEval.TokenScorer}): the text's tokens go through one sequence's state in
 * chunks, and each chunk's positions are scored on the device by the fused cross-entropy against the next
 * token ({@link CudaCausalLM#loss(int[], int[], int, int, CudaCausalLM.State)}), so only a chunk's mean loss
 * comes back, not its logits. The last token seen is held back until its successor arrives (it is the next
 * chunk's first input): the sum of the losses equals the CPU scorer's, which feeds every token and scores it
 * with the previous position's logits.
 */
public final class CudaTokenScorer implements LmEval.TokenScorer, AutoCloseable {
    private final CudaCausalLM model;
    private final int chunk, vocab;
    private final CudaCausalLM.State state;
    /** The last token seen, not fed yet; -1 before the first. */
    private int pending = -1;
    private double nll;
    private long count;

    public CudaTokenScorer(CudaCausalLM model, int chunk) {
        if (chunk <= 0) throw new Gsa4jException("eval: chunk length must be positive, is " + chunk);
        this.model = model;
        this.chunk = chunk;
        this.vocab = model.config().vocabSize();
        this.state = model.newState(1);
    }

    @Override
    public void start(int id) {
        check(id);
        pending = id;
    }

    @Override
    public boolean started() {
        return pending >= 0;
    }

    @Override
    public void score(int[] ids) {
        for (int id : ids) check(id);
        int from = 0;
        if (pending < 0) {
            if (ids.length == 0) return;
            pending = ids[0]; // the text's first token only starts the state
            from = 1;
        }
        while (from < ids.length) {
            int n = Math.min(chunk, ids.length - from);
            int[] inputs = new int[n], targets = new int[n];
            inputs[0] = pending;
            System.arraycopy(ids, from, inputs, 1, n - 1);
            System.arraycopy(ids, from, targets, 0, n);
            double mean = model.loss(inputs, targets, 1, n, state);
            if (!Double.isFinite(mean)) {
                throw new LmEval.NonFiniteException("eval stopped: the model's loss is not finite (" + mean + ") on tokens " + (count + 1) + " to "
                        + (count + n) + " of the text: its weights hold NaN or infinity, or its arithmetic overflowed "
                        + "(check the weights with generate --check-tensors)");
            }
            nll += mean * n;
            count += n;
            pending = ids[from + n - 1];
            from += n;
        }
    }

    private void check(int id) {
        if (id < 0 || id >= vocab) throw new Gsa4jException("token id " + id + " outside the model's vocabulary [0, " + vocab + ")");
    }

    @Override
    public double nll() {
        return nll;
    }

    @Override
    public long count() {
        return count;
    }

    @Override
    public long stateBytes() {
        return model.device().call(state.arena::bytes);
    }

    @Override
    public int chunk() {
        return chunk;
    }

    @Override
    public void close() {
        state.close();
    }
}
