package org.gsa4j.ops;

import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.Tensor;

/**
 * HGRN2's forget gate (docs/MATH.md#hgrn2-layer): from the forget logits and the layer's lower bound,
 * the log-decay and the key of the gated-linear-attention primitive ({@code k = 1 − a}: what is
 * forgotten is written), and the layer-wise lower bound derived from the model's
 * {@code lower_bounds}. float32 and float64 share the plain loops (the gate is a small part of a
 * step); decoding calls {@link #step}.
 */
public final class Hgrn2Gate {
    private Hgrn2Gate() {}

    /**
     * HGRN2's forget gate (docs/MATH.md#hgrn2-layer) from the forget logits f [..., D] and a lower bound lb [D]
     * (null: none, as in layer 0): {@code a = lb + (1 − lb) σ(f)}, log-decay {@code g = log a} and
     * key {@code k = 1 − a = (1 − lb)(1 − σ(f))} (computed without cancellation). Returns {g, k}.
     * Backward: {@code ∂g/∂f = (1 − lb) σ (1 − σ) / a}, {@code ∂g/∂lb = (1 − σ) / a},
     * {@code ∂k/∂f = −(1 − lb) σ (1 − σ)}, {@code ∂k/∂lb = −(1 − σ)}.
     */
    public static Var[] apply(Tape tape, Var f, Var lowerBound) {
        Tensor fv = f.value;
        int dim = fv.dim(-1);
        if (lowerBound != null && lowerBound.value.size() != dim) {
            throw new IllegalArgumentException("lower bound has " + lowerBound.value.size() + " entries, gate has " + dim);
        }
        Tensor g = Tensor.zerosLike(fv), k = Tensor.zerosLike(fv);
        for (int i = 0; i < fv.size(); i++) {
            double x = fv.get(i);
            double lb = lowerBound == null ? 0 : lowerBound.value.get(i % dim);
            double oneMinusSig = 1 / (1 + Math.exp(x));
            if (lowerBound == null) {
                g.set(i, Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x))));
            } else {
                double sig = 1 / (1 + Math.exp(-x));
                g.set(i, Math.log(lb + (1 - lb) * sig));
            }
            k.set(i, (1 - lb) * oneMinusSig);
        }
        Var gv = lowerBound == null ? tape.result(g, f) : tape.result(g, f, lowerBound);
        Var kv = lowerBound == null ? tape.result(k, f) : tape.result(k, f, lowerBound);
        tape.record(gv, () -> {
            Tensor dg = gv.grad(), dk = kv.grad();
            if (dg == null && dk == null) return;
            Tensor df = Tensor.zerosLike(fv);
            Tensor dlb = lowerBound == null ? null : Tensor.zerosLike(lowerBound.value);
            for (int i = 0; i < fv.size(); i++) {
                double x = fv.get(i);
                double lb = lowerBound == null ? 0 : lowerBound.value.get(i % dim);
                double sig = 1 / (1 + Math.exp(-x)), oneMinusSig = 1 / (1 + Math.exp(x));
                double a = lb + (1 - lb) * sig;
                double gi = dg == null ? 0 : dg.get(i), ki = dk == null ? 0 : dk.get(i);
                // lb = 0: ∂g/∂f = (1 − σ) exactly, without dividing by a small σ
                double dgdf = lowerBound == null ? oneMinusSig : (1 - lb) * sig * oneMinusSig / a;
                df.set(i, gi * dgdf - ki * (1 - lb) * sig * oneMinusSig);
                if (dlb != null) dlb.set(i % dim, dlb.get(i % dim) + gi * oneMinusSig / a - ki * oneMinusSig);
            }
            f.accumulate(df);
            if (lowerBound != null) lowerBound.accumulate(dlb);
        });
        return new Var[] {gv, kv};
    }

    /**
     * HGRN2's layer-wise lower bound (docs/MATH.md#hgrn2-layer) for one layer from the model's
     * {@code lower_bounds [L, D]}: with {@code p = softmax over the layer axis},
     * {@code lb = cumsum(p)[layer] − p[0] = Σ_{1 ≤ l ≤ layer} p_l}, a [D] row (0 for layer 0).
     * Backward per column: {@code dx_m = dlb · p_m · ([1 ≤ m ≤ layer] − lb)}.
     */
    public static Var lowerBound(Tape tape, Var lowerBounds, int layer) {
        Tensor x = lowerBounds.value;
        int layers = x.dim(0), dim = x.dim(1);
        if (layer < 0 || layer >= layers) throw new IllegalArgumentException("layer " + layer + " of " + layers);
        Tensor p = Tensor.zerosF64(layers, dim);
        Tensor y = Tensor.zerosLike(x, dim);
        for (int c = 0; c < dim; c++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int l = 0; l < layers; l++) max = Math.max(max, x.get(l * dim + c));
            double sum = 0;
            for (int l = 0; l < layers; l++) {
                double e = Math.exp(x.get(l * dim + c) - max);
                p.d[l * dim + c] = e;
                sum += e;
            }
            double acc = 0;
            for (int l = 0; l < layers; l++) {
                p.d[l * dim + c] /= sum;
                if (l >= 1 && l <= layer) acc += p.d[l * dim + c];
            }
            y.set(c, acc);
        }
        Var out = tape.result(y, lowerBounds);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = Tensor.zerosLike(x);
            for (int c = 0; c < dim; c++) {
                double lb = 0;
                for (int l = 1; l <= layer; l++) lb += p.d[l * dim + c];
                for (int l = 0; l < layers; l++) {
                    double in = l >= 1 && l <= layer ? 1 : 0;
                    dx.set(l * dim + c, g.get(c) * p.d[l * dim + c] * (in - lb));
                }
            }
            lowerBounds.accumulate(dx);
        });
        return out;
    }

    /**
     * One token's gate in place, the decode step: f [rows, dim] (forget logits) becomes
     * {@code log a} with {@code a = lb + (1 − lb) σ(f)}, k ← 1 − a = (1 − lb)(1 − σ(f)); lb [dim] or
     * null (none).
     */
    public static void step(float[] f, float[] lb, float[] k, int rows, int dim) {
        for (int i = 0; i < rows * dim; i++) {
            double x = f[i], low = lb == null ? 0 : lb[i % dim];
            double sig = 1 / (1 + Math.exp(-x)), oneMinusSig = 1 / (1 + Math.exp(x));
            // without a bound, log σ(f) stably (σ may underflow)
            f[i] = (float) (lb == null ? Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x))) : Math.log(low + (1 - low) * sig));
            k[i] = (float) ((1 - low) * oneMinusSig);
        }
    }
}
