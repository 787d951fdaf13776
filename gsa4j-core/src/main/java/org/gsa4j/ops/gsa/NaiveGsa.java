package org.gsa4j.ops.gsa;

import org.gsa4j.tensor.Tensor;

/**
 * The float64 executable spec of GSA: the recurrence of docs/MATH.md#the-gsa-operator and its back-propagation through
 * time of docs/MATH.md#the-gsa-operator, one head and one step at a time.
 */
final class NaiveGsa {
    private NaiveGsa() {}

    record Saved(Tensor q, Tensor k, Tensor v, Tensor s, Tensor g, double scale, Tensor hk0, Tensor hv0) {}

    /** Everything the recurrence produces for one head: states hk_0..hk_T (K×M), hv_0..hv_T (M×V), p_1..p_T. */
    private record Trajectory(double[][] hk, double[][] hv, double[][] p) {}

    static GatedSlotAttention.Result forward(Tensor q, Tensor k, Tensor v, Tensor s, Tensor g, double scale, Tensor hk0, Tensor hv0) {
        Saved in = new Saved(q, k, v, s, g, scale, hk0, hv0);
        int B = q.dim(0), T = q.dim(1), H = q.dim(2), K = q.dim(3), V = v.dim(3), M = s.dim(3);
        Tensor o = Tensor.zerosF64(B, T, H, V), hkT = Tensor.zerosF64(B, H, K, M), hvT = Tensor.zerosF64(B, H, M, V);
        for (int bi = 0; bi < B; bi++) {
            for (int h = 0; h < H; h++) {
                Trajectory tr = run(in, bi, h);
                for (int t = 0; t < T; t++) {
                    int oo = ((bi * T + t) * H + h) * V;
                    for (int m = 0; m < M; m++) {                          // o_t = hv_tᵀ p_t
                        for (int j = 0; j < V; j++) o.d[oo + j] += tr.p[t][m] * tr.hv[t + 1][m * V + j];
                    }
                }
                System.arraycopy(tr.hk[T], 0, hkT.d, (bi * H + h) * K * M, K * M);
                System.arraycopy(tr.hv[T], 0, hvT.d, (bi * H + h) * M * V, M * V);
            }
        }
        return new GatedSlotAttention.Result(o, hkT, hvT, in);
    }

    private static Trajectory run(Saved in, int bi, int h) {
        int T = in.q.dim(1), H = in.q.dim(2), K = in.q.dim(3), V = in.v.dim(3), M = in.s.dim(3);
        double[][] hk = new double[T + 1][K * M], hv = new double[T + 1][M * V], p = new double[T][M];
        if (in.hk0 != null) System.arraycopy(in.hk0.d, (bi * H + h) * K * M, hk[0], 0, K * M);
        if (in.hv0 != null) System.arraycopy(in.hv0.d, (bi * H + h) * M * V, hv[0], 0, M * V);
        for (int t = 0; t < T; t++) {
            int row = (bi * T + t) * H + h, qo = row * K, vo = row * V, so = row * M;
            for (int i = 0; i < K; i++) {                                  // hk_t = hk_{t-1} ⊙ (1 α_tᵀ) + k_t s_tᵀ
                for (int m = 0; m < M; m++) {
                    hk[t + 1][i * M + m] = hk[t][i * M + m] * Math.exp(in.g.d[so + m]) + in.k.d[qo + i] * in.s.d[so + m];
                }
            }
            double max = Double.NEGATIVE_INFINITY;
            for (int m = 0; m < M; m++) {                                  // a_t = hk_tᵀ (scale·q_t)
                double a = 0;
                for (int i = 0; i < K; i++) a += in.scale * in.q.d[qo + i] * hk[t + 1][i * M + m];
                p[t][m] = a;
                max = Math.max(max, a);
            }
            double sum = 0;
            for (int m = 0; m < M; m++) sum += p[t][m] = Math.exp(p[t][m] - max);   // p_t = softmax(a_t)
            for (int m = 0; m < M; m++) p[t][m] /= sum;
            for (int m = 0; m < M; m++) {                                  // hv_t = (α_t 1ᵀ) ⊙ hv_{t-1} + s_t v_tᵀ
                for (int j = 0; j < V; j++) {
                    hv[t + 1][m * V + j] = Math.exp(in.g.d[so + m]) * hv[t][m * V + j] + in.s.d[so + m] * in.v.d[vo + j];
                }
            }
        }
        return new Trajectory(hk, hv, p);
    }

    /** docs/MATH.md#the-gsa-operator: DK = ∂L/∂hk_t, DV = ∂L/∂hv_t, walked from t = T down to 1. */
    static GatedSlotAttention.Grads backward(Saved in, Tensor dO, Tensor dhkT, Tensor dhvT) {
        int B = in.q.dim(0), T = in.q.dim(1), H = in.q.dim(2), K = in.q.dim(3), V = in.v.dim(3), M = in.s.dim(3);
        Tensor dq = Tensor.zerosF64(B, T, H, K), dk = Tensor.zerosF64(B, T, H, K), dv = Tensor.zerosF64(B, T, H, V);
        Tensor ds = Tensor.zerosF64(B, T, H, M), dg = Tensor.zerosF64(B, T, H, M);
        Tensor dhk0 = Tensor.zerosF64(B, H, K, M), dhv0 = Tensor.zerosF64(B, H, M, V);
        for (int bi = 0; bi < B; bi++) {
            for (int h = 0; h < H; h++) {
                Trajectory tr = run(in, bi, h);
                double[] DK = new double[K * M], DV = new double[M * V];
                int hko = (bi * H + h) * K * M, hvo = (bi * H + h) * M * V;
                if (dhkT != null) System.arraycopy(dhkT.d, hko, DK, 0, K * M);
                if (dhvT != null) System.arraycopy(dhvT.d, hvo, DV, 0, M * V);
                for (int t = T - 1; t >= 0; t--) {
                    int row = (bi * T + t) * H + h, qo = row * K, vo = row * V, so = row * M;
                    double[] hk = tr.hk[t + 1], hv = tr.hv[t + 1], hkPrev = tr.hk[t], hvPrev = tr.hv[t], p = tr.p[t];
                    double[] dp = new double[M], da = new double[M];
                    for (int m = 0; m < M; m++) {                          // dp_t = hv_t do_t;  DV += p_t do_tᵀ
                        for (int j = 0; j < V; j++) {
                            dp[m] += hv[m * V + j] * dO.d[vo + j];
                            DV[m * V + j] += p[m] * dO.d[vo + j];
                        }
                    }
                    double pDotDp = 0;
                    for (int m = 0; m < M; m++) pDotDp += p[m] * dp[m];
                    for (int m = 0; m < M; m++) da[m] = p[m] * (dp[m] - pDotDp);   // da_t = p ⊙ (dp − ⟨p, dp⟩)
                    for (int i = 0; i < K; i++) {                          // dq_t = scale hk_t da_t;  DK += scale q_t da_tᵀ
                        for (int m = 0; m < M; m++) {
                            dq.d[qo + i] += in.scale * hk[i * M + m] * da[m];
                            DK[i * M + m] += in.scale * in.q.d[qo + i] * da[m];
                        }
                    }
                    for (int m = 0; m < M; m++) {
                        double alpha = Math.exp(in.g.d[so + m]), dAlpha = 0;
                        for (int i = 0; i < K; i++) {                      // dk_t = DK s_t;  ds_t += DKᵀ k_t
                            dk.d[qo + i] += DK[i * M + m] * in.s.d[so + m];
                            ds.d[so + m] += DK[i * M + m] * in.k.d[qo + i];
                            dAlpha += hkPrev[i * M + m] * DK[i * M + m];   // colsum(hk_{t-1} ⊙ DK)
                            DK[i * M + m] *= alpha;
                        }
                        for (int j = 0; j < V; j++) {                      // dv_t = DVᵀ s_t;  ds_t += DV v_t
                            dv.d[vo + j] += DV[m * V + j] * in.s.d[so + m];
                            ds.d[so + m] += DV[m * V + j] * in.v.d[vo + j];
                            dAlpha += hvPrev[m * V + j] * DV[m * V + j];   // rowsum(hv_{t-1} ⊙ DV)
                            DV[m * V + j] *= alpha;
                        }
                        dg.d[so + m] = dAlpha * alpha;                     // dg_t = dα_t ⊙ α_t
                    }
                }
                System.arraycopy(DK, 0, dhk0.d, hko, K * M);
                System.arraycopy(DV, 0, dhv0.d, hvo, M * V);
            }
        }
        return new GatedSlotAttention.Grads(dq, dk, dv, ds, dg, dhk0, dhv0);
    }
}
