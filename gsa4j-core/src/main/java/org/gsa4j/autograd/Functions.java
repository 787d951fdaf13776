package org.gsa4j.autograd;

import org.gsa4j.ops.CrossEntropy;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.ops.gsa.GatedSlotAttention;
import org.gsa4j.ops.RmsNorm;
import org.gsa4j.ops.ShortConv;
import org.gsa4j.ops.attention.CausalAttention;
import org.gsa4j.ops.attention.Rotary;
import org.gsa4j.tensor.MatMul;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

/**
 * The differentiable functions models are written with. Each computes its forward value and
 * records its hand-written backward on the tape. Tensors may be float32 (fast kernels) or float64
 * (simple loops, used by the finite-difference gradient checks).
 */
public final class Functions {
    private Functions() {}

    /** Elements per task of the parallel float32 element-wise loops (fixed: results never depend on threads). */
    private static final int BLOCK = 1 << 14;

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
                else VectorOps.add(dt.f, row, g.f, i * d, dt.f, row, d);
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
        Tensor y;
        if (!a.value.isF64() && !b.value.isF64()) {
            if (b.value.size() != a.value.size()) throw new IllegalArgumentException("size mismatch " + a.value + " + " + b.value);
            y = Tensor.zerosLike(a.value);
            float[] x0 = a.value.f, x1 = b.value.f, out = y.f;
            Parallel.forBlocks(out.length, BLOCK, (i, j) -> VectorOps.add(x0, i, x1, i, out, i, j - i));
        } else {
            y = a.value.copy();
            y.addInPlace(b.value);
        }
        Var out = tape.result(y, a, b);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            a.accumulate(g);
            // accumulate() may keep the tensor it is given: each input must get its own.
            b.accumulate(a.requiresGrad ? g.copy() : g);
        });
        return out;
    }

    /** Element-wise product. */
    public static Var mul(Tape tape, Var a, Var b) {
        Tensor y = Tensor.zerosLike(a.value);
        if (y.isF64()) for (int i = 0; i < y.d.length; i++) y.d[i] = a.value.d[i] * b.value.d[i];
        else Parallel.forBlocks(y.f.length, BLOCK, (i, j) -> VectorOps.mul(a.value.f, i, b.value.f, i, y.f, i, j - i));
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
        else Parallel.forBlocks(r.f.length, BLOCK, (i, j) -> VectorOps.mul(x.f, i, y.f, i, r.f, i, j - i));
        return r;
    }

    public static Var scale(Tape tape, Var x, double c) {
        Tensor y = Tensor.zerosLike(x.value);
        scaleInto(x.value, c, y);
        Var out = tape.result(y, x);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = Tensor.zerosLike(g);
            scaleInto(g, c, dx);
            x.accumulate(dx);
        });
        return out;
    }

    /** out = c·x (out zeros of x's shape and precision). */
    private static void scaleInto(Tensor x, double c, Tensor out) {
        if (out.isF64() || x.isF64()) {
            for (int i = 0; i < out.size(); i++) out.set(i, c * x.get(i));
        } else {
            float cf = (float) c;
            Parallel.forBlocks(out.f.length, BLOCK, (i, j) -> {
                System.arraycopy(x.f, i, out.f, i, j - i);
                VectorOps.scale(cf, out.f, i, j - i);
            });
        }
    }

    /** silu(x) = x·σ(x) (also called swish). */
    public static Var silu(Tape tape, Var x) {
        Tensor v = x.value;
        Tensor y = Tensor.zerosLike(v);
        if (v.isF64()) for (int i = 0; i < y.d.length; i++) y.d[i] = v.d[i] / (1 + Math.exp(-v.d[i]));
        else Parallel.forBlocks(y.f.length, BLOCK, (i, j) -> VectorOps.silu(v.f, i, y.f, i, j - i));
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
                Parallel.forBlocks(dx.f.length, BLOCK, (i, j) -> VectorOps.siluBackward(v.f, i, g.f, i, dx.f, i, j - i));
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
        if (!a.isF64() && !b.isF64()) {
            Parallel.forBlocks(y.f.length, BLOCK, (i, j) -> VectorOps.swiglu(a.f, i, b.f, i, y.f, i, j - i));
        } else {
            for (int i = 0; i < y.size(); i++) {
                double x = a.get(i);
                y.set(i, x / (1 + Math.exp(-x)) * b.get(i));
            }
        }
        Var out = tape.result(y, gate, up);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor da = Tensor.zerosLike(a), db = Tensor.zerosLike(b);
            if (!a.isF64() && !b.isF64() && !g.isF64()) {
                Parallel.forBlocks(y.f.length, BLOCK, (i, j) -> VectorOps.swigluBackward(a.f, b.f, g.f, da.f, db.f, i, j - i));
            } else {
                for (int i = 0; i < y.size(); i++) {
                    double x = a.get(i), sg = 1 / (1 + Math.exp(-x)), gi = g.get(i);
                    db.set(i, gi * x * sg);
                    da.set(i, gi * b.get(i) * sg * (1 + x * (1 - sg)));
                }
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
        Tensor rstd = RmsNorm.forward(x.value, w == null ? null : w.value, eps, d, y);
        Var out = w == null ? tape.result(y, x) : tape.result(y, x, w);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            RmsNorm.backward(x.value, w == null ? null : w.value, rstd, g, d,
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
        if (!y.isF64()) {
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < hkv; h++)
                    for (int j = 0; j < groups; j++)
                        System.arraycopy(x.value.f, (r * hkv + h) * dd, y.f, ((r * hkv + h) * groups + j) * dd, dd);
        } else {
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < hkv; h++)
                    for (int j = 0; j < groups; j++)
                        for (int c = 0; c < dd; c++)
                            y.set(((r * hkv + h) * groups + j) * dd + c, x.value.get((r * hkv + h) * dd + c));
        }
        Var out = tape.result(y, x);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = Tensor.zerosLike(x.value);
            if (!dx.isF64() && !g.isF64()) {
                for (int r = 0; r < rows; r++)
                    for (int h = 0; h < hkv; h++)
                        for (int j = 0; j < groups; j++) {
                            int i = (r * hkv + h) * dd;
                            VectorOps.add(dx.f, i, g.f, ((r * hkv + h) * groups + j) * dd, dx.f, i, dd);
                        }
            } else {
                for (int r = 0; r < rows; r++)
                    for (int h = 0; h < hkv; h++)
                        for (int j = 0; j < groups; j++)
                            for (int c = 0; c < dd; c++) {
                                int i = (r * hkv + h) * dd + c;
                                dx.set(i, dx.get(i) + g.get(((r * hkv + h) * groups + j) * dd + c));
                            }
            }
            x.accumulate(dx);
        });
        return out;
    }

    /** Causal depthwise convolution over time, x [B,T,C], w [C,1,W]; no bias, no activation. */
    public static Var shortConv(Tape tape, Var x, Var w) {
        Tensor y = ShortConv.forward(x.value, w.value, null);
        Var out = tape.result(y, x, w);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            ShortConv.backward(x.value, w.value, g,
                    x.requiresGrad ? x.gradBuffer() : null, w.requiresGrad ? w.gradBuffer() : null);
        });
        return out;
    }

    /** Mean cross-entropy of logits [N, V] against targets (ignoreIndex entries skipped): a scalar. */
    public static Var crossEntropy(Tape tape, Var logits, int[] targets, int ignoreIndex) {
        CrossEntropy.Result r = CrossEntropy.forward(logits.value, targets, ignoreIndex);
        Tensor loss = Tensor.zerosLike(logits.value, 1);
        loss.set(0, r.loss());
        Var out = tape.result(loss, logits);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            CrossEntropy.backward(logits.value, targets, ignoreIndex, r, g.get(0), logits.gradBuffer());
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
        if (!fv.isF64()) {
            float invTau = (float) (1 / tau);
            Parallel.forBlocks(fv.f.length, BLOCK, (i, j) -> VectorOps.slotGate(fv.f, g.f, s.f, i, j - i, invTau));
        } else {
            for (int i = 0; i < fv.size(); i++) {
                double x = fv.get(i);
                double logSig = Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
                double gi = logSig / tau;
                g.set(i, gi);
                s.set(i, 1 - Math.exp(g.get(i)));
            }
        }
        Var gv = tape.result(g, f), sv = tape.result(s, f);
        tape.record(gv.requiresGrad ? gv : sv, () -> {
            Tensor dg = gv.grad(), ds = sv.grad();
            if (dg == null && ds == null) return;
            Tensor df = Tensor.zerosLike(fv);
            if (!fv.isF64() && (dg == null || !dg.isF64()) && (ds == null || !ds.isF64())) {
                float invTau = (float) (1 / tau);
                float[] dgf = dg == null ? null : dg.f, dsf = ds == null ? null : ds.f;
                Parallel.forBlocks(fv.f.length, BLOCK, (i, j) -> VectorOps.slotGateBackward(fv.f, g.f, dgf, dsf, df.f, i, j - i, invTau));
                f.accumulate(df);
                return;
            }
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
        GatedSlotAttention.Result r = GatedSlotAttention.forward(q.value, k.value, v.value, s.value, g.value, scale, null, null);
        Var out = tape.result(r.o(), q, k, v, s, g);
        tape.record(out, () -> {
            Tensor dO = out.grad();
            if (dO == null) return;
            GatedSlotAttention.Grads d = GatedSlotAttention.backward(r, dO, null, null);
            q.accumulate(d.dq());
            k.accumulate(d.dk());
            v.accumulate(d.dv());
            s.accumulate(d.ds());
            g.accumulate(d.dg());
        });
        return out;
    }

    /** {@code logsigmoid(x) / tau}, computed stably; backward {@code dx = dy ⊙ (1 − σ(x)) / tau}. */
    public static Var logSigmoid(Tape tape, Var x, double tau) {
        Tensor xv = x.value;
        Tensor y = Tensor.zerosLike(xv);
        float invTau = (float) (1 / tau);
        if (xv.isF64()) {
            for (int i = 0; i < y.size(); i++) {
                double v = xv.get(i);
                y.set(i, (Math.min(v, 0) - Math.log1p(Math.exp(-Math.abs(v)))) / tau);
            }
        } else {
            Parallel.forBlocks(xv.f.length, BLOCK, (i, j) -> VectorOps.logSigmoid(xv.f, i, y.f, i, j - i, invTau));
        }
        Var out = tape.result(y, x);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = Tensor.zerosLike(xv);
            if (xv.isF64() || g.isF64()) {
                for (int i = 0; i < dx.size(); i++) dx.set(i, g.get(i) / (1 + Math.exp(xv.get(i))) / tau);
            } else {
                Parallel.forBlocks(xv.f.length, BLOCK, (i, j) -> VectorOps.logSigmoidBackward(xv.f, g.f, dx.f, i, j - i, invTau));
            }
            x.accumulate(dx);
        });
        return out;
    }

    /** {@code max(x, min)} element-wise (torch.clamp_min: the gradient passes where x ≥ min). */
    public static Var clampMin(Tape tape, Var x, double min) {
        Tensor xv = x.value;
        Tensor y = Tensor.zerosLike(xv);
        for (int i = 0; i < y.size(); i++) y.set(i, Math.max(xv.get(i), min));
        Var out = tape.result(y, x);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = Tensor.zerosLike(xv);
            for (int i = 0; i < dx.size(); i++) dx.set(i, xv.get(i) >= min ? g.get(i) : 0);
            x.accumulate(dx);
        });
        return out;
    }

    /**
     * HGRN2's forget gate (SPEC §4.3) from the forget logits f [..., D] and a lower bound lb [D]
     * (null: none, as in layer 0): {@code a = lb + (1 − lb) σ(f)}, log-decay {@code g = log a} and
     * key {@code k = 1 − a = (1 − lb)(1 − σ(f))} (computed without cancellation). Returns {g, k}.
     * Backward: {@code ∂g/∂f = (1 − lb) σ (1 − σ) / a}, {@code ∂g/∂lb = (1 − σ) / a},
     * {@code ∂k/∂f = −(1 − lb) σ (1 − σ)}, {@code ∂k/∂lb = −(1 − σ)}.
     */
    public static Var[] hgrnGate(Tape tape, Var f, Var lowerBound) {
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
     * HGRN2's layer-wise lower bound (SPEC §4.3) for one layer from the model's
     * {@code lower_bounds [L, D]}: with {@code p = softmax over the layer axis},
     * {@code lb = cumsum(p)[layer] − p[0] = Σ_{1 ≤ l ≤ layer} p_l}, a [D] row (0 for layer 0).
     * Backward per column: {@code dx_m = dlb · p_m · ([1 ≤ m ≤ layer] − lb)}.
     */
    public static Var hgrnLowerBound(Tape tape, Var lowerBounds, int layer) {
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
     * The gated-linear-attention primitive (SPEC §2.4.1) from a zero state, decay on the key axis
     * ({@code g} shaped like q) or the value axis ({@code g} shaped like v): q, k [B,T,H,Dk],
     * v [B,T,H,Dv] → o [B,T,H,Dv]. The scale must already be folded into q. Chunkwise in float32,
     * the plain recurrence in float64.
     */
    public static Var gatedLinearAttention(Tape tape, GatedLinearAttention.Decay decay, Var q, Var k, Var v, Var g) {
        GatedLinearAttention.Gate gate = switch (decay) {
            case KEY -> GatedLinearAttention.Gate.key(g.value);
            case VALUE -> GatedLinearAttention.Gate.value(g.value);
            case SCALAR -> throw new IllegalArgumentException("a scalar decay takes per-head log γ: use the logGamma overload");
        };
        GatedLinearAttention.Result r = GatedLinearAttention.forward(gate, q.value, k.value, v.value, null);
        Var out = tape.result(r.o(), q, k, v, g);
        tape.record(out, () -> {
            Tensor dO = out.grad();
            if (dO == null) return;
            GatedLinearAttention.Grads d = GatedLinearAttention.backward(r.saved(), dO, null);
            q.accumulate(d.dq());
            k.accumulate(d.dk());
            v.accumulate(d.dv());
            g.accumulate(d.dg());
        });
        return out;
    }

    /** As above with a fixed scalar decay per head (RetNet): {@code logGamma[h] = log γ_h}, no gate gradient. */
    public static Var gatedLinearAttention(Tape tape, double[] logGamma, Var q, Var k, Var v) {
        GatedLinearAttention.Result r = GatedLinearAttention.forward(GatedLinearAttention.Gate.scalar(logGamma.clone()),
                q.value, k.value, v.value, null);
        Var out = tape.result(r.o(), q, k, v);
        tape.record(out, () -> {
            Tensor dO = out.grad();
            if (dO == null) return;
            GatedLinearAttention.Grads d = GatedLinearAttention.backward(r.saved(), dO, null);
            q.accumulate(d.dq());
            k.accumulate(d.dk());
            v.accumulate(d.dv());
        });
        return out;
    }

    /**
     * Rotary position embedding of x [B,T,H,dim] (half-split), token t at position offset + t.
     * The rotation is orthogonal: backward rotates the gradient by −θ.
     */
    public static Var rotary(Tape tape, Var x, Rotary rotary, int offset) {
        Tensor y = x.value.copy();
        rotary.apply(y, offset, false);
        Var out = tape.result(y, x);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            Tensor dx = g.copy();
            rotary.apply(dx, offset, true);
            x.accumulate(dx);
        });
        return out;
    }

    /**
     * Causal softmax attention: q [B,T,HQ,D], k, v [B,T,HKV,D] (query head h uses kv head h / G),
     * logits scaled by {@code scale}, {@code window} the sliding window (0 = full causal) →
     * o [B,T,HQ,D].
     */
    public static Var causalAttention(Tape tape, Var q, Var k, Var v, double scale, int window) {
        CausalAttention.Result r = CausalAttention.forward(q.value, k.value, v.value, scale, window);
        Var out = tape.result(r.o(), q, k, v);
        tape.record(out, () -> {
            Tensor dO = out.grad();
            if (dO == null) return;
            CausalAttention.Grads d = CausalAttention.backward(r, dO);
            q.accumulate(d.dq());
            k.accumulate(d.dk());
            v.accumulate(d.dv());
        });
        return out;
    }
}
