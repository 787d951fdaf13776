package org.gsa4j.ops.attention;

import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.Gemm;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

import java.util.Arrays;

/**
 * Causal softmax attention with grouped-query heads and an optional sliding window
 * (docs/MATH.md#causal-softmax-attention), forward and hand-written backward.
 *
 * <pre>
 *   q [B,T,HQ,D], k, v [B,T,HKV,D], G = HQ / HKV; query head h uses kv head g = floor(h / G)
 *   s_{t,j} = scale · q_{t,h} · k_{j,g}        for j in [lo(t), t],  lo(t) = window > 0 ? max(0, t − window + 1) : 0
 *   p_{t,j} = exp(s_{t,j} − lse_t),  lse_t = log Σ_j exp(s_{t,j})       (max-subtracted)
 *   o_{t,h} = Σ_j p_{t,j} v_{j,g}                                       o [B,T,HQ,D]
 * </pre>
 * Backward (δ_t = dO_t · o_t):
 * <pre>
 *   dp_{t,j} = dO_t · v_j,   ds_{t,j} = p_{t,j} (dp_{t,j} − δ_t)
 *   dq_t = scale Σ_j ds_{t,j} k_j,   dk_j = scale Σ_{t,h∈group} ds_{t,j} q_t,   dv_j = Σ_{t,h∈group} p_{t,j} dO_t
 * </pre>
 * The saved state is the inputs, the output and the row log-sum-exp (float64, [B,HQ,T]); the
 * probabilities are recomputed in backward block by block, so no T×T matrix is ever stored.
 * The saved inputs are referenced, not copied: do not modify q, k, v after {@code forward}
 * until {@code backward} has run.
 *
 * <p>float32: flash-style, 64×64 blocks with the block products on {@link Gemm} and an online
 * softmax; forward parallel over (batch, query head, query block), backward over (batch, kv head)
 * so the group's gradient sums into dk, dv need no synchronisation (or, when that gives fewer
 * tasks than cores, over (batch, query head) with per-head partials summed afterwards). float64: plain loops (the
 * executable reference).
 */
public final class CausalAttention {
    private CausalAttention() {}

    /**
     * Causal softmax attention on a tape: q [B,T,HQ,D], k, v [B,T,HKV,D] (query head h uses kv head
     * h / G), logits scaled by {@code scale}, {@code window} the sliding window (0 = full causal) →
     * o [B,T,HQ,D].
     */
    public static Var apply(Tape tape, Var q, Var k, Var v, double scale, int window) {
        Result r = forward(q.value, k.value, v.value, scale, window);
        Var out = tape.result(r.o(), q, k, v);
        tape.record(out, () -> {
            Tensor dO = out.grad();
            if (dO == null) return;
            Grads d = backward(r, dO);
            q.accumulate(d.dq());
            k.accumulate(d.dk());
            v.accumulate(d.dv());
        });
        return out;
    }

    /** Query-block and key-block sizes of the float32 path. */
    static final int BR = 64, BC = 64;

    /** o [B,T,HQ,D]; {@code saved} is opaque state for {@link #backward}. */
    public record Result(Tensor o, Object saved) {}

    /** dq [B,T,HQ,D]; dk, dv [B,T,HKV,D] (summed over each kv head's query group). */
    public record Grads(Tensor dq, Tensor dk, Tensor dv) {}

    private record Saved(Tensor q, Tensor k, Tensor v, Tensor o, double[] lse, double scale, int window) {}

    /** Shapes of one call. */
    private record Dims(int B, int T, int HQ, int HKV, int D, int G) {
        int qOff(int b, int t, int h) { return ((b * T + t) * HQ + h) * D; }
        int kOff(int b, int t, int g) { return ((b * T + t) * HKV + g) * D; }
        int lseOff(int b, int h, int t) { return (b * HQ + h) * T + t; }
    }

    /**
     * @param q      [B,T,HQ,D]
     * @param k      [B,T,HKV,D], HQ a multiple of HKV
     * @param v      [B,T,HKV,D]
     * @param scale  logit scale, usually D^-0.5
     * @param window sliding window w (each query attends to its last w keys incl. itself); 0 = full causal
     */
    public static Result forward(Tensor q, Tensor k, Tensor v, double scale, int window) {
        Dims d = check(q, k, v, window);
        Tensor o = Tensor.zerosLike(q, q.shape);
        double[] lse = new double[d.B * d.HQ * d.T];
        if (q.isF64()) forwardF64(d, q.d, k.d, v.d, scale, window, o.d, lse);
        else forwardF32(d, q.f, k.f, v.f, (float) scale, window, o.f, lse);
        return new Result(o, new Saved(q, k, v, o, lse, scale, window));
    }

    /** Gradients of the loss w.r.t. q, k, v, given dO [B,T,HQ,D] = ∂loss/∂o. */
    public static Grads backward(Result fwd, Tensor dO) {
        if (!(fwd.saved() instanceof Saved s)) throw new IllegalArgumentException("not a CausalAttention result");
        if (!dO.sameShape(s.o) || dO.isF64() != s.o.isF64()) {
            throw new IllegalArgumentException("dO " + dO + " must match o " + s.o);
        }
        Dims d = check(s.q, s.k, s.v, s.window);
        Tensor dq = Tensor.zerosLike(s.q, s.q.shape);
        Tensor dk = Tensor.zerosLike(s.k, s.k.shape);
        Tensor dv = Tensor.zerosLike(s.v, s.v.shape);
        if (s.q.isF64()) {
            backwardF64(d, s, dO.d, dq.d, dk.d, dv.d);
        } else {
            backwardF32(d, s, dO.f, dq.f, dk.f, dv.f);
        }
        return new Grads(dq, dk, dv);
    }

    private static Dims check(Tensor q, Tensor k, Tensor v, int window) {
        if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4) {
            throw new IllegalArgumentException("attention expects q [B,T,HQ,D], k, v [B,T,HKV,D]; got " + q + ", " + k + ", " + v);
        }
        if (!k.sameShape(v)) throw new IllegalArgumentException("k " + k + " and v " + v + " differ in shape");
        if (q.dim(0) != k.dim(0) || q.dim(1) != k.dim(1) || q.dim(3) != k.dim(3)) {
            throw new IllegalArgumentException("q " + q + " and k " + k + " disagree on B, T or D");
        }
        if (k.dim(2) == 0 || q.dim(2) % k.dim(2) != 0) {
            throw new IllegalArgumentException("query heads " + q.dim(2) + " not a multiple of kv heads " + k.dim(2));
        }
        if (q.isF64() != k.isF64() || q.isF64() != v.isF64()) throw new IllegalArgumentException("q, k, v must share a precision");
        if (window < 0) throw new IllegalArgumentException("window must be >= 0, got " + window);
        return new Dims(q.dim(0), q.dim(1), q.dim(2), k.dim(2), q.dim(3), q.dim(2) / k.dim(2));
    }

    /** First key index query t may see. */
    static int lo(int t, int window) {
        return window > 0 ? Math.max(0, t - window + 1) : 0;
    }

    // ------------------------------------------------------------------ float64 reference

    private static void forwardF64(Dims d, double[] q, double[] k, double[] v, double scale, int window,
                                   double[] o, double[] lse) {
        double[] s = new double[d.T];
        for (int b = 0; b < d.B; b++) {
            for (int h = 0; h < d.HQ; h++) {
                int g = h / d.G;
                for (int t = 0; t < d.T; t++) {
                    int qo = d.qOff(b, t, h), lo = lo(t, window);
                    double m = Double.NEGATIVE_INFINITY;
                    for (int j = lo; j <= t; j++) {
                        int ko = d.kOff(b, j, g);
                        double acc = 0;
                        for (int c = 0; c < d.D; c++) acc += q[qo + c] * k[ko + c];
                        s[j] = scale * acc;
                        m = Math.max(m, s[j]);
                    }
                    double l = 0;
                    for (int j = lo; j <= t; j++) {
                        s[j] = Math.exp(s[j] - m);
                        l += s[j];
                    }
                    for (int j = lo; j <= t; j++) {
                        double p = s[j] / l;
                        int vo = d.kOff(b, j, g);
                        for (int c = 0; c < d.D; c++) o[qo + c] += p * v[vo + c];
                    }
                    lse[d.lseOff(b, h, t)] = m + Math.log(l);
                }
            }
        }
    }

    private static void backwardF64(Dims d, Saved sv, double[] dO, double[] dq, double[] dk, double[] dv) {
        double[] q = sv.q.d, k = sv.k.d, v = sv.v.d, o = sv.o.d;
        double scale = sv.scale;
        for (int b = 0; b < d.B; b++) {
            for (int h = 0; h < d.HQ; h++) {
                int g = h / d.G;
                for (int t = 0; t < d.T; t++) {
                    int qo = d.qOff(b, t, h);
                    double delta = 0;
                    for (int c = 0; c < d.D; c++) delta += dO[qo + c] * o[qo + c];
                    double lse = sv.lse[d.lseOff(b, h, t)];
                    for (int j = lo(t, sv.window); j <= t; j++) {
                        int ko = d.kOff(b, j, g);
                        double sc = 0, dp = 0;
                        for (int c = 0; c < d.D; c++) {
                            sc += q[qo + c] * k[ko + c];
                            dp += dO[qo + c] * v[ko + c];
                        }
                        double p = Math.exp(scale * sc - lse);
                        double ds = p * (dp - delta);
                        for (int c = 0; c < d.D; c++) {
                            dq[qo + c] += scale * ds * k[ko + c];
                            dk[ko + c] += scale * ds * q[qo + c];
                            dv[ko + c] += p * dO[qo + c];
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ float32 blocked

    private static void forwardF32(Dims d, float[] q, float[] k, float[] v, float scale, int window,
                                   float[] o, double[] lse) {
        int nBlocks = (d.T + BR - 1) / BR;
        int ldq = d.HQ * d.D, ldk = d.HKV * d.D, D = d.D;
        Parallel.forRange(d.B * d.HQ * nBlocks, task -> {
            int ib = task % nBlocks, bh = task / nBlocks, h = bh % d.HQ, b = bh / d.HQ, g = h / d.G;
            int i0 = ib * BR, i1 = Math.min(d.T, i0 + BR), nr = i1 - i0;
            float[] s = new float[BR * BC];
            float[] acc = new float[BR * D];
            float[] m = new float[BR];
            float[] l = new float[BR];
            Arrays.fill(m, Float.NEGATIVE_INFINITY);
            int qo = d.qOff(b, i0, h);
            for (int j0 = lo(i0, window); j0 < i1; j0 += BC) {
                int j1 = Math.min(i1, j0 + BC), nc = j1 - j0;
                int ko = d.kOff(b, j0, g);
                Gemm.sgemm(false, true, nr, nc, D, scale, q, qo, ldq, k, ko, ldk, 0f, s, 0, BC);
                for (int r = 0; r < nr; r++) {
                    int t = i0 + r, row = r * BC;
                    int cLo = Math.max(j0, lo(t, window)) - j0, cHi = Math.min(j1 - 1, t) - j0;
                    if (cLo > cHi) {
                        Arrays.fill(s, row, row + nc, 0f);
                        continue;
                    }
                    float bm = Float.NEGATIVE_INFINITY;
                    for (int c = cLo; c <= cHi; c++) bm = Math.max(bm, s[row + c]);
                    float mNew = Math.max(m[r], bm);
                    float sum = 0f;
                    for (int c = 0; c < nc; c++) {
                        float p = (c >= cLo && c <= cHi) ? (float) Math.exp(s[row + c] - mNew) : 0f;
                        s[row + c] = p;
                        sum += p;
                    }
                    if (m[r] != Float.NEGATIVE_INFINITY && mNew != m[r]) {
                        float alpha = (float) Math.exp(m[r] - mNew);
                        l[r] *= alpha;
                        VectorOps.scale(alpha, acc, r * D, D);
                    }
                    l[r] += sum;
                    m[r] = mNew;
                }
                Gemm.sgemm(false, false, nr, D, nc, 1f, s, 0, BC, v, ko, ldk, 1f, acc, 0, D);
            }
            for (int r = 0; r < nr; r++) {
                VectorOps.scaleTo(1f / l[r], acc, r * D, o, qo + r * ldq, D);
                lse[d.lseOff(b, h, i0 + r)] = (double) m[r] + Math.log(l[r]);
            }
        });
    }

    /**
     * Test hook: null = choose automatically; TRUE/FALSE force the per-query-head (with group
     * partials) or the per-kv-head decomposition of the float32 backward.
     */
    static volatile Boolean forcePerHeadBackward;

    /**
     * float32 backward. Per kv head (b, g) when B·HKV tasks fill the cores: the task owns dk, dv of
     * its kv head and loops over the group's query heads. Otherwise (GQA with few tasks) per query
     * head (b, h), accumulating dk, dv into per-head partials [B,HQ,T,D] that are then summed over
     * each group (G times more parallelism for 2·B·HQ·T·D floats of scratch).
     */
    private static void backwardF32(Dims d, Saved sv, float[] dO, float[] dq, float[] dk, float[] dv) {
        Boolean force = forcePerHeadBackward;
        boolean perHead = force != null ? force && d.G > 1 : d.G > 1 && d.B * d.HKV < Parallel.threads();
        int D = d.D, T = d.T;
        if (!perHead) {
            Parallel.forRange(d.B * d.HKV, task -> {
                int g = task % d.HKV, b = task / d.HKV;
                Scratch sc = new Scratch();
                int base = d.kOff(b, 0, g), ld = d.HKV * D;
                for (int h = g * d.G; h < (g + 1) * d.G; h++) {
                    backwardHead(d, sv, dO, b, h, g, sc, dq, dk, dv, base, ld);
                }
            });
            return;
        }
        float[] dkp = new float[d.B * d.HQ * T * D], dvp = new float[d.B * d.HQ * T * D];
        Parallel.forRange(d.B * d.HQ, task -> {
            int h = task % d.HQ, b = task / d.HQ;
            backwardHead(d, sv, dO, b, h, h / d.G, new Scratch(), dq, dkp, dvp, task * T * D, D);
        });
        Parallel.forRange(d.B * T, bt -> {
            int b = bt / T, t = bt % T;
            for (int g = 0; g < d.HKV; g++) {
                int dst = d.kOff(b, t, g);
                for (int h = g * d.G; h < (g + 1) * d.G; h++) {
                    int src = ((b * d.HQ + h) * T + t) * D;
                    VectorOps.axpy(1f, dkp, src, dk, dst, D);
                    VectorOps.axpy(1f, dvp, src, dv, dst, D);
                }
            }
        });
    }

    /** Per-task block buffers of the float32 backward. */
    private static final class Scratch {
        final float[] s = new float[BR * BC], dp = new float[BR * BC], delta = new float[BR];
    }

    /**
     * Backward of one query head h (kv head g) of sequence b: dq of the head is written directly;
     * dk, dv contributions are added to {@code dkT, dvT} at {@code base + j·ld} for key j.
     */
    private static void backwardHead(Dims d, Saved sv, float[] dO, int b, int h, int g, Scratch sc,
                                     float[] dq, float[] dkT, float[] dvT, int base, int ld) {
        float[] q = sv.q.f, k = sv.k.f, v = sv.v.f, o = sv.o.f;
        float[] s = sc.s, dp = sc.dp, delta = sc.delta;
        float scale = (float) sv.scale;
        int window = sv.window;
        int ldq = d.HQ * d.D, ldk = d.HKV * d.D, D = d.D;
        int nBlocks = (d.T + BR - 1) / BR;
        for (int ib = 0; ib < nBlocks; ib++) {
            int i0 = ib * BR, i1 = Math.min(d.T, i0 + BR), nr = i1 - i0;
            int qo = d.qOff(b, i0, h);
            for (int r = 0; r < nr; r++) delta[r] = VectorOps.dot(dO, qo + r * ldq, o, qo + r * ldq, D);
            for (int j0 = lo(i0, window); j0 < i1; j0 += BC) {
                int j1 = Math.min(i1, j0 + BC), nc = j1 - j0;
                int ko = d.kOff(b, j0, g), to = base + j0 * ld;
                Gemm.sgemm(false, true, nr, nc, D, scale, q, qo, ldq, k, ko, ldk, 0f, s, 0, BC);
                Gemm.sgemm(false, true, nr, nc, D, 1f, dO, qo, ldq, v, ko, ldk, 0f, dp, 0, BC);
                for (int r = 0; r < nr; r++) {
                    int t = i0 + r, row = r * BC;
                    int cLo = Math.max(j0, lo(t, window)) - j0, cHi = Math.min(j1 - 1, t) - j0;
                    double rowLse = sv.lse[d.lseOff(b, h, t)];
                    for (int c = 0; c < nc; c++) {
                        float p = (c >= cLo && c <= cHi) ? (float) Math.exp(s[row + c] - rowLse) : 0f;
                        s[row + c] = p;
                        dp[row + c] = p * (dp[row + c] - delta[r]);
                    }
                }
                // dv_j += Pᵀ dO_i ; dq_i += scale dS k_j ; dk_j += scale dSᵀ q_i
                Gemm.sgemm(true, false, nc, D, nr, 1f, s, 0, BC, dO, qo, ldq, 1f, dvT, to, ld);
                Gemm.sgemm(false, false, nr, D, nc, scale, dp, 0, BC, k, ko, ldk, 1f, dq, qo, ldq);
                Gemm.sgemm(true, false, nc, D, nr, scale, dp, 0, BC, q, qo, ldq, 1f, dkT, to, ld);
            }
        }
    }
}
