package org.gsa4j.ops;

import org.gsa4j.tensor.VectorOps;

/**
 * The element-wise pieces of a single-token decoding step, on float slices in place or into
 * preallocated buffers, each with exactly the arithmetic of its {@code autograd.Functions}
 * counterpart (double intermediates, one float rounding), so that the step path and the tape path
 * agree to the last bit outside the matrix products.
 */
public final class StepOps {
    private StepOps() {}

    /** x ← silu(x) = x·σ(x). */
    public static void silu(float[] x, int off, int n) {
        for (int i = off; i < off + n; i++) x[i] = (float) (x[i] / (1 + Math.exp(-x[i])));
    }

    public static void relu(float[] x, int off, int n) {
        for (int i = off; i < off + n; i++) x[i] = (float) Math.max(x[i], 0);
    }

    /** gate ← silu(gate) ⊙ up. */
    public static void swiglu(float[] gate, float[] up, int n) {
        swiglu(gate, up, 0, n);
    }

    /** gate ← silu(gate) ⊙ up over [off, off + n). */
    public static void swiglu(float[] gate, float[] up, int off, int n) {
        for (int i = off; i < off + n; i++) {
            double x = gate[i];
            gate[i] = (float) (x / (1 + Math.exp(-x)) * up[i]);
        }
    }

    /** y ← y + x. */
    public static void addInto(float[] y, float[] x, int n) {
        for (int i = 0; i < n; i++) y[i] += x[i];
    }

    /** RMSNorm of rows of length d: y = x / sqrt(mean(x²) + eps) ⊙ w (w may be null). */
    public static void rmsNorm(float[] x, float[] w, double eps, int rows, int d, float[] y) {
        for (int r = 0; r < rows; r++) {
            int o = r * d;
            double ss = 0;
            for (int j = 0; j < d; j++) ss += (double) x[o + j] * x[o + j];
            double rs = 1.0 / Math.sqrt(ss / d + eps);
            for (int j = 0; j < d; j++) y[o + j] = (float) (x[o + j] * rs * (w == null ? 1 : w[j]));
        }
    }

    /**
     * x ← logsigmoid(x)/τ, computed stably (GLA's forget gate, with GSA's slot gate built on it), on
     * {@code rows} rows of {@code dim} each. Row by row: the vector kernel leaves a row's last
     * {@code dim mod L} elements to its scalar tail, so a row's values do not depend on how many
     * rows a decoding pass holds.
     */
    public static void logSigmoid(float[] x, int rows, int dim, double tau) {
        for (int r = 0; r < rows; r++) VectorOps.logSigmoid(x, r * dim, x, r * dim, dim, (float) (1 / tau));
    }

    /** x ← max(x, min). */
    public static void clampMin(float[] x, int n, double min) {
        for (int i = 0; i < n; i++) x[i] = (float) Math.max(x[i], min);
    }

    /**
     * GSA's slot gate: g = logsigmoid(f)/τ, s = 1 − exp(g), written over f (→ g) and into s, on
     * {@code rows} rows of {@code dim} each, row by row as {@link #logSigmoid}.
     */
    public static void slotGate(float[] f, float[] s, int rows, int dim, double tau) {
        for (int r = 0; r < rows; r++) VectorOps.slotGate(f, f, s, r * dim, dim, (float) (1 / tau));
    }

    /**
     * HGRN2's forget gate from the forget logits f [rows, dim] and the layer's lower bound lb [dim]
     * (null: none): f ← log a with {@code a = lb + (1 − lb) σ(f)}, k ← 1 − a = (1 − lb)(1 − σ(f)).
     */
    public static void hgrnGate(float[] f, float[] lb, float[] k, int rows, int dim) {
        for (int i = 0; i < rows * dim; i++) {
            double x = f[i], low = lb == null ? 0 : lb[i % dim];
            double sig = 1 / (1 + Math.exp(-x)), oneMinusSig = 1 / (1 + Math.exp(x));
            // without a bound, log σ(f) stably (σ may underflow)
            f[i] = (float) (lb == null ? Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x))) : Math.log(low + (1 - low) * sig));
            k[i] = (float) ((1 - low) * oneMinusSig);
        }
    }

    /** y [rows, m] ← y + bias [m] per row. */
    public static void addRowBias(float[] y, float[] bias, int rows, int m) {
        for (int r = 0; r < rows; r++) for (int j = 0; j < m; j++) y[r * m + j] += bias[j];
    }

    /**
     * One token of the causal depthwise convolution, in place: the row x[xOff, xOff + C) becomes
     * {@code Σ_i w[c,i]·(cache…, x)}; the cache [W−1, C] at {@code cacheOff} shifts by one and takes x.
     */
    public static void shortConvStep(float[] x, int xOff, float[] w, float[] cache, int cacheOff, int channels, int width) {
        int keep = width - 1;
        for (int c = 0; c < channels; c++) {
            float xv = x[xOff + c];
            double acc = 0;
            for (int i = 0; i < keep; i++) acc += w[c * width + i] * (double) cache[cacheOff + i * channels + c];
            acc += w[c * width + keep] * (double) xv;
            for (int i = 0; i + 1 < keep; i++) cache[cacheOff + i * channels + c] = cache[cacheOff + (i + 1) * channels + c];
            if (keep > 0) cache[cacheOff + (keep - 1) * channels + c] = xv;
            x[xOff + c] = (float) acc;
        }
    }

    /** [B, Hkv, D] → [B, Hkv·G, D]: query head i reads kv head i / G. */
    public static void repeatHeads(float[] x, int batch, int hkv, int d, int groups, float[] y) {
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < hkv; h++)
                for (int j = 0; j < groups; j++)
                    System.arraycopy(x, (b * hkv + h) * d, y, ((b * hkv + h) * groups + j) * d, d);
    }
}
