package org.gsa4j.train;

import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.models.CausalLM;
import org.gsa4j.ops.CrossEntropy;
import org.gsa4j.tensor.Tensor;

/**
 * A model as validation and scoring see it: the forward of B sequences of T tokens from empty states, on
 * the CPU ({@link #of}) or where a {@link TrainEngine} computes.
 */
public interface ScoringModel {

    /** The mean cross-entropy over the labelled positions, and the logits [B·T, vocab] when they were asked for (else null). */
    record Scores(double loss, Tensor logits) {}

    /** Scores {@code ids} [B·T] against {@code targets} [B·T] ({@link CausalLM#IGNORE_INDEX}: not scored). */
    Scores score(int[] ids, int[] targets, int batch, int seqLen, boolean withLogits);

    int vocabSize();

    /** The CPU engine's forward (an inference tape), as training and evaluation have always computed it. */
    static ScoringModel of(CausalLM model) {
        return new ScoringModel() {
            @Override
            public Scores score(int[] ids, int[] targets, int batch, int seqLen, boolean withLogits) {
                Tape tape = Tape.inference();
                Var logits = model.logits(tape, model.bind(tape), ids, batch, seqLen, null);
                Var loss = CrossEntropy.apply(tape, logits, targets, CausalLM.IGNORE_INDEX);
                return new Scores(loss.value.get(0), withLogits ? logits.value : null);
            }

            @Override
            public int vocabSize() {
                return model.config.vocabSize();
            }
        };
    }
}
