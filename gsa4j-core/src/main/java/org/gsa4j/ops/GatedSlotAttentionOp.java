package org.gsa4j.ops;

import org.gsa4j.ops.GatedLinearAttention.Decay;
import org.gsa4j.ops.GatedLinearAttention.Gate;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;

/**
 * The Gated Slot Attention operator (SPEC §2): per batch element and head, with α_t = exp(g_t) ∈ R^M,
 * <pre>
 *   hk_t = hk_{t-1} ⊙ (1 α_tᵀ) + k_t s_tᵀ      a_t = hk_tᵀ (scale·q_t)     p_t = softmax(a_t)   (over the M slots)
 *   hv_t = (α_t 1ᵀ) ⊙ hv_{t-1} + s_t v_tᵀ      o_t = hv_tᵀ p_t
 * </pre>
 * float32 inputs run two chunkwise passes of {@link GatedLinearAttention} joined by a softmax
 * (SPEC 2.4.7): pass 1 = VALUE decay on (scale·q, k, s, g, hk0) → a; pass 2 = KEY decay on
 * (p, s, v, g, hv0) → o. float64 inputs run the recurrence above directly ({@link NaiveGsa}).
 */
public final class GatedSlotAttentionOp {
    private GatedSlotAttentionOp() {}

    /** Elements per task of the element-wise scaling of q (a fixed cut: results do not depend on it). */
    private static final int ELEMENTS_PER_TASK = 1 << 16;
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
        Tensor scaledQ = Tensor.zeros(q.shape);
        Parallel.forBlocks(q.size(), ELEMENTS_PER_TASK, (i, j) -> Vec.scaleTo(scaledQ.f, i, (float) scale, q.f, i, j - i));
        GatedLinearAttention.Result pass1 = GatedLinearAttention.forward(Gate.value(g), scaledQ, k, s, hk0);
        Tensor p = pass1.o();                                   // a [B,T,H,M], turned into p in place
        int M = s.dim(3), rows = p.size() / M;
        Parallel.forRange(rows, r -> Vec.softmaxInPlace(p.f, r * M, M));
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
        Parallel.forRange(rows, r -> Vec.softmaxBackwardInPlace(p.f, da.f, r * M, M));
        // 3. pass 1 (VD; q = scale·q, k = k, v = s) → dq', dk, ds⁽¹⁾, dg⁽¹⁾, dhk0
        GatedLinearAttention.Grads pass1 = GatedLinearAttention.backward(saved.pass1(), da, dhkT);
        // 4. dq = scale·dq'; ds = ds⁽¹⁾ + ds⁽²⁾; dg = dg⁽¹⁾ + dg⁽²⁾
        Tensor dq = pass1.dq(), ds = pass1.dv(), dg = pass1.dg();
        int K = dq.dim(3);
        float scale = (float) saved.scale();
        float[] ds2 = pass2.dk().f, dg2 = pass2.dg().f;
        Parallel.forBlocks(rows, ROWS_PER_TASK, (r0, r1) -> {  // one job for the three element-wise steps
            Vec.scale(dq.f, r0 * K, scale, (r1 - r0) * K);
            Vec.add(ds.f, r0 * M, ds2, r0 * M, (r1 - r0) * M);
            Vec.add(dg.f, r0 * M, dg2, r0 * M, (r1 - r0) * M);
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
        int K = q.dim(2), V = v.dim(2), M = s.dim(2);
        float[] alpha = Scratch.floats(0, M);
        float[] work = Scratch.floats(1, K + M);        // scale·q in [0, K), then a → p in [K, K + M)
        int pOff = K;
        for (int bh = from; bh < to; bh++) {
            System.arraycopy(g.f, bh * M, alpha, 0, M);                // α = exp(g)
            Vec.expInPlace(alpha, 0, M);
            System.arraycopy(q.f, bh * K, work, 0, K);
            Vec.scale(work, 0, (float) scale, K);
            // pass 1 (VD): hk ← hk Diag(α) + k sᵀ, a = hkᵀ (scale·q)
            GatedLinearAttention.stepHead(Decay.VALUE, K, M, work, 0, k.f, bh * K, s.f, bh * M,
                    alpha, hk.f, bh * K * M, work, pOff);
            Vec.softmaxInPlace(work, pOff, M);
            // pass 2 (KD): hv ← Diag(α) hv + s vᵀ, o = hvᵀ p
            GatedLinearAttention.stepHead(Decay.KEY, M, V, work, pOff, s.f, bh * M, v.f, bh * V,
                    alpha, hv.f, bh * M * V, o.f, bh * V);
        }
    }
}
