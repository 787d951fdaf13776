package org.gsa4j.ops.gsa;

import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Scratch;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

/**
 * The Gated Slot Attention operator (docs/MATH.md#the-gsa-operator): per batch element and head, with α_t = exp(g_t) ∈ R^M,
 * <pre>
 *   hk_t = hk_{t-1} ⊙ (1 α_tᵀ) + k_t s_tᵀ      a_t = hk_tᵀ (scale·q_t)     p_t = softmax(a_t)   (over the M slots)
 *   hv_t = (α_t 1ᵀ) ⊙ hv_{t-1} + s_t v_tᵀ      o_t = hv_tᵀ p_t
 * </pre>
 * float32 inputs run two chunkwise passes of {@link GatedLinearAttention} joined by a softmax
 * (docs/MATH.md#the-gsa-operator): pass 1 = VALUE decay on (scale·q, k, s, g, hk0) → a, q scaled as
 * each chunk loads it; pass 2 = KEY decay on (p, s, v, g, hv0) → o. float64 inputs run the recurrence above directly ({@link NaiveGsa}).
 */
public final class GatedSlotAttention {
    private GatedSlotAttention() {}

    /**
     * The operator on a tape, from zero states: q,k [B,T,H,K], v [B,T,H,V], s,g [B,T,H,M] →
     * o [B,T,H,V]. Chunkwise-parallel in float32, the plain recurrence in float64.
     */
    public static Var apply(Tape tape, Var q, Var k, Var v, Var s, Var g, double scale) {
        Result r = forward(q.value, k.value, v.value, s.value, g.value, scale, null, null);
        Var out = tape.result(r.o(), q, k, v, s, g);
        tape.record(out, () -> {
            Tensor dO = out.grad();
            if (dO == null) return;
            Grads d = backward(r, dO, null, null);
            q.accumulate(d.dq());
            k.accumulate(d.dk());
            v.accumulate(d.dv());
            s.accumulate(d.ds());
            g.accumulate(d.dg());
        });
        return out;
    }

    /** (batch, time, head) rows per task of the backward's element-wise steps. */
    private static final int ROWS_PER_TASK = 256;

    public record Result(Tensor o /*[B,T,H,V]*/, Tensor hkT /*[B,H,K,M]*/, Tensor hvT /*[B,H,M,V]*/, Object saved) {}

    public record Grads(Tensor dq, Tensor dk, Tensor dv, Tensor ds, Tensor dg, Tensor dhk0, Tensor dhv0) {}

    /** What the float32 backward keeps: the two passes' inputs (p is pass 2's query), a° inside pass 1. */
    private record ChunkSaved(double scale, GatedLinearAttention.Saved pass1, GatedLinearAttention.Saved pass2, Tensor p) {}

    /**
     * q,k [B,T,H,K]; v [B,T,H,V]; s,g [B,T,H,M] (g = log-decay ≤ 0); hk0 [B,H,K,M] or null;
     * hv0 [B,H,M,V] or null. All inputs the same precision: float32 → chunkwise algorithm,
     * float64 → the naive recurrence.
     */
    public static Result forward(Tensor q, Tensor k, Tensor v, Tensor s, Tensor g, double scale, Tensor hk0, Tensor hv0) {
        GatedLinearAttention.requireSamePrecision(q, k, v, s, g, hk0, hv0);
        if (q.isF64()) return NaiveGsa.forward(q, k, v, s, g, scale, hk0, hv0);
        GatedLinearAttention.Result pass1 = GatedLinearAttention.forward(Gate.value(g), q, (float) scale, k, s, hk0);
        Tensor p = pass1.o();                                   // a [B,T,H,M], turned into p in place
        int M = s.dim(3), rows = p.size() / M;
        Parallel.forRange(rows, r -> VectorOps.softmax(p.f, r * M, M));
        GatedLinearAttention.Result pass2 = GatedLinearAttention.forward(Gate.key(g), p, s, v, hv0);
        return new Result(pass2.o(), pass1.sT(), pass2.sT(), new ChunkSaved(scale, pass1.saved(), pass2.saved(), p));
    }

    /** dO [B,T,H,V]; dhkT, dhvT may be null (= 0). Gradients shaped like the inputs; dhk0, dhv0 always returned. */
    public static Grads backward(Result fwd, Tensor dO, Tensor dhkT, Tensor dhvT) {
        GatedLinearAttention.requireSamePrecision(fwd.o(), dO, dhkT, dhvT);
        if (fwd.saved() instanceof NaiveGsa.Saved naive) return NaiveGsa.backward(naive, dO, dhkT, dhvT);
        ChunkSaved saved = (ChunkSaved) fwd.saved();
        // 1. pass 2 (KD; q = p, k = s, v = v) → dp, ds⁽²⁾, dv, dg⁽²⁾, dhv0
        GatedLinearAttention.Grads pass2 = GatedLinearAttention.backward(saved.pass2(), dO, dhvT);
        // 2. softmax backward per row: da = p ⊙ (dp − ⟨p, dp⟩), written over dp
        Tensor p = saved.p(), da = pass2.dq();
        int M = p.dim(3), rows = p.size() / M;
        Parallel.forRange(rows, r -> VectorOps.softmaxBackward(p.f, da.f, r * M, M));
        // 3. pass 1 (VD; q = scale·q, k = k, v = s) → dq', dk, ds⁽¹⁾, dg⁽¹⁾, dhk0
        GatedLinearAttention.Grads pass1 = GatedLinearAttention.backward(saved.pass1(), da, dhkT);
        // 4. dq = scale·dq'; ds = ds⁽¹⁾ + ds⁽²⁾; dg = dg⁽¹⁾ + dg⁽²⁾
        Tensor dq = pass1.dq(), ds = pass1.dv(), dg = pass1.dg();
        int K = dq.dim(3);
        float scale = (float) saved.scale();
        float[] ds2 = pass2.dk().f, dg2 = pass2.dg().f;
        Parallel.forBlocks(rows, ROWS_PER_TASK, (r0, r1) -> {  // one job for the three element-wise steps
            VectorOps.scale(scale, dq.f, r0 * K, (r1 - r0) * K);
            VectorOps.add(ds.f, r0 * M, ds2, r0 * M, ds.f, r0 * M, (r1 - r0) * M);
            VectorOps.add(dg.f, r0 * M, dg2, r0 * M, dg.f, r0 * M, (r1 - r0) * M);
        });
        return new Grads(dq, pass1.dk(), pass2.dv(), ds, dg, pass1.ds0(), pass2.ds0());
    }

    /**
     * One recurrent decoding step for a batch of tokens, float32, allocation-free in the steady state:
     * q,k [B,H,K], v [B,H,V], s,g [B,H,M]; hk [B,H,K,M], hv [B,H,M,V] updated in place; o [B,H,V] written.
     */
    public static void step(Tensor q, Tensor k, Tensor v, Tensor s, Tensor g, double scale, Tensor hk, Tensor hv, Tensor o) {
        step(q, k, v, s, g, scale, hk, hv, o, 0, q.dim(0) * q.dim(1));
    }

    /** {@link #step} for the (batch·head) rows [from, to) only: disjoint ranges may run on different threads. */
    public static void step(Tensor q, Tensor k, Tensor v, Tensor s, Tensor g, double scale, Tensor hk, Tensor hv, Tensor o,
                            int from, int to) {
        for (int bh = from; bh < to; bh++) step(q, k, v, s, g, scale, bh, hk, hv, bh, o);
    }

    /**
     * One (token·head) row of the inputs, {@code row}, against one head of the memories,
     * {@code stateRow}: q,k [·,K], v [·,V], s,g [·,M] and o are indexed by row, hk [·,K,M] and
     * hv [·,M,V] by stateRow (rows of different sequences may step different memories).
     */
    public static void step(Tensor q, Tensor k, Tensor v, Tensor s, Tensor g, double scale, int row,
                            Tensor hk, Tensor hv, int stateRow, Tensor o) {
        int K = q.dim(-1), V = v.dim(-1), M = s.dim(-1);
        float[] alpha = Scratch.floats(0, M);
        float[] work = Scratch.floats(1, K + M);        // scale·q in [0, K), then a → p in [K, K + M)
        int pOff = K;
        System.arraycopy(g.f, row * M, alpha, 0, M);                // α = exp(g)
        VectorOps.expInPlace(alpha, 0, M);
        System.arraycopy(q.f, row * K, work, 0, K);
        VectorOps.scale((float) scale, work, 0, K);
        // pass 1 (VD): hk ← hk Diag(α) + k sᵀ, a = hkᵀ (scale·q)
        GatedLinearAttention.stepHead(Decay.VALUE, K, M, work, 0, k.f, row * K, s.f, row * M,
                alpha, hk.f, stateRow * K * M, work, pOff);
        VectorOps.softmax(work, pOff, M);
        // pass 2 (KD): hv ← Diag(α) hv + s vᵀ, o = hvᵀ p
        GatedLinearAttention.stepHead(Decay.KEY, M, V, work, pOff, s.f, row * M, v.f, row * V,
                alpha, hv.f, stateRow * M * V, o.f, row * V);
    }
}
