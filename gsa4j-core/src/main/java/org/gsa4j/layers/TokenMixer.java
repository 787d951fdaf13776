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

    /**
     * One pass over the rows of {@code rows}: x [rows, d] (normalised residual) → out [rows, d];
     * every sequence's state moves on by its tokens, in order. The buffers hold at least the
     * stepper's row capacity; rows past {@code rows.rows()} are ignored.
     */
    interface Stepper {
        void step(float[] x, StepRows rows, float[] out);
    }

    /**
     * What one layer carries between tokens when decoding. Its parts can be written to and read
     * from a snapshot ({@link #save}, {@link #load}), which the model wraps with its identity and
     * a checksum.
     */
    interface MixerState {
        /** Memory held, in bytes: fixed for the linear models, growing with context for attention. */
        long bytes();

        /**
         * Bytes of this state one decoded token reads: a recurrent state is read and rewritten
         * whole (counted twice), a KV cache read once.
         */
        long bytesReadPerToken();

        /** Bytes the state grows by per token of context: 0 for a fixed-size state, the keys and values of one token for a KV cache. */
        default long bytesPerContextToken() {
            return 0;
        }

        /**
         * A hint that the context will reach {@code tokens} in all: a state that grows with it (a KV
         * cache) makes room now rather than growing step by step.
         */
        default void reserve(int tokens) {}

        /** An independent copy (e.g. to continue one prefilled prompt in several ways). */
        MixerState copy();

        /**
         * Moves on by {@code tokens} without computing them (benchmarks reach long contexts this
         * way): position counters move; a fixed-size state keeps its contents (its size and the
         * work of a step do not depend on the position); a KV cache appends random keys and
         * values drawn from {@code rng}, so later steps attend over a context of that length.
         * The result is not the state of any real text.
         */
        void skip(int tokens, java.util.SplittableRandom rng);

        /** Writes every part of the state, in a fixed order. */
        void save(Writer out);

        /** Reads what {@link #save} wrote into this state (made by the same mixer for the same batch). */
        void load(Reader in);

        /** Where a state writes its parts: named tensors and counters. */
        interface Writer {
            void tensor(String name, Tensor t);

            void number(String name, long value);
        }

        /** Where a state reads its parts back, in the order they were written; a mismatch throws. */
        interface Reader {
            /** The stored tensor, which must have {@code shape} (any shape when none is given: a KV cache's tokens). */
            Tensor tensor(String name, int... shape);

            long number(String name);
        }
    }
}
