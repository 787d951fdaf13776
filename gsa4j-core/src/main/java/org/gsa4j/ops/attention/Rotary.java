package org.gsa4j.ops.attention;

import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.Tensor;

/**
 * Rotary position embedding, GPT-NeoX ("half-split", non-interleaved) layout, as used by the
 * Transformer/Llama baselines (docs/MATH.md#causal-softmax-attention) and RetNet (docs/MATH.md#retnet-layer).
 *
 * <p>For a vector {@code x = [x1, x2]} of even length {@code dim} (halves of {@code dim/2}) at
 * position {@code p}:
 * <pre>
 *   inv_freq_i = base^(-2i/dim),   i = 0 .. dim/2-1
 *   θ_{p,i}    = p · inv_freq_i
 *   x'         = [x1 cos θ − x2 sin θ,  x2 cos θ + x1 sin θ]
 * </pre>
 * Like the reference (PyTorch, float32 buffers), {@code inv_freq} and the angle {@code θ} are
 * float32 quantities: {@code inv_freq = 1f / (float) base^(float(2i)/dim)} and {@code θ = (float) p * inv_freq}
 * rounded to float32. This matters at large positions (θ of several hundred radians carries an
 * fp32 rounding of ~1e-5). cos θ and sin θ are then evaluated in float64 and, for float32
 * tensors, rounded to float32 (the reference casts cos/sin to the activation dtype).
 *
 * <p>The rotation is orthogonal, so the backward of {@code apply(x, off, false)} is
 * {@code apply(dy, off, true)} (the inverse rotation, angle −θ).
 *
 * <p>cos/sin tables (float64, 16 bytes per position and frequency) are cached and grown on demand
 * by doubling; instances are thread-safe.
 */
public final class Rotary {
    private final int dim;
    private final int half;
    private final double base;
    /** inv_freq as float32 values (stored widened). */
    private final float[] invFreq;
    /** Immutable snapshot of the tables; replaced (never mutated) when grown. */
    private volatile Tables tables;

    private record Tables(int positions, double[] cos, double[] sin) {}

    public Rotary(int dim, double base) {
        if (dim <= 0 || dim % 2 != 0) throw new IllegalArgumentException("rotary dim must be positive and even, got " + dim);
        if (!(base > 0)) throw new IllegalArgumentException("rotary base must be > 0, got " + base);
        this.dim = dim;
        this.half = dim / 2;
        this.base = base;
        this.invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            float expo = (float) (2 * i) / (float) dim;          // fp32, as torch.arange(0, dim, 2).float() / dim
            float pw = (float) Math.pow(base, expo);              // base ** expo, fp32 result
            invFreq[i] = 1.0f / pw;                               // fp32 reciprocal
        }
        this.tables = build(0);
    }

    public int dim() {
        return dim;
    }

    public double base() {
        return base;
    }

    /** inv_freq_i (the float32 values, widened). */
    public double invFreq(int i) {
        return invFreq[i];
    }

    /** The float32 angle θ_{p,i} the rotation uses, widened to double. */
    public double angle(int position, int i) {
        return (float) position * invFreq[i];
    }

    /**
     * The embedding on a tape: x [B,T,H,dim] rotated, token t at position offset + t. The rotation
     * is orthogonal: backward rotates the gradient by −θ.
     */
    public Var apply(Tape tape, Var x, int offset) {
        Tensor y = x.value.copy();
        apply(y, offset, false);
        Var out = tape.result(y, x);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = g.copy();
            apply(dx, offset, true);
            x.accumulate(dx);
        });
        return out;
    }

    /**
     * Rotates {@code x [B,T,H,dim]} in place; token t of every sequence is at position
     * {@code offset + t}. {@code inverse = true} rotates by −θ (the transpose, for backward).
     */
    public void apply(Tensor x, int offset, boolean inverse) {
        if (x.rank() != 4) throw new IllegalArgumentException("rotary expects x [B,T,H,dim], got " + x);
        int[] offs = new int[x.dim(0)];
        java.util.Arrays.fill(offs, offset);
        apply(x, offs, inverse);
    }

    /**
     * As {@link #apply(Tensor, int, boolean)} with a per-sequence offset (left-padded batches:
     * sequence b's token t is at position {@code offsets[b] + t}; offsets must be ≥ 0).
     */
    public void apply(Tensor x, int[] offsets, boolean inverse) {
        if (x.rank() != 4 || x.dim(3) != dim) {
            throw new IllegalArgumentException("rotary(dim=" + dim + ") expects x [B,T,H," + dim + "], got " + x);
        }
        int bsz = x.dim(0), T = x.dim(1), H = x.dim(2);
        if (offsets.length != bsz) throw new IllegalArgumentException("offsets.length " + offsets.length + " != batch " + bsz);
        int maxPos = 0;
        for (int o : offsets) {
            if (o < 0) throw new IllegalArgumentException("negative rotary offset " + o);
            maxPos = Math.max(maxPos, o + T);
        }
        Tables tb = ensure(maxPos);
        double sign = inverse ? -1 : 1;
        float[] cos = new float[half], sin = new float[half];
        for (int b = 0; b < bsz; b++) {
            for (int t = 0; t < T; t++) {
                int p = offsets[b] + t;
                int tOff = p * half, row = (b * T + t) * H * dim;
                if (x.f != null) {
                    for (int i = 0; i < half; i++) {
                        cos[i] = (float) tb.cos[tOff + i];
                        sin[i] = (float) sign * (float) tb.sin[tOff + i];
                    }
                    rotate(x.f, row, H, cos, sin);
                } else {
                    for (int h = 0; h < H; h++) rotateD(x.d, row + h * dim, tb.cos, tb.sin, tOff, sign);
                }
            }
        }
    }

    /**
     * cos θ and sin θ at one position as the float32 values {@link #apply} multiplies by, into
     * {@code cos[0, dim/2)} and {@code sin[0, dim/2)}: computed, not looked up, so a decoding step at
     * a long context needs no table (and allocates nothing).
     */
    public void angles(int position, float[] cos, float[] sin) {
        for (int i = 0; i < half; i++) {
            float theta = (float) position * invFreq[i];          // fp32 angle, as the reference
            cos[i] = (float) Math.cos(theta);
            sin[i] = (float) Math.sin(theta);
        }
    }

    /** Rotates {@code rows} consecutive vectors of dim, from {@code x[off]}, in place by the angles of one position. */
    public void rotate(float[] x, int off, int rows, float[] cos, float[] sin) {
        for (int r = 0; r < rows; r++) {
            int o = off + r * dim;
            for (int i = 0; i < half; i++) {
                float c = cos[i], s = sin[i];
                float x1 = x[o + i], x2 = x[o + half + i];
                x[o + i] = x1 * c - x2 * s;
                x[o + half + i] = x2 * c + x1 * s;
            }
        }
    }

    /** One decoding step: {@code x [B,H,dim]} rotated in place for {@code position}. */
    public void applyStep(Tensor x, int position) {
        if (x.rank() != 3) throw new IllegalArgumentException("rotary step expects x [B,H,dim], got " + x);
        apply(x.reshape(x.dim(0), 1, x.dim(1), x.dim(2)), position, false);
    }

    private void rotateD(double[] x, int o, double[] cos, double[] sin, int tOff, double sign) {
        for (int i = 0; i < half; i++) {
            double c = cos[tOff + i], s = sign * sin[tOff + i];
            double x1 = x[o + i], x2 = x[o + half + i];
            x[o + i] = x1 * c - x2 * s;
            x[o + half + i] = x2 * c + x1 * s;
        }
    }

    private Tables ensure(int positions) {
        Tables tb = tables;
        if (tb.positions >= positions) return tb;
        synchronized (this) {
            tb = tables;
            if (tb.positions >= positions) return tb;
            long grown = Math.max((long) positions, Math.min(2L * tb.positions, Integer.MAX_VALUE / half));
            tb = build((int) Math.max(grown, 64));
            tables = tb;
            return tb;
        }
    }

    private Tables build(int positions) {
        int n = positions * half;
        double[] cd = new double[n], sd = new double[n];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < half; i++) {
                float theta = (float) p * invFreq[i];             // fp32 angle, as the reference
                cd[p * half + i] = Math.cos(theta);
                sd[p * half + i] = Math.sin(theta);
            }
        }
        return new Tables(positions, cd, sd);
    }
}
