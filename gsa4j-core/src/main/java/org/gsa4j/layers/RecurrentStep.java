package org.gsa4j.layers;

import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;

import java.util.function.IntConsumer;

/**
 * The primitive's recurrent step inside the single-token steppers of GLA, RetNet and HGRN2: on the
 * stepper's own buffers (q with the scale folded in, k [rows,H,Dk], v, o [rows,H,Dv], the gate's g
 * [rows,H,Dk] or the per-head log γ), one (sequence, head) per task across the decode team, each
 * over its sequence's tokens in order, from and into that sequence's {@link LinearState}.
 * Allocation-free.
 */
final class RecurrentStep {
    private final Gate gate;
    private final Tensor q, k, v, o;
    private final int heads;
    private final IntConsumer head = this::head;
    /** The pass being stepped (set for the duration of {@link #run}, read by the tasks). */
    private StepRows current;

    RecurrentStep(Gate gate, Tensor q, Tensor k, Tensor v, Tensor o) {
        this.gate = gate;
        this.q = q;
        this.k = k;
        this.v = v;
        this.o = o;
        this.heads = q.dim(1);
    }

    /** S ← decayed S + k vᵀ, o = Sᵀ q for every token of every (sequence, head); each state moves on by its tokens. */
    void run(StepRows rows) {
        current = rows;
        Parallel.forDecode(rows.sequences() * heads, head);
        current = null;
        if (rows.isLockStep()) ((LinearState) rows.state(0)).position++;
        else for (int s = 0; s < rows.sequences(); s++) ((LinearState) rows.state(s)).position += rows.count(s);
    }

    private void head(int task) {
        int s = task / heads, h = task % heads, first = current.first(s);
        LinearState state = (LinearState) current.state(s);
        for (int r = first; r < first + current.count(s); r++) {
            GatedLinearAttention.step(gate, q, k, v, r * heads + h, state.s, current.slot(s) * heads + h, o);
        }
    }
}
