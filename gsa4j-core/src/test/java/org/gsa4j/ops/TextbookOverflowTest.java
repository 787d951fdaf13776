package org.gsa4j.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.OpsTestSupport.Strength;
import org.gsa4j.tensor.Gemm;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Proves that the strong-decay tests reach float32 overflow (docs/MATH.md#float32-stable-sub-blocks): the textbook
 * factorisation scores = (Q ⊙ e^b)(K ⊙ e^{−b})ᵀ gives inf/NaN on one chunk of strong decay, while
 * the sub-block scheme stays finite and accurate on the very same inputs.
 */
class TextbookOverflowTest {
    @Test
    void textbookFactorisationOverflowsWhereTheChunkAlgorithmDoesNot() {
        int T = 64, D = 16;
        SplittableRandom rng = new SplittableRandom(5);
        Tensor q = OpsTestSupport.randn(rng, 1, T, 1, D), k = OpsTestSupport.randn(rng, 1, T, 1, D);
        Tensor v = OpsTestSupport.randn(rng, 1, T, 1, D);
        Tensor g = OpsTestSupport.logDecay(rng, Strength.STRONG, 1, T, 1, D);

        // textbook, float32: X̂ = Q ⊙ e^b, Ŷ = K ⊙ e^{−b}, scores = tril(X̂ Ŷᵀ)
        float[] b = new float[D], x = new float[T * D], y = new float[T * D], scores = new float[T * T];
        for (int t = 0; t < T; t++) {
            for (int d = 0; d < D; d++) {
                b[d] += g.f[t * D + d];
                x[t * D + d] = q.f[t * D + d] * (float) Math.exp(b[d]);
                y[t * D + d] = k.f[t * D + d] * (float) Math.exp(-b[d]);
            }
        }
        Gemm.sgemm(false, true, T, T, D, 1f, x, 0, D, y, 0, D, 0f, scores, 0, T);
        int nonFinite = 0;
        for (int t = 0; t < T; t++) {
            for (int j = 0; j <= t; j++) if (!Float.isFinite(scores[t * T + j])) nonFinite++;
        }
        System.out.printf("textbook factorisation at strong decay: %d of %d lower-triangular scores inf/NaN (b_64 min %.1f)%n",
                nonFinite, T * (T + 1) / 2, min(b));
        assertTrue(nonFinite > 0, "the strong-decay inputs did not reach float32 overflow");

        GatedLinearAttention.Result chunk = GatedLinearAttention.forward(Gate.key(g), q, k, v, null);
        GatedLinearAttention.Result exact = GatedLinearAttention.forward(Gate.key(g.toF64()), q.toF64(), k.toF64(), v.toF64(), null);
        assertTrue(OpsTestSupport.allFinite(chunk.o()), "chunk output not finite");
        OpsTestSupport.check("sub-block chunk output, same inputs", chunk.o(), exact.o(), 1e-5);
    }

    private static float min(float[] a) {
        float m = Float.POSITIVE_INFINITY;
        for (float x : a) m = Math.min(m, x);
        return m;
    }
}
