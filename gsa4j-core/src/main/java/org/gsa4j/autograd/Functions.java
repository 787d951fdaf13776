package org.gsa4j.autograd;

import org.gsa4j.tensor.MatMul;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

/**
 * The general differentiable tensor functions (products, element-wise maps, shape changes, the
 * embedding lookup). Each computes its forward value and records its hand-written backward on the
 * tape. Tensors may be float32 (fast kernels) or float64 (simple loops, used by the
 * finite-difference gradient checks). An operator's own differentiable function sits beside the
 * operator ({@code ops}: e.g. {@code RmsNorm.apply}, {@code GatedSlotAttention.apply},
 * {@code SlotGate.apply}); this tier depends only on {@code tensor}.
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
}
