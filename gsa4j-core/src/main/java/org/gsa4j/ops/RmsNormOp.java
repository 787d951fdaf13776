package org.gsa4j.ops;

import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;

/**
 * RMSNorm over rows of length d: {@code y = x · rstd ⊙ w}, {@code rstd = 1/sqrt(mean(x²) + eps)}.
 * Backward: with {@code xhat = x·rstd} and {@code gw = dy ⊙ w},
 * {@code dx = rstd · (gw − xhat · mean(gw ⊙ xhat))}, {@code dw = Σ_rows dy ⊙ xhat}.
 */
public final class RmsNormOp {
    private RmsNormOp() {}

    /** Writes y; returns the per-row rstd (kept for backward). w may be null. */
    public static Tensor forward(Tensor x, Tensor w, double eps, int d, Tensor y) {
        int rows = x.size() / d;
        Tensor rstd = Tensor.zerosLike(x, rows);
        Parallel.forRange(rows, r -> {
            int o = r * d;
            double ss = 0;
            for (int j = 0; j < d; j++) ss += x.get(o + j) * x.get(o + j);
            double rs = 1.0 / Math.sqrt(ss / d + eps);
            rstd.set(r, rs);
            for (int j = 0; j < d; j++) y.set(o + j, x.get(o + j) * rs * (w == null ? 1 : w.get(j)));
        });
        return rstd;
    }

    /** dx += ..., dw += ... (either may be null). */
    public static void backward(Tensor x, Tensor w, Tensor rstd, Tensor dy, int d, Tensor dx, Tensor dw) {
        int rows = x.size() / d;
        if (dx != null) {
            Parallel.forRange(rows, r -> {
                int o = r * d;
                double rs = rstd.get(r), dot = 0;
                for (int j = 0; j < d; j++) dot += dy.get(o + j) * (w == null ? 1 : w.get(j)) * x.get(o + j) * rs;
                dot /= d;
                for (int j = 0; j < d; j++) {
                    double xhat = x.get(o + j) * rs;
                    double gw = dy.get(o + j) * (w == null ? 1 : w.get(j));
                    dx.set(o + j, dx.get(o + j) + rs * (gw - xhat * dot));
                }
            });
        }
        if (dw != null) {
            // Column sums in a fixed row order: deterministic whatever the thread count.
            Parallel.forRange(d, j -> {
                double acc = 0;
                for (int r = 0; r < rows; r++) acc += dy.get(r * d + j) * x.get(r * d + j) * rstd.get(r);
                dw.set(j, dw.get(j) + acc);
            });
        }
    }
}
