package org.gsa4j.ops;

import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

/**
 * RMSNorm over rows of length d: {@code y = x · rstd ⊙ w}, {@code rstd = 1/sqrt(mean(x²) + eps)}.
 * Backward: with {@code xhat = x·rstd} and {@code gw = dy ⊙ w},
 * {@code dx = rstd · (gw − xhat · mean(gw ⊙ xhat))}, {@code dw = Σ_rows dy ⊙ xhat}.
 */
public final class RmsNorm {
    private RmsNorm() {}

    /** RMSNorm over the last axis on a tape: x / sqrt(mean(x²) + eps) ⊙ w (w may be null: no affine weight). */
    public static Var apply(Tape tape, Var x, Var w, double eps) {
        int d = x.value.dim(-1);
        Tensor y = Tensor.zerosLike(x.value);
        Tensor rstd = forward(x.value, w == null ? null : w.value, eps, d, y);
        Var out = w == null ? tape.result(y, x) : tape.result(y, x, w);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            backward(x.value, w == null ? null : w.value, rstd, g, d,
                    x.requiresGrad ? x.gradBuffer() : null, w != null && w.requiresGrad ? w.gradBuffer() : null);
        });
        return out;
    }

    /**
     * The decode step's RMSNorm of rows of length d, on float arrays: y = x / sqrt(mean(x²) + eps) ⊙ w
     * (w may be null), the sum of squares and the scaling in double.
     */
    public static void step(float[] x, float[] w, double eps, int rows, int d, float[] y) {
        for (int r = 0; r < rows; r++) {
            int o = r * d;
            double ss = 0;
            for (int j = 0; j < d; j++) ss += (double) x[o + j] * x[o + j];
            double rs = 1.0 / Math.sqrt(ss / d + eps);
            for (int j = 0; j < d; j++) y[o + j] = (float) (x[o + j] * rs * (w == null ? 1 : w[j]));
        }
    }

    /** Writes y; returns the per-row rstd (kept for backward). w may be null. */
    public static Tensor forward(Tensor x, Tensor w, double eps, int d, Tensor y) {
        int rows = x.size() / d;
        Tensor rstd = Tensor.zerosLike(x, rows);
        if (!x.isF64() && (w == null || !w.isF64()) && !y.isF64()) {
            float[] xf = x.f, yf = y.f, rf = rstd.f, wf = w == null ? null : w.f;
            Parallel.forBlocks(rows, ROWS_PER_TASK, (r0, r1) -> {
                for (int r = r0; r < r1; r++) {
                    int o = r * d;
                    float rs = (float) (1.0 / Math.sqrt(VectorOps.sumOfSquaresDouble(xf, o, d) / d + eps));
                    rf[r] = rs;
                    if (wf == null) {
                        System.arraycopy(xf, o, yf, o, d);
                        VectorOps.scale(rs, yf, o, d);
                    } else {
                        VectorOps.scaledMul(xf, o, rs, wf, 0, yf, o, d);
                    }
                }
            });
            return rstd;
        }
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

    private static final int ROWS_PER_TASK = 16;
    private static final int COLS_PER_TASK = 64;

    /**
     * float32: dx row by row (vector lanes for the row dot product); dw by fixed column strips, each
     * walking the rows in order with double accumulators (the same order as the simple path).
     */
    private static void backwardF32(float[] x, float[] w, float[] rstd, float[] dy, int d, int rows, float[] dx, float[] dw) {
        if (dx != null) {
            Parallel.forBlocks(rows, ROWS_PER_TASK, (r0, r1) -> {
                float[] gw = w == null ? null : new float[d];
                for (int r = r0; r < r1; r++) {
                    int o = r * d;
                    float rs = rstd[r];
                    float[] g = dy;
                    int go = o;
                    if (w != null) {
                        VectorOps.mul(dy, o, w, 0, gw, 0, d);
                        g = gw;
                        go = 0;
                    }
                    double c = VectorOps.dotDouble(g, go, x, o, d) * rs / d;   // mean(gw ⊙ xhat)
                    VectorOps.rmsNormDx(g, go, x, o, rs, (float) (rs * c), dx, o, d);   // dx += rs·(gw − xhat·c)
                }
            });
        }
        if (dw != null) {
            Parallel.forBlocks(d, COLS_PER_TASK, (j0, j1) -> {
                double[] acc = new double[j1 - j0];
                for (int r = 0; r < rows; r++) {
                    int o = r * d;
                    double rs = rstd[r];
                    for (int j = j0; j < j1; j++) acc[j - j0] += dy[o + j] * x[o + j] * rs;
                }
                for (int j = j0; j < j1; j++) dw[j] += acc[j - j0];
            });
        }
    }

    /** dx += ..., dw += ... (either may be null). */
    public static void backward(Tensor x, Tensor w, Tensor rstd, Tensor dy, int d, Tensor dx, Tensor dw) {
        int rows = x.size() / d;
        if (!x.isF64() && (w == null || !w.isF64()) && !dy.isF64() && (dx == null || !dx.isF64()) && (dw == null || !dw.isF64())) {
            backwardF32(x.f, w == null ? null : w.f, rstd.toF32().f, dy.f, d, rows, dx == null ? null : dx.f, dw == null ? null : dw.f);
            return;
        }
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
