package org.gsa4j.layers;

import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;

import java.util.List;

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

    /** What one layer carries between tokens when decoding. */
    interface MixerState {
        /** Memory held, in bytes: fixed for the linear models, growing with context for attention. */
        long bytes();
    }
}
