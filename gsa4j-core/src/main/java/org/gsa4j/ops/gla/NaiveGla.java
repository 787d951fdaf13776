package org.gsa4j.ops.gla;

import org.gsa4j.ops.gla.GatedLinearAttention.Decay;
import org.gsa4j.ops.gla.GatedLinearAttention.Dims;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.gla.GatedLinearAttention.Grads;
import org.gsa4j.ops.gla.GatedLinearAttention.Result;
import org.gsa4j.ops.gla.GatedLinearAttention.Saved;
import org.gsa4j.tensor.Tensor;

/**
 * The float64 executable spec of the primitive (docs/MATH.md#the-gated-linear-attention-primitive): the plain recurrence, one step at a
 * time, and its back-propagation through time. Slow and obvious on purpose: the chunk algorithm is
 * tested against it.
 */
final class NaiveGla {
    private NaiveGla() {}

    static Result forward(Gate gate, Tensor q, Tensor k, Tensor v, Tensor s0, Dims dims) {
        int B = dims.B(), T = dims.T(), H = dims.H(), dk = dims.dk(), dv = dims.dv();
        Tensor o = Tensor.zerosF64(B, T, H, dv);
        Tensor sT = Tensor.zerosF64(B, H, dk, dv);
        for (int bi = 0; bi < B; bi++) {
            for (int h = 0; h < H; h++) {
                double[][] states = states(gate, q, k, v, s0, dims, bi, h);
                for (int t = 0; t < T; t++) {
                    int qo = row(dims, bi, t, h, dk), oo = row(dims, bi, t, h, dv);
                    double[] s = states[t + 1];
                    for (int i = 0; i < dk; i++) {                     // o_t = S_tᵀ q_t
                        for (int j = 0; j < dv; j++) o.d[oo + j] += s[i * dv + j] * q.d[qo + i];
                    }
                }
                System.arraycopy(states[T], 0, sT.d, (bi * H + h) * dk * dv, dk * dv);
            }
        }
        return new Result(o, sT, new Saved(gate, q, 1f, k, v, s0, null));
    }

    /** All states S_0..S_T of one head (S_t = decayed S_{t-1} + k_t v_tᵀ). */
    private static double[][] states(Gate gate, Tensor q, Tensor k, Tensor v, Tensor s0, Dims dims, int bi, int h) {
        int T = dims.T(), H = dims.H(), dk = dims.dk(), dv = dims.dv();
        double[][] states = new double[T + 1][dk * dv];
        if (s0 != null) System.arraycopy(s0.d, (bi * H + h) * dk * dv, states[0], 0, dk * dv);
        for (int t = 0; t < T; t++) {
            double[] prev = states[t], s = states[t + 1];
            double[] alpha = alpha(gate, dims, bi, t, h);
            int ko = row(dims, bi, t, h, dk), vo = row(dims, bi, t, h, dv);
            for (int i = 0; i < dk; i++) {
                for (int j = 0; j < dv; j++) {
                    double decay = gate.decay() == Decay.VALUE ? alpha[j] : alpha[i];
                    s[i * dv + j] = decay * prev[i * dv + j] + k.d[ko + i] * v.d[vo + j];
                }
            }
        }
        return states;
    }

    /**
     * BPTT: D = ∂L/∂S_t, starting from dS_T; for t = T..1:
     * D += q_t do_tᵀ; dq_t = S_t do_t; dk_t = D v_t; dv_t = Dᵀ k_t;
     * dα_t = rowsum(S_{t-1} ⊙ D) (KEY) or colsum (VALUE); dg_t = dα_t ⊙ α_t; D = decayed D.
     */
    static Grads backward(Saved saved, Tensor dO, Tensor dST, Dims dims) {
        int B = dims.B(), T = dims.T(), H = dims.H(), dk = dims.dk(), dv = dims.dv(), dd = dims.dd();
        Gate gate = saved.gate;
        Tensor q = saved.q, k = saved.k, v = saved.v;
        Tensor dqOut = Tensor.zerosF64(B, T, H, dk), dkOut = Tensor.zerosF64(B, T, H, dk), dvOut = Tensor.zerosF64(B, T, H, dv);
        Tensor dg = gate.decay() == Decay.SCALAR ? null : Tensor.zerosF64(B, T, H, dd);
        Tensor ds0 = Tensor.zerosF64(B, H, dk, dv);
        for (int bi = 0; bi < B; bi++) {
            for (int h = 0; h < H; h++) {
                double[][] states = states(gate, q, k, v, saved.s0, dims, bi, h);
                double[] D = new double[dk * dv];
                int so = (bi * H + h) * dk * dv;
                if (dST != null) System.arraycopy(dST.d, so, D, 0, dk * dv);
                for (int t = T - 1; t >= 0; t--) {
                    int ko = row(dims, bi, t, h, dk), vo = row(dims, bi, t, h, dv), go = row(dims, bi, t, h, dd);
                    double[] s = states[t + 1], prev = states[t];
                    double[] alpha = alpha(gate, dims, bi, t, h);
                    for (int i = 0; i < dk; i++) {
                        for (int j = 0; j < dv; j++) D[i * dv + j] += q.d[ko + i] * dO.d[vo + j];
                    }
                    for (int i = 0; i < dk; i++) {
                        for (int j = 0; j < dv; j++) {
                            int ij = i * dv + j;
                            dqOut.d[ko + i] += s[ij] * dO.d[vo + j];
                            dkOut.d[ko + i] += D[ij] * v.d[vo + j];
                            dvOut.d[vo + j] += D[ij] * k.d[ko + i];
                            int channel = gate.decay() == Decay.VALUE ? j : i;
                            if (dg != null) dg.d[go + channel] += alpha[channel] * prev[ij] * D[ij];
                            D[ij] *= alpha[channel];
                        }
                    }
                }
                System.arraycopy(D, 0, ds0.d, so, dk * dv);
            }
        }
        return new Grads(dqOut, dkOut, dvOut, dg, ds0);
    }

    /** α_t = exp(g_t) along the decayed axis. */
    private static double[] alpha(Gate gate, Dims dims, int bi, int t, int h) {
        double[] alpha = new double[dims.dd()];
        for (int d = 0; d < alpha.length; d++) {
            alpha[d] = Math.exp(gate.decay() == Decay.SCALAR
                    ? gate.logGamma()[h] : gate.g().d[row(dims, bi, t, h, dims.dd()) + d]);
        }
        return alpha;
    }

    /** Offset of (bi, t, h) in a [B,T,H,dim] array. */
    private static int row(Dims dims, int bi, int t, int h, int dim) {
        return ((bi * dims.T() + t) * dims.H() + h) * dim;
    }
}
