package org.gsa4j.layers;

import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;

import java.util.function.IntConsumer;

/**
 * The primitive's recurrent step inside the single-token steppers of GLA, RetNet and HGRN2: on the
 * stepper's own buffers (q with the scale folded in, k [B,H,Dk], v, o [B,H,Dv], the gate's g
 * [B,H,Dk] or the per-head log γ), one (sequence, head) per task across the decode team, from and
 * into a {@link LinearState}. Allocation-free.
 */
final class RecurrentStep {
    private final Gate gate;
    private final Tensor q, k, v, o;
    private final int rows;
    private final IntConsumer head = this::head;
    /** The state being stepped (set for the duration of {@link #run}, read by the tasks). */
    private LinearState current;

    RecurrentStep(Gate gate, Tensor q, Tensor k, Tensor v, Tensor o) {
        this.gate = gate;
        this.q = q;
        this.k = k;
        this.v = v;
        this.o = o;
        this.rows = q.dim(0) * q.dim(1);
    }

    /** S ← decayed S + k vᵀ, o = Sᵀ q for every (sequence, head); the state moves on by one token. */
    void run(LinearState state) {
        current = state;
        Parallel.forDecode(rows, head);
        current = null;
        state.position++;
    }

    private void head(int bh) {
        GatedLinearAttention.step(gate, q, k, v, current.s, o, bh, bh + 1);
    }
}
