package org.gsa4j.layers;

import org.gsa4j.layers.TokenMixer.MixerState;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;

import java.util.function.IntConsumer;

/**
 * The recurrent operator inside the single-token steppers: one (sequence, head) per task across the
 * decode team, each over its sequence's tokens in order, from and into that sequence's state.
 * The operator is the gated-linear-attention primitive on a {@link LinearState} (GLA, RetNet,
 * HGRN2: {@link #linear}) or any other per-head step (GSA's two passes on its slot memories).
 * Allocation-free.
 */
final class RecurrentStep {
    /** One token (input row {@code row}) of one head against that head of a sequence's state ({@code stateRow}). */
    @FunctionalInterface
    interface HeadStep {
        void step(MixerState state, int row, int stateRow);
    }

    private final int heads;
    private final HeadStep body;
    private final IntConsumer task = this::task;
    /** The pass being stepped (set for the duration of {@link #run}, read by the tasks). */
    private StepRows current;

    RecurrentStep(int heads, HeadStep body) {
        this.heads = heads;
        this.body = body;
    }

    /**
     * The primitive's step on the stepper's own buffers: q with the scale folded in, k [rows,H,Dk],
     * v, o [rows,H,Dv], the gate's g [rows,H,Dk] or the per-head log γ.
     */
    static RecurrentStep linear(Gate gate, Tensor q, Tensor k, Tensor v, Tensor o) {
        return new RecurrentStep(q.dim(1), (state, row, stateRow) ->
                GatedLinearAttention.step(gate, q, k, v, row, ((LinearState) state).s, stateRow, o));
    }

    /** Every token of every (sequence, head) through the operator; each state moves on by its tokens. */
    void run(StepRows rows) {
        current = rows;
        Parallel.forDecode(rows.sequences() * heads, task);
        current = null;
        if (rows.isLockStep()) advance(rows.state(0), 1);
        else for (int s = 0; s < rows.sequences(); s++) advance(rows.state(s), rows.count(s));
    }

    /** A linear layer's state counts its tokens (RetNet's rotary positions); GSA's has no position. */
    private static void advance(MixerState state, int tokens) {
        if (state instanceof LinearState linear) linear.position += tokens;
    }

    private void task(int t) {
        int s = t / heads, h = t % heads, first = current.first(s), stateRow = current.slot(s) * heads + h;
        MixerState state = current.state(s);
        for (int r = first; r < first + current.count(s); r++) body.step(state, r * heads + h, stateRow);
    }
}
