package org.gsa4j.ops.gla;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;
import org.gsa4j.ops.gla.GatedLinearAttention.Dims;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.tensor.Gemm;
import org.gsa4j.tensor.VectorOps;

/**
 * The chunkwise-parallel float32 algorithm of docs/MATH.md#the-gated-linear-attention-primitive for one (batch, head): the sequence is cut
 * into chunks of {@link #C} rows; only the state S (forward) and dS (backward) cross chunk
 * boundaries, everything inside a chunk is small matrix products plus element-wise work.
 *
 * <p>Notation (docs/MATH.md#chunk-form): inside a chunk of L rows, {@code b_t = g_1 + … + g_t} is the chunk-local
 * inclusive cumulative log-decay (double, per decayed channel), {@code B = b_L}. Decay between two
 * rows of one chunk appears only in the three kernels {@link #scores}, {@link #mixAdd},
 * {@link #mixTAdd}, evaluated by 16-row sub-blocks so that no exponent is ever positive (2.4.6).
 * Every other decay factor is one of {@code e^{b_t}}, {@code e^{B−b_t}}, {@code e^{B}} (all ≤ 1).
 *
 * <p>The chunks of one (batch, head) are independent but for S and dS, so a call runs as three
 * parallel jobs ({@link GatedLinearAttention}): every chunk's work that needs no state — its own
 * contribution to the state recurrences and, forward, the chunk-internal outputs
 * ({@link #forwardLocal}, {@link #backwardSteps}); the recurrences themselves, element-wise over
 * the state and cheap ({@link #advance}, {@link #retreat}); then every chunk's work with the state
 * entering it ({@link #forwardInter}, {@link #backwardChunk}). Each piece is computed whole by one
 * task in a fixed order, so the cut never changes a bit.
 *
 * <p>One instance per thread ({@link #forTask}), bound to one (batch, head) at a time: it owns the
 * chunk buffers (no sharing between threads, no allocation per call).
 */
final class ChunkHead {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int C = 64;   // chunk length
    static final int BC = 16;  // sub-block length of the decayed kernels

    private final int dk, dv, dd;  // dd: length of the decayed axis (dk for KEY/SCALAR, dv for VALUE)
    // The (batch, head) of one call, set by bind: the buffers below are reused call after call.
    private Decay decay;
    private int T, H;
    private int batch, head;
    private float[] qAll, kAll, vAll, gAll;  // [B,T,H,·] inputs
    private float qScale;                    // q's rows are loaded times this
    private double logGamma;                 // SCALAR only

    // Chunk rows, row-major: q, k L×dk; v, dO, oStrict L×dv.
    private final float[] q, k, v, dO, oStrict;
    // b with a leading zero row: row 0 = 0, row t+1 = b_t ((C+1)×dd, double).
    private final double[] b;
    private final float[] expB, expBMinusB, expBLast;  // e^{b_t} L×dd, e^{B−b_t} L×dd, e^{B} dd
    private final float[] scoresBuf, dScoresBuf;      // L×L matrices, row stride L
    private final float[] tmpK, tmpV;                  // L×dk, L×dv work rows
    private final float[] oRows;                       // forward output rows, L×dv
    private final float[] gradQ, gradK, gradV;         // backward results, L×dk, L×dk, L×dv
    private final float[] gradKStrict, gradVStrict;    // KD's dK°, VD's dV° (without the j = t terms)
    private final float[] subX, subY, subAcc;  // sub-block scratch: BC×dd each
    private final double[] dgChunk, dgStateTerm, dgRunning;  // L×dd, dd, dd
    // Decay factors of the sub-block kernels, formed once per loaded chunk (the backward uses each
    // two or three times); exactly the values the kernels would form themselves.
    private final float[] fromStart;  // L×dd: e^{b_t − b_n(t)}, n(t) the first row of t's sub-block
    private final float[] toStart;    // sub-block s ≥ 1, rows j < s·BC: e^{b_{s·BC} − b_j}, at toStartRow(s, j)
    private final float[] inBlock;    // sub-block s, rows j < t inside it: e^{b_t − b_j}, at inBlockRow(t, j)
    private final float[] ones;       // dd ones: the diagonal j = t of scores (factor e^0 = 1)
    private boolean tablesReady;

    private static final ThreadLocal<ChunkHead> REUSED = new ThreadLocal<>();

    /**
     * This thread's chunk buffers for the given sizes, bound to one (batch, head) of a call (one
     * task at a time per thread: a chunk task never starts another one).
     */
    static ChunkHead forTask(Dims dims, Gate gate, float qScale, int batch, int head, float[] qAll, float[] kAll, float[] vAll) {
        ChunkHead h = REUSED.get();
        if (h == null || h.dk != dims.dk() || h.dv != dims.dv() || h.dd != dims.dd()) {
            h = new ChunkHead(dims.dk(), dims.dv(), dims.dd());
            REUSED.set(h);
        }
        h.decay = gate.decay();
        h.T = dims.T();
        h.H = dims.H();
        h.batch = batch;
        h.head = head;
        h.qAll = qAll;
        h.qScale = qScale;
        h.kAll = kAll;
        h.vAll = vAll;
        h.gAll = h.decay == Decay.SCALAR ? null : gate.g().f;
        h.logGamma = h.decay == Decay.SCALAR ? gate.logGamma()[head] : 0;
        return h;
    }

    private ChunkHead(int dk, int dv, int dd) {
        this.dk = dk;
        this.dv = dv;
        this.dd = dd;
        q = new float[C * dk];
        k = new float[C * dk];
        v = new float[C * dv];
        dO = new float[C * dv];
        oStrict = new float[C * dv];
        b = new double[(C + 1) * dd];
        expB = new float[C * dd];
        expBMinusB = new float[C * dd];
        expBLast = new float[dd];
        scoresBuf = new float[C * C];
        dScoresBuf = new float[C * C];
        tmpK = new float[C * dk];
        tmpV = new float[C * dv];
        oRows = new float[C * dv];
        gradQ = new float[C * dk];
        gradK = new float[C * dk];
        gradV = new float[C * dv];
        gradKStrict = new float[C * dk];
        gradVStrict = new float[C * dv];
        subX = new float[BC * dd];
        subY = new float[BC * dd];
        subAcc = new float[BC * dd];
        dgChunk = new double[C * dd];
        dgStateTerm = new double[dd];
        dgRunning = new double[dd];
        fromStart = new float[C * dd];
        toStart = new float[toStartRow(C / BC, 0) * dd];
        inBlock = new float[C / BC * (BC * (BC - 1) / 2) * dd];
        ones = new float[dd];
        Arrays.fill(ones, 1f);
    }

    // ---------------------------------------------------------------- forward

    /**
     * Floats per chunk of {@link #forwardLocal}'s output that {@link #forwardInter} reads: C·dd for
     * the decayed queries (KD: Q ⊙ e^b) or e^b (VD), then C·dv of chunk-internal outputs (KD: A V;
     * VD: mix(P°, V), then P^d ⊙ V).
     */
    static int localSize(Dims dims, Decay decay) {
        return C * dims.dd() + C * dims.dv() * (decay == Decay.VALUE ? 2 : 1);
    }

    /**
     * Chunk c's part of the forward that does not need the state entering it (docs/MATH.md#chunk-form):
     * <ul>
     * <li>its own step of the state recurrence, {@code S_out = Diag(e^B) S_in + U} (KD) or
     * {@code S_in Diag(e^B) + U} (VD) with {@code U = (K ⊙ e^{B−b})ᵀ V} (KD) or
     * {@code Kᵀ (V ⊙ e^{B−b})} (VD): U (dk×dv) at {@code u[uOff]}, e^B (dd) at
     * {@code decayOut[decayOff]}, which {@link #advance} applies;
     * <li>at {@code local[localOff]} ({@link #localSize} floats), what {@link #forwardInter} needs
     * of the chunk besides the state: KD {@code Q ⊙ e^b} and the chunk-internal outputs {@code A V};
     * VD {@code e^b}, {@code mix(P°, V)} (of O°) and {@code P^d ⊙ V} (of o).
     * </ul>
     * It writes no output rows: {@link #forwardInter} writes each row once, whole.
     */
    void forwardLocal(int c, float[] u, int uOff, float[] decayOut, int decayOff, float[] local, int localOff) {
        int t0 = c * C, L = Math.min(C, T - t0);
        load(t0, L);
        int outOff = localOff + C * dd;
        if (decay == Decay.VALUE) {
            System.arraycopy(expB, 0, local, localOff, L * dv);
            plainScores(q, k, L, scoresBuf);                                                  // P
            Arrays.fill(oStrict, 0, L * dv, 0f);
            mixAdd(scoresBuf, v, L, oStrict);
            System.arraycopy(oStrict, 0, local, outOff, L * dv);
            for (int t = 0; t < L; t++) VectorOps.scaleTo(scoresBuf[t * L + t], v, t * dv, local, outOff + C * dv + t * dv, dv);
            VectorOps.mul(v, 0, expBMinusB, 0, tmpV, 0, L * dv);
            Gemm.sgemm(true, false, dk, dv, L, 1f, k, 0, dk, tmpV, 0, dv, 0f, u, uOff, dv);
        } else {
            VectorOps.mul(q, 0, expB, 0, local, localOff, L * dk);
            scores(q, k, L, scoresBuf);                                                       // A
            Gemm.sgemm(false, false, L, dv, L, 1f, scoresBuf, 0, L, v, 0, dv, 0f, local, outOff, dv);
            VectorOps.mul(k, 0, expBMinusB, 0, tmpK, 0, L * dk);
            Gemm.sgemm(true, false, dk, dv, L, 1f, tmpK, 0, dk, v, 0, dv, 0f, u, uOff, dv);
        }
        System.arraycopy(expBLast, 0, decayOut, decayOff, dd);
    }

    /**
     * Rows [i0, i1) of a state through chunks [0, n): {@code states} holds each chunk's U on entry
     * and the state entering each chunk on exit (the scan of docs/MATH.md#chunk-form); {@code s} holds the
     * initial state on entry and the final one on exit. Element-wise, so any split of the rows
     * gives the same bits: {@code S ← (S ⊙ decay) + U}, the product rounded before the sum.
     */
    static void advance(Decay decay, int dk, int dv, int n, float[] states, int statesOff, float[] decays, int decaysOff,
                        int i0, int i1, float[] s, int sOff) {
        int size = dk * dv, dd = decay == Decay.VALUE ? dv : dk, upper = F.loopBound(dv);
        boolean valueDecay = decay == Decay.VALUE;
        for (int c = 0; c < n; c++) {
            int at = statesOff + c * size, dc = decaysOff + c * dd;
            for (int i = i0; i < i1; i++) {
                int row = sOff + i * dv, u = at + i * dv;
                FloatVector rowDecay = FloatVector.broadcast(F, valueDecay ? 0f : decays[dc + i]);
                int j = 0;
                for (; j < upper; j += F.length()) {
                    FloatVector sj = FloatVector.fromArray(F, s, row + j), uj = FloatVector.fromArray(F, states, u + j);
                    sj.intoArray(states, u + j);
                    FloatVector decayJ = valueDecay ? FloatVector.fromArray(F, decays, dc + j) : rowDecay;  // S Diag(α) or Diag(α) S
                    sj.mul(decayJ).add(uj).intoArray(s, row + j);
                }
                for (; j < dv; j++) {
                    float sj = s[row + j], uj = states[u + j];
                    states[u + j] = sj;
                    s[row + j] = sj * decays[dc + (valueDecay ? j : i)] + uj;
                }
            }
        }
    }

    /**
     * Chunk c's outputs, each row written once: {@link #forwardLocal}'s part ({@code local[localOff]})
     * plus the state entering the chunk ({@code sIn[sOff]}, dk×dv). KD: {@code O = A V + (Q ⊙ e^b)
     * S_in}. VD: {@code O° = mix(P°, V) + e^b ⊙ (Q S_in)} (kept for the backward), {@code O = P^d ⊙ V
     * + O°}.
     */
    void forwardInter(int c, float[] sIn, int sOff, float[] local, int localOff, float[] oAll, float[] oStrictAll) {
        int t0 = c * C, L = Math.min(C, T - t0), outOff = localOff + C * dd;
        if (decay == Decay.VALUE) {
            gatherQ(t0, L);
            Gemm.sgemm(false, false, L, dv, dk, 1f, q, 0, dk, sIn, sOff, dv, 0f, tmpV, 0, dv);
            VectorOps.mul(tmpV, 0, local, localOff, tmpV, 0, L * dv);
            VectorOps.add(local, outOff, tmpV, 0, oStrict, 0, L * dv);
            store(oStrict, dv, t0, L, oStrictAll);
            VectorOps.add(local, outOff + C * dv, oStrict, 0, oRows, 0, L * dv);
        } else {
            Gemm.sgemm(false, false, L, dv, dk, 1f, local, localOff, dk, sIn, sOff, dv, 0f, tmpV, 0, dv);
            VectorOps.add(local, outOff, tmpV, 0, oRows, 0, L * dv);
        }
        store(oRows, dv, t0, L, oAll);
    }

    // ---------------------------------------------------------------- backward

    /**
     * Chunk c's own parts of both recurrences of the backward (docs/MATH.md#chunk-backward): U as in
     * {@link #forwardLocal} (Phase A recomputes the states), and {@code W} of
     * {@code dS_in = W + Diag(e^B) dS_out} (KD: {@code W = (Q ⊙ e^b)ᵀ dO}; VD: {@code dS_in = W +
     * dS_out Diag(e^B)}, {@code W = Qᵀ (dO ⊙ e^b)}), which {@link #retreat} applies. Writes U at
     * {@code u[off]}, W at {@code w[off]} (dk×dv each) and e^B at {@code decayOut[decayOff]}.
     */
    void backwardSteps(int c, float[] dOAll, float[] u, float[] w, int off, float[] decayOut, int decayOff) {
        int t0 = c * C, L = Math.min(C, T - t0);
        load(t0, L);
        gather(dOAll, dv, t0, L, dO);
        if (decay == Decay.VALUE) {
            VectorOps.mul(v, 0, expBMinusB, 0, tmpV, 0, L * dv);
            Gemm.sgemm(true, false, dk, dv, L, 1f, k, 0, dk, tmpV, 0, dv, 0f, u, off, dv);
            VectorOps.mul(dO, 0, expB, 0, tmpV, 0, L * dv);
            Gemm.sgemm(true, false, dk, dv, L, 1f, q, 0, dk, tmpV, 0, dv, 0f, w, off, dv);
        } else {
            VectorOps.mul(k, 0, expBMinusB, 0, tmpK, 0, L * dk);
            Gemm.sgemm(true, false, dk, dv, L, 1f, tmpK, 0, dk, v, 0, dv, 0f, u, off, dv);
            VectorOps.mul(q, 0, expB, 0, tmpK, 0, L * dk);
            Gemm.sgemm(true, false, dk, dv, L, 1f, tmpK, 0, dk, dO, 0, dv, 0f, w, off, dv);
        }
        System.arraycopy(expBLast, 0, decayOut, decayOff, dd);
    }

    /**
     * Rows [i0, i1) of dS through chunks n−1 … 0: {@code grads} holds each chunk's W on entry and
     * dS_out of each chunk on exit; {@code ds} holds dS_T on entry and dS_0 on exit. Element-wise,
     * as {@link #advance}: {@code dS ← W + dS ⊙ decay} with one fused multiply-add.
     */
    static void retreat(Decay decay, int dk, int dv, int n, float[] grads, int gradsOff, float[] decays, int decaysOff,
                        int i0, int i1, float[] ds, int dsOff) {
        int size = dk * dv, dd = decay == Decay.VALUE ? dv : dk, upper = F.loopBound(dv);
        boolean valueDecay = decay == Decay.VALUE;
        for (int c = n - 1; c >= 0; c--) {
            int at = gradsOff + c * size, dc = decaysOff + c * dd;
            for (int i = i0; i < i1; i++) {
                int row = dsOff + i * dv, w = at + i * dv;
                FloatVector rowDecay = FloatVector.broadcast(F, valueDecay ? 0f : decays[dc + i]);
                int j = 0;
                for (; j < upper; j += F.length()) {
                    FloatVector dsj = FloatVector.fromArray(F, ds, row + j), wj = FloatVector.fromArray(F, grads, w + j);
                    dsj.intoArray(grads, w + j);
                    FloatVector decayJ = valueDecay ? FloatVector.fromArray(F, decays, dc + j) : rowDecay;
                    dsj.fma(decayJ, wj).intoArray(ds, row + j);
                }
                for (; j < dv; j++) {
                    float dsj = ds[row + j], wj = grads[w + j];
                    grads[w + j] = dsj;
                    ds[row + j] = Math.fma(dsj, decays[dc + (valueDecay ? j : i)], wj);
                }
            }
        }
    }

    /**
     * Gradients of chunk c (docs/MATH.md#chunk-backward) from the state entering it ({@code sIn[sOff]}) and the
     * gradient of the state leaving it ({@code dSOut[dOff]}): dq, dk, dv and dg (dgAll null for
     * SCALAR) of its rows.
     */
    void backwardChunk(int c, float[] sIn, int sOff, float[] dSOut, int dOff, float[] oStrictAll, float[] dOAll,
                       float[] dqAll, float[] dkAll, float[] dvAll, float[] dgAll) {
        int t0 = c * C, L = Math.min(C, T - t0);
        load(t0, L);
        gather(dOAll, dv, t0, L, dO);
        if (decay == Decay.VALUE) {
            gather(oStrictAll, dv, t0, L, oStrict);
            backwardChunkValueDecay(L, sIn, sOff, dSOut, dOff);
        } else {
            backwardChunkKeyDecay(L, sIn, sOff, dSOut, dOff);
        }
        store(gradQ, dk, t0, L, dqAll);
        store(gradK, dk, t0, L, dkAll);
        store(gradV, dv, t0, L, dvAll);
        if (dgAll != null) storeGateGradient(L, t0, dgAll);
    }

    /**
     * KD, docs/MATH.md#chunk-backward. Writes dQ, dK, dV (gradQ, gradK, gradV) and dg (dgChunk); dS_in is
     * {@link #backwardSteps}'s.
     * <pre>
     *   dA  = tril(dO Vᵀ)                      dQ° = (dO S_inᵀ) ⊙ e^b + mix(dA°, K)    dK° = mixT(dA°, Q)
     *   dKs = (V dS_outᵀ) ⊙ e^{B−b}             dQ  = dQ° + dA^d ⊙ K                   dK  = dK° + dKs + dA^d ⊙ Q
     *   dV  = Aᵀ dO + (K ⊙ e^{B−b}) dS_out      dS_in = (Q ⊙ e^b)ᵀ dO + Diag(e^B) dS_out
     *   r_t = q_t ⊙ dQ°_t − k_t ⊙ dK°_t         x_j = k_j ⊙ dKs_j      c = e^B ⊙ rowsum(S_in ⊙ dS_out)
     * </pre>
     */
    private void backwardChunkKeyDecay(int L, float[] sIn, int sOff, float[] dSOut, int dOff) {
        float[] dQStrict = gradQ, dKStrict = gradKStrict, dKState = gradK;
        scores(q, k, L, scoresBuf);                                                           // A
        Gemm.sgemm(false, true, L, L, dv, 1f, dO, 0, dv, v, 0, dv, 0f, dScoresBuf, 0, L);      // dA (read for j ≤ t only)
        Gemm.sgemm(false, true, L, dk, dv, 1f, dO, 0, dv, sIn, sOff, dv, 0f, dQStrict, 0, dk);
        VectorOps.mul(dQStrict, 0, expB, 0, dQStrict, 0, L * dk);
        mixAdd(dScoresBuf, k, L, dQStrict);
        Arrays.fill(dKStrict, 0, L * dk, 0f);
        mixTAdd(dScoresBuf, q, L, dKStrict);
        Gemm.sgemm(false, true, L, dk, dv, 1f, v, 0, dv, dSOut, dOff, dv, 0f, dKState, 0, dk);
        VectorOps.mul(dKState, 0, expBMinusB, 0, dKState, 0, L * dk);

        // dg from the strict parts, before the diagonal terms are added (docs/MATH.md#float32-stable-sub-blocks)
        for (int t = 0; t < L; t++) {
            for (int d = 0; d < dk; d++) {
                int i = t * dk + d;
                dgChunk[i] = (double) q[i] * dQStrict[i] - (double) k[i] * dKStrict[i];
            }
        }
        double[] stateTerm = rowSumTimesDecay(sIn, sOff, dSOut, dOff, true);
        gateGradientFromParts(L, k, dKState, stateTerm);

        for (int t = 0; t < L; t++) {
            float dAtt = dScoresBuf[t * L + t];
            VectorOps.axpy(dAtt, k, t * dk, dQStrict, t * dk, dk);     // dQ  (in gradQ)
            VectorOps.axpy(dAtt, q, t * dk, dKState, t * dk, dk);
        }
        VectorOps.axpy(1f, dKStrict, 0, dKState, 0, L * dk);              // dK  (in gradK)

        Gemm.sgemm(true, false, L, dv, L, 1f, scoresBuf, 0, L, dO, 0, dv, 0f, gradV, 0, dv);
        VectorOps.mul(k, 0, expBMinusB, 0, tmpK, 0, L * dk);
        Gemm.sgemm(false, false, L, dv, dk, 1f, tmpK, 0, dk, dSOut, dOff, dv, 1f, gradV, 0, dv);
    }

    /**
     * VD, docs/MATH.md#chunk-backward. Writes dQ, dK, dV (gradQ, gradK, gradV) and dg (dgChunk); dS_in is
     * {@link #backwardSteps}'s.
     * <pre>
     *   dP  = scores(dO, V)                     dQ  = (dO ⊙ e^b) S_inᵀ + dP K          dK = dPᵀ Q + (V ⊙ e^{B−b}) dS_outᵀ
     *   dV° = mixT(P°, dO)                      dVs = (K dS_out) ⊙ e^{B−b}             dV = dV° + dVs + P^d ⊙ dO
     *   dS_in = Qᵀ (dO ⊙ e^b) + dS_out Diag(e^B)
     *   r_t = O°_t ⊙ do_t − v_t ⊙ dV°_t         x_j = v_j ⊙ dVs_j      c = e^B ⊙ colsum(S_in ⊙ dS_out)
     * </pre>
     */
    private void backwardChunkValueDecay(int L, float[] sIn, int sOff, float[] dSOut, int dOff) {
        float[] dVStrict = gradVStrict, dVState = gradV;
        plainScores(q, k, L, scoresBuf);                                                      // P
        scores(dO, v, L, dScoresBuf);                                                         // dP
        VectorOps.mul(dO, 0, expB, 0, tmpV, 0, L * dv);                                             // dO ⊙ e^b
        Gemm.sgemm(false, true, L, dk, dv, 1f, tmpV, 0, dv, sIn, sOff, dv, 0f, gradQ, 0, dk);
        Gemm.sgemm(false, false, L, dk, L, 1f, dScoresBuf, 0, L, k, 0, dk, 1f, gradQ, 0, dk);

        Gemm.sgemm(true, false, L, dk, L, 1f, dScoresBuf, 0, L, q, 0, dk, 0f, gradK, 0, dk);
        VectorOps.mul(v, 0, expBMinusB, 0, tmpV, 0, L * dv);
        Gemm.sgemm(false, true, L, dk, dv, 1f, tmpV, 0, dv, dSOut, dOff, dv, 1f, gradK, 0, dk);

        Arrays.fill(dVStrict, 0, L * dv, 0f);
        mixTAdd(scoresBuf, dO, L, dVStrict);
        Gemm.sgemm(false, false, L, dv, dk, 1f, k, 0, dk, dSOut, dOff, dv, 0f, dVState, 0, dv);
        VectorOps.mul(dVState, 0, expBMinusB, 0, dVState, 0, L * dv);

        for (int t = 0; t < L; t++) {
            for (int d = 0; d < dv; d++) {
                int i = t * dv + d;
                dgChunk[i] = (double) oStrict[i] * dO[i] - (double) v[i] * dVStrict[i];
            }
        }
        double[] stateTerm = rowSumTimesDecay(sIn, sOff, dSOut, dOff, false);
        gateGradientFromParts(L, v, dVState, stateTerm);

        VectorOps.axpy(1f, dVStrict, 0, dVState, 0, L * dv);
        for (int t = 0; t < L; t++) VectorOps.axpy(scoresBuf[t * L + t], dO, t * dv, dVState, t * dv, dv);  // dV (in gradV)
    }

    /** c = e^B ⊙ rowsum(S_in ⊙ dS_out) (KD, over dv) or e^B ⊙ colsum(S_in ⊙ dS_out) (VD, over dk), in double. */
    private double[] rowSumTimesDecay(float[] sIn, int sOff, float[] dSOut, int dOff, boolean rows) {
        double[] c = dgStateTerm;
        Arrays.fill(c, 0);
        for (int i = 0; i < dk; i++) {
            for (int j = 0; j < dv; j++) {
                double prod = (double) sIn[sOff + i * dv + j] * dSOut[dOff + i * dv + j];
                c[rows ? i : j] += prod;
            }
        }
        for (int d = 0; d < dd; d++) c[d] *= expBLast[d];
        return c;
    }

    /**
     * dgChunk holds r (L×dd) on entry; on exit dg_τ = Σ_{t≥τ} r_t + Σ_{j<τ} x_j + c with
     * x_j = w_j ⊙ wState_j: a suffix sum of r plus a running exclusive prefix sum of x (docs/MATH.md#chunk-backward,
     * the rearranged form without cancellation, 2.4.6 point 5).
     */
    private void gateGradientFromParts(int L, float[] w, float[] wState, double[] c) {
        double[] suffix = dgRunning;
        Arrays.fill(suffix, 0);
        for (int t = L - 1; t >= 0; t--) {
            for (int d = 0; d < dd; d++) {
                suffix[d] += dgChunk[t * dd + d];
                dgChunk[t * dd + d] = suffix[d] + c[d];
            }
        }
        double[] prefix = suffix;
        Arrays.fill(prefix, 0);
        for (int t = 0; t < L; t++) {
            for (int d = 0; d < dd; d++) {
                dgChunk[t * dd + d] += prefix[d];
                prefix[d] += (double) w[t * dd + d] * wState[t * dd + d];
            }
        }
    }

    private void storeGateGradient(int L, int t0, float[] dgAll) {
        for (int t = 0; t < L; t++) {
            int base = rowOffset(t0 + t, dd);
            for (int d = 0; d < dd; d++) dgAll[base + d] = (float) dgChunk[t * dd + d];
        }
    }

    // ---------------------------------------------------------------- decayed kernels (docs/MATH.md#chunk-form, #float32-stable-sub-blocks)

    /**
     * out[t, j] = Σ_d x_td y_jd e^{b_td − b_jd} for j ≤ t, 0 above the diagonal (L×L, stride L).
     * Off-diagonal sub-blocks: one GEMM of X_I ⊙ e^{b_I − b_n} and Y_J ⊙ e^{b_n − b_J} (n = first
     * row of I, so both factors ≤ 1). Diagonal sub-blocks: element-wise with the exact exponent,
     * only for j ≤ t, where it is ≤ 0 (above the diagonal it may be +inf, and inf·0 = NaN).
     */
    private void scores(float[] x, float[] y, int L, float[] out) {
        formDecayTables(L);
        for (int i0 = 0; i0 < L; i0 += BC) {
            int ni = Math.min(BC, L - i0);
            VectorOps.mul(x, i0 * dd, fromStart, i0 * dd, subX, 0, ni * dd);
            for (int j0 = 0; j0 < i0; j0 += BC) {
                VectorOps.mul(y, j0 * dd, toStart, toStartRow(i0 / BC, j0) * dd, subY, 0, BC * dd);
                Gemm.sgemm(false, true, ni, BC, dd, 1f, subX, 0, dd, subY, 0, dd, 0f, out, i0 * L + j0, L);
            }
            for (int t = i0; t < i0 + ni; t++) {
                for (int j = i0; j < t; j++) out[t * L + j] = VectorOps.dot3(x, t * dd, y, j * dd, inBlock, inBlockRow(t, j) * dd, dd);
                out[t * L + t] = VectorOps.dot3(x, t * dd, y, t * dd, ones, 0, dd);
                Arrays.fill(out, t * L + t + 1, t * L + L, 0f);
            }
        }
    }

    /** out_t += Σ_{j<t} w_tj (y_j ⊙ e^{b_t − b_j}); only the strictly lower part of w (L×L) is read. */
    private void mixAdd(float[] w, float[] y, int L, float[] out) {
        formDecayTables(L);
        for (int i0 = 0; i0 < L; i0 += BC) {
            int ni = Math.min(BC, L - i0);
            if (i0 > 0) {
                for (int j0 = 0; j0 < i0; j0 += BC) {
                    VectorOps.mul(y, j0 * dd, toStart, toStartRow(i0 / BC, j0) * dd, subY, 0, BC * dd);
                    Gemm.sgemm(false, false, ni, dd, BC, 1f, w, i0 * L + j0, L, subY, 0, dd,
                            j0 == 0 ? 0f : 1f, subAcc, 0, dd);
                }
                VectorOps.mulAdd(subAcc, 0, fromStart, i0 * dd, out, i0 * dd, ni * dd);
            }
            for (int t = i0; t < i0 + ni; t++) {
                for (int j = i0; j < t; j++) {
                    VectorOps.scaledMulAdd(w[t * L + j], y, j * dd, inBlock, inBlockRow(t, j) * dd, out, t * dd, dd);
                }
            }
        }
    }

    /** out_j += Σ_{t>j} w_tj (y_t ⊙ e^{b_t − b_j}); only the strictly lower part of w (L×L) is read. */
    private void mixTAdd(float[] w, float[] y, int L, float[] out) {
        formDecayTables(L);
        for (int i0 = 0; i0 < L; i0 += BC) {
            int ni = Math.min(BC, L - i0);
            if (i0 > 0) {
                VectorOps.mul(y, i0 * dd, fromStart, i0 * dd, subX, 0, ni * dd);
                for (int j0 = 0; j0 < i0; j0 += BC) {
                    Gemm.sgemm(true, false, BC, dd, ni, 1f, w, i0 * L + j0, L, subX, 0, dd, 0f, subAcc, 0, dd);
                    VectorOps.mulAdd(subAcc, 0, toStart, toStartRow(i0 / BC, j0) * dd, out, j0 * dd, BC * dd);
                }
            }
            for (int t = i0; t < i0 + ni; t++) {
                for (int j = i0; j < t; j++) {
                    VectorOps.scaledMulAdd(w[t * L + j], y, t * dd, inBlock, inBlockRow(t, j) * dd, out, j * dd, dd);
                }
            }
        }
    }

    /** out = tril(x yᵀ) without decay (VD's P, L×L, stride L). */
    private void plainScores(float[] x, float[] y, int L, float[] out) {
        Gemm.sgemm(false, true, L, L, dk, 1f, x, 0, dk, y, 0, dk, 0f, out, 0, L);
        for (int t = 0; t < L; t++) Arrays.fill(out, t * L + t + 1, t * L + L, 0f);
    }

    /**
     * Forms {@link #fromStart}, {@link #toStart} and {@link #inBlock} for the loaded chunk of L rows,
     * once. Inside a sub-block the factors telescope, {@code e^{b_t − b_j} = e^{b_t − b_{t−1}} ·
     * e^{b_{t−1} − b_j}}: one exp per row (of the step's own log-decay, exact in double) and then
     * products of factors ≤ 1, at most BC − 2 roundings. That is also more accurate under strong
     * decay than one exp of the whole difference, whose float rounding costs |b_t − b_j| ulps.
     * {@link #toStart} telescopes the same way across sub-blocks. Every exponent is
     * b_later − b_earlier ≤ 0.
     */
    private void formDecayTables(int L) {
        if (tablesReady) return;
        for (int t = 0; t < L; t++) {
            int n = t / BC * BC;
            if (t == n) {
                Arrays.fill(fromStart, t * dd, (t + 1) * dd, 1f);
                continue;
            }
            int step = inBlockRow(t, t - 1) * dd;
            VectorOps.expOfDifference(b, bRow(t), bRow(t - 1), inBlock, step, dd);
            for (int j = n; j < t - 1; j++) VectorOps.mul(inBlock, step, inBlock, inBlockRow(t - 1, j) * dd, inBlock, inBlockRow(t, j) * dd, dd);
            System.arraycopy(inBlock, inBlockRow(t, n) * dd, fromStart, t * dd, dd);
        }
        // e^{b_i0 − b_j}: from row i0 − 1 (previous sub-block) by the step factor, earlier rows through i0 − BC
        for (int i0 = BC; i0 < L; i0 += BC) {
            int sb = i0 / BC, prev = i0 - BC;
            int step = toStartRow(sb, i0 - 1) * dd;
            VectorOps.expOfDifference(b, bRow(i0), bRow(i0 - 1), toStart, step, dd);
            for (int j = prev; j < i0 - 1; j++) VectorOps.mul(toStart, step, inBlock, inBlockRow(i0 - 1, j) * dd, toStart, toStartRow(sb, j) * dd, dd);
            int back = toStartRow(sb, prev) * dd;   // e^{b_i0 − b_{i0−BC}}
            for (int j = 0; j < prev; j++) VectorOps.mul(toStart, back, toStart, toStartRow(sb - 1, j) * dd, toStart, toStartRow(sb, j) * dd, dd);
        }
        tablesReady = true;
    }

    /** Row of e^{b_{s·BC} − b_j} in {@link #toStart} (sub-block s ≥ 1, j < s·BC). */
    private static int toStartRow(int s, int j) {
        return BC * s * (s - 1) / 2 + j;
    }

    /** Row of e^{b_t − b_j} in {@link #inBlock} (j < t in the same sub-block; t·(t−1)/2 pairs before row t's). */
    private static int inBlockRow(int t, int j) {
        int s = t / BC, tl = t % BC, jl = j % BC;
        return s * (BC * (BC - 1) / 2) + tl * (tl - 1) / 2 + jl;
    }

    /** Offset of b_t in {@link #b} (row 0 holds b_0 = 0). */
    private int bRow(int t) {
        return (t + 1) * dd;
    }

    // ---------------------------------------------------------------- loading

    /** Gathers q, k, v of rows [t0, t0+L) and forms b (double), e^{b}, e^{B−b}, e^{B}. */
    private void load(int t0, int L) {
        tablesReady = false;
        gatherQ(t0, L);
        gather(kAll, dk, t0, L, k);
        gather(vAll, dv, t0, L, v);
        for (int t = 0; t < L; t++) {
            int row = bRow(t), prev = row - dd;
            if (gAll == null) {
                Arrays.fill(b, row, row + dd, (t + 1) * logGamma);   // exact t·log γ, no running sum
            } else {
                VectorOps.addWidened(b, prev, gAll, rowOffset(t0 + t, dd), b, row, dd);
            }
        }
        int last = bRow(L - 1);
        for (int t = 0; t < L; t++) {
            VectorOps.expOfDifference(b, bRow(t), 0, expB, t * dd, dd);
            VectorOps.expOfDifference(b, last, bRow(t), expBMinusB, t * dd, dd);
        }
        VectorOps.expOfDifference(b, last, 0, expBLast, 0, dd);
    }

    /** Offset of row t of this head in a [B,T,H,dim] array. */
    private int rowOffset(int t, int dim) {
        return ((batch * T + t) * H + head) * dim;
    }

    /** Rows [t0, t0+L) of q times qScale into {@link #q} (one rounding per element, as a scaled copy of q). */
    private void gatherQ(int t0, int L) {
        if (qScale == 1f) {
            gather(qAll, dk, t0, L, q);
        } else {
            for (int t = 0; t < L; t++) VectorOps.scaleTo(qScale, qAll, rowOffset(t0 + t, dk), q, t * dk, dk);
        }
    }

    private void gather(float[] all, int dim, int t0, int L, float[] rows) {
        for (int t = 0; t < L; t++) System.arraycopy(all, rowOffset(t0 + t, dim), rows, t * dim, dim);
    }

    private void store(float[] rows, int dim, int t0, int L, float[] all) {
        for (int t = 0; t < L; t++) System.arraycopy(rows, t * dim, all, rowOffset(t0 + t, dim), dim);
    }
}
