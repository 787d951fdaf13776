package org.gsa4j.layers;

import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.Tensor;

import java.util.List;
import java.util.function.Function;

/**
 * A sequence-mixing layer (GSA, GLA, RetNet, HGRN2, softmax attention): maps the normalised
 * residual stream [B,T,d] to [B,T,d].
 */
public interface TokenMixer {

    /** The parameters under the mixer's prefix (e.g. {@code q_proj.weight}). */
    List<ParamSpec> params();

    /**
     * Training (state null: every sequence starts from zeros) or inference from and into a decoding
     * state (prefill with any T, then T = 1 per generated token through the recurrent form).
     */
    Var forward(Tape tape, ParamScope p, Var x, MixerState state);

    /** A fresh (zero) decoding state for a batch. */
    MixerState newState(int batch);

    /**
     * A single-token decoding step on buffers of its own, allocation-free when called (weights
     * looked up once, by name under this mixer's prefix; the model-level parameters a
     * {@link ModelLevelParams} mixer declares by their own names), or null if this mixer has none;
     * decoding then goes through {@link #forward}. Float32 (or BF16-held matrices) only.
     */
    default Stepper stepper(Function<String, Tensor> params, int batch) {
        return null;
    }

    /** One token per sequence: x [B, d] (normalised residual) → out [B, d]; the state moves on. */
    interface Stepper {
        void step(float[] x, MixerState state, float[] out);
    }

    /** What one layer carries between tokens when decoding. */
    interface MixerState {
        /** Memory held, in bytes: fixed for the linear models, growing with context for attention. */
        long bytes();

        /**
         * A hint that the context will reach {@code tokens} in all: a state that grows with it (a KV
         * cache) makes room now rather than growing step by step.
         */
        default void reserve(int tokens) {}

        /** An independent copy (e.g. to continue one prefilled prompt in several ways). */
        default MixerState copy() {
            throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot be copied");
        }
    }
}
