package org.gsa4j.autograd;

import org.gsa4j.ops.CrossEntropyOp;
import org.gsa4j.ops.GatedSlotAttentionOp;
import org.gsa4j.ops.RmsNormOp;
import org.gsa4j.ops.ShortConvOp;
import org.gsa4j.tensor.MatMul;
import org.gsa4j.tensor.Tensor;

/**
 * The differentiable functions models are written with. Each computes its forward value and
 * records its hand-written backward on the tape. Tensors may be float32 (fast kernels) or float64
 * (simple loops, used by the finite-difference gradient checks).
 */
public final class Functions {
    private Functions() {}

    /** A view of x with another shape. */
    public static Var reshape(Tape tape, Var x, int... shape) {
        Var out = tape.result(x.value.reshape(shape), x);
        tape.record(out, () -> {
            if (out.grad() != null) x.accumulate(out.grad().reshape(x.value.shape));
        });
        return out;
    }

    /** Rows of table for each id: [n] ids → [n, d]. */
    public static Var embedding(Tape tape, Var table, int[] ids) {
        int vocab = table.value.dim(0), d = table.value.dim(1);
        Tensor y = Tensor.zerosLike(table.value, ids.length, d);
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException("token id " + ids[i] + " outside the vocabulary [0, " + vocab + ")");
            }
            if (table.value.isBf16()) for (int j = 0; j < d; j++) y.f[i * d + j] = (float) table.value.get(ids[i] * d + j);
            else if (y.isF64()) System.arraycopy(table.value.d, ids[i] * d, y.d, i * d, d);
            else System.arraycopy(table.value.f, ids[i] * d, y.f, i * d, d);
        }
        Var out = tape.result(y, table);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dt = table.gradBuffer();
            for (int i = 0; i < ids.length; i++) {
                int row = ids[i] * d;
                if (dt.isF64()) for (int j = 0; j < d; j++) dt.d[row + j] += g.d[i * d + j];
                else for (int j = 0; j < d; j++) dt.f[row + j] += g.f[i * d + j];
            }
        });
        return out;
    }

    /** x [..., K] · wᵀ, w [M, K] (PyTorch Linear, no bias). */
    public static Var linear(Tape tape, Var x, Var w) {
        Var out = tape.result(MatMul.linear(x.value, w.value), x, w);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            MatMul.linearBackward(x.value, w.value, g,
                    x.requiresGrad ? x.gradBuffer() : null, w.requiresGrad ? w.gradBuffer() : null);
        });
        return out;
    }

    /** x + b bias over the last axis, b [M]. */
    public static Var addBias(Tape tape, Var x, Var b) {
        int m = b.value.size();
        Tensor y = x.value.copy();
        for (int i = 0; i < y.size(); i++) y.set(i, y.get(i) + b.value.get(i % m));
        Var out = tape.result(y, x, b);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            x.accumulate(g);
            if (b.requiresGrad) {
                Tensor db = b.gradBuffer();
                for (int i = 0; i < g.size(); i++) db.set(i % m, db.get(i % m) + g.get(i));
            }
        });
        return out;
    }

    public static Var add(Tape tape, Var a, Var b) {
        Tensor y = a.value.copy();
        y.addInPlace(b.value);
        Var out = tape.result(y, a, b);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            a.accumulate(g);
            b.accumulate(g);
        });
        return out;
    }

    /** Element-wise product. */
    public static Var mul(Tape tape, Var a, Var b) {
        Tensor y = Tensor.zerosLike(a.value);
        if (y.isF64()) for (int i = 0; i < y.d.length; i++) y.d[i] = a.value.d[i] * b.value.d[i];
        else for (int i = 0; i < y.f.length; i++) y.f[i] = a.value.f[i] * b.value.f[i];
        Var out = tape.result(y, a, b);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            if (a.requiresGrad) a.accumulate(product(g, b.value));
            if (b.requiresGrad) b.accumulate(product(g, a.value));
        });
        return out;
    }

    private static Tensor product(Tensor x, Tensor y) {
        Tensor r = Tensor.zerosLike(x);
        if (r.isF64()) for (int i = 0; i < r.d.length; i++) r.d[i] = x.d[i] * y.d[i];
        else for (int i = 0; i < r.f.length; i++) r.f[i] = x.f[i] * y.f[i];
        return r;
    }

    public static Var scale(Tape tape, Var x, double c) {
        Tensor y = Tensor.zerosLike(x.value);
        for (int i = 0; i < y.size(); i++) y.set(i, c * x.value.get(i));
        Var out = tape.result(y, x);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = Tensor.zerosLike(g);
            for (int i = 0; i < g.size(); i++) dx.set(i, c * g.get(i));
            x.accumulate(dx);
        });
        return out;
    }

    /** silu(x) = x·σ(x) (also called swish). */
    public static Var silu(Tape tape, Var x) {
        Tensor v = x.value;
        Tensor y = Tensor.zerosLike(v);
        if (v.isF64()) for (int i = 0; i < y.d.length; i++) y.d[i] = v.d[i] / (1 + Math.exp(-v.d[i]));
        else for (int i = 0; i < y.f.length; i++) y.f[i] = (float) (v.f[i] / (1 + Math.exp(-v.f[i])));
        Var out = tape.result(y, x);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = Tensor.zerosLike(v);
            if (v.isF64()) {
                for (int i = 0; i < dx.d.length; i++) {
                    double sg = 1 / (1 + Math.exp(-v.d[i]));
                    dx.d[i] = g.d[i] * sg * (1 + v.d[i] * (1 - sg));
                }
            } else {
                for (int i = 0; i < dx.f.length; i++) {
                    double sg = 1 / (1 + Math.exp(-v.f[i]));
                    dx.f[i] = (float) (g.f[i] * sg * (1 + v.f[i] * (1 - sg)));
                }
            }
            x.accumulate(dx);
        });
        return out;
    }

    public static Var relu(Tape tape, Var x) {
        Tensor v = x.value;
        Tensor y = Tensor.zerosLike(v);
        for (int i = 0; i < y.size(); i++) y.set(i, Math.max(v.get(i), 0));
        Var out = tape.result(y, x);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = Tensor.zerosLike(v);
            for (int i = 0; i < dx.size(); i++) dx.set(i, v.get(i) > 0 ? g.get(i) : 0);
            x.accumulate(dx);
        });
        return out;
    }

    /** SwiGLU's gating: silu(gate) ⊙ up, fused so that no silu(gate) tensor is kept. */
    public static Var swiglu(Tape tape, Var gate, Var up) {
        Tensor a = gate.value, b = up.value;
        Tensor y = Tensor.zerosLike(a);
        for (int i = 0; i < y.size(); i++) {
            double x = a.get(i);
            y.set(i, x / (1 + Math.exp(-x)) * b.get(i));
        }
        Var out = tape.result(y, gate, up);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor da = Tensor.zerosLike(a), db = Tensor.zerosLike(b);
            for (int i = 0; i < y.size(); i++) {
                double x = a.get(i), sg = 1 / (1 + Math.exp(-x)), gi = g.get(i);
                db.set(i, gi * x * sg);
                da.set(i, gi * b.get(i) * sg * (1 + x * (1 - sg)));
            }
            gate.accumulate(da);
            up.accumulate(db);
        });
        return out;
    }

    /** RMSNorm over the last axis: x / sqrt(mean(x²) + eps) ⊙ w (w may be null: no affine weight). */
    public static Var rmsNorm(Tape tape, Var x, Var w, double eps) {
        int d = x.value.dim(-1);
        Tensor y = Tensor.zerosLike(x.value);
        Tensor rstd = RmsNormOp.forward(x.value, w == null ? null : w.value, eps, d, y);
        Var out = w == null ? tape.result(y, x) : tape.result(y, x, w);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            RmsNormOp.backward(x.value, w == null ? null : w.value, rstd, g, d,
                    x.requiresGrad ? x.gradBuffer() : null, w != null && w.requiresGrad ? w.gradBuffer() : null);
        });
        return out;
    }

    /** Repeats each of the Hkv heads G times: [B,T,Hkv,D] → [B,T,Hkv·G,D]; query head i uses kv head i / G. */
    public static Var repeatHeads(Tape tape, Var x, int groups) {
        if (groups == 1) return x;
        int[] s = x.value.shape;
        int rows = s[0] * s[1], hkv = s[2], dd = s[3];
        Tensor y = Tensor.zerosLike(x.value, s[0], s[1], hkv * groups, dd);
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < hkv; h++)
                for (int j = 0; j < groups; j++)
                    for (int c = 0; c < dd; c++)
                        y.set(((r * hkv + h) * groups + j) * dd + c, x.value.get((r * hkv + h) * dd + c));
        Var out = tape.result(y, x);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = Tensor.zerosLike(x.value);
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < hkv; h++)
                    for (int j = 0; j < groups; j++)
                        for (int c = 0; c < dd; c++) {
                            int i = (r * hkv + h) * dd + c;
                            dx.set(i, dx.get(i) + g.get(((r * hkv + h) * groups + j) * dd + c));
                        }
            x.accumulate(dx);
        });
        return out;
    }

    /** Causal depthwise convolution over time, x [B,T,C], w [C,1,W]; no bias, no activation. */
    public static Var shortConv(Tape tape, Var x, Var w) {
        Tensor y = ShortConvOp.forward(x.value, w.value, null);
        Var out = tape.result(y, x, w);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            ShortConvOp.backward(x.value, w.value, g,
                    x.requiresGrad ? x.gradBuffer() : null, w.requiresGrad ? w.gradBuffer() : null);
        });
        return out;
    }

    /** Mean cross-entropy of logits [N, V] against targets (ignoreIndex entries skipped): a scalar. */
    public static Var crossEntropy(Tape tape, Var logits, int[] targets, int ignoreIndex) {
        CrossEntropyOp.Result r = CrossEntropyOp.forward(logits.value, targets, ignoreIndex);
        Tensor loss = Tensor.zerosLike(logits.value, 1);
        loss.set(0, r.loss());
        Var out = tape.result(loss, logits);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            CrossEntropyOp.backward(logits.value, targets, ignoreIndex, r, g.get(0), logits.gradBuffer());
        });
        return out;
    }

    /** Σ x ⊙ c for a constant c: turns any output into a scalar with a chosen cotangent. */
    public static Var sumProduct(Tape tape, Var x, Tensor c) {
        double acc = 0;
        for (int i = 0; i < c.size(); i++) acc += x.value.get(i) * c.get(i);
        Tensor y = Tensor.zerosLike(x.value, 1);
        y.set(0, acc);
        Var out = tape.result(y, x);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = Tensor.zerosLike(x.value);
            for (int i = 0; i < dx.size(); i++) dx.set(i, g.get(0) * c.get(i));
            x.accumulate(dx);
        });
        return out;
    }

    /**
     * GSA's gate from the forget logits f: log-decay {@code g = logsigmoid(f)/τ} and write weight
     * {@code s = 1 − exp(g)}. Backward: {@code df = (dg − ds ⊙ α) ⊙ (1 − σ(f)) / τ} with α = exp(g).
     * Returns {g, s}.
     */
    public static Var[] slotGate(Tape tape, Var f, double tau) {
        Tensor fv = f.value;
        Tensor g = Tensor.zerosLike(fv), s = Tensor.zerosLike(fv);
        for (int i = 0; i < fv.size(); i++) {
            double x = fv.get(i);
            double logSig = Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
            double gi = logSig / tau;
            g.set(i, gi);
            s.set(i, 1 - Math.exp(g.get(i)));
        }
        Var gv = tape.result(g, f), sv = tape.result(s, f);
        tape.record(gv.requiresGrad ? gv : sv, () -> {
            Tensor dg = gv.grad(), ds = sv.grad();
            if (dg == null && ds == null) return;
            Tensor df = Tensor.zerosLike(fv);
            for (int i = 0; i < fv.size(); i++) {
                double x = fv.get(i);
                double alpha = Math.exp(g.get(i));
                double total = (dg == null ? 0 : dg.get(i)) - (ds == null ? 0 : ds.get(i) * alpha);
                double oneMinusSig = 1 / (1 + Math.exp(x)); // 1 − σ(x), stable for large |x|
                df.set(i, total * oneMinusSig / tau);
            }
            f.accumulate(df);
        });
        return new Var[] {gv, sv};
    }

    /**
     * The GSA operator (SPEC §2) from zero states: q,k [B,T,H,K], v [B,T,H,V], s,g [B,T,H,M] →
     * o [B,T,H,V]. Chunkwise-parallel in float32, the plain recurrence in float64.
     */
    public static Var gatedSlotAttention(Tape tape, Var q, Var k, Var v, Var s, Var g, double scale) {
        GatedSlotAttentionOp.Result r = GatedSlotAttentionOp.forward(q.value, k.value, v.value, s.value, g.value, scale, null, null);
        Var out = tape.result(r.o(), q, k, v, s, g);
        tape.record(out, () -> {
            Tensor dO = out.grad();
            if (dO == null) return;
            GatedSlotAttentionOp.Grads d = GatedSlotAttentionOp.backward(r, dO, null, null);
            q.accumulate(d.dq());
            k.accumulate(d.dk());
            v.accumulate(d.dv());
            s.accumulate(d.ds());
            g.accumulate(d.dg());
        });
        return out;
    }
}
