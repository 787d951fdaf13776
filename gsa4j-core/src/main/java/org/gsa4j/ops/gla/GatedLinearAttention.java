package org.gsa4j.ops.gla;

import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Scratch;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

import java.util.Arrays;

/**
 * The one gated-linear-attention primitive (docs/MATH.md#the-gated-linear-attention-primitive) behind GSA, GLA, HGRN2 and RetNet.
 * Per batch element and head, with a state {@code S ∈ R^{Dk×Dv}} and {@code α_t = exp(g_t)}:
 * <pre>
 *   KEY    (decay on the key axis):   S_t = Diag(α_t) S_{t-1} + k_t v_tᵀ     g_t ∈ R^{Dk}
 *   VALUE  (decay on the value axis): S_t = S_{t-1} Diag(α_t) + k_t v_tᵀ     g_t ∈ R^{Dv}
 *   SCALAR (RetNet): KEY with g_t = log γ_h for every channel and step; γ_h fixed, no dg
 *   all:   o_t = S_tᵀ q_t ∈ R^{Dv}                                            S_0 = s0, or 0
 * </pre>
 * Tensors are {@code q, k [B,T,H,Dk]}, {@code v [B,T,H,Dv]}, {@code g [B,T,H,Dk or Dv]},
 * {@code s0 [B,H,Dk,Dv]}. The caller folds the scale into q ({@code q' = scale·q}, {@code dq = scale·dq'})
 * and expands grouped heads. All tensors of a call share one precision: float32 runs the chunkwise
 * algorithm ({@link ChunkHead}, docs/MATH.md#the-gated-linear-attention-primitive), float64 the plain recurrence with back-propagation
 * through time ({@link NaiveGla}), the executable spec the chunk form is tested against.
 */
public final class GatedLinearAttention {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private GatedLinearAttention() {}

    /**
     * The primitive on a tape, from a zero state, decay on the key axis ({@code g} shaped like q) or
     * the value axis ({@code g} shaped like v): q, k [B,T,H,Dk], v [B,T,H,Dv] → o [B,T,H,Dv]. The
     * scale must already be folded into q. Chunkwise in float32, the plain recurrence in float64.
     */
    public static Var apply(Tape tape, Decay decay, Var q, Var k, Var v, Var g) {
        Gate gate = switch (decay) {
            case KEY -> Gate.key(g.value);
            case VALUE -> Gate.value(g.value);
            case SCALAR -> throw new IllegalArgumentException("a scalar decay takes per-head log γ: use the logGamma overload");
        };
        return apply(tape, gate, q, k, v, g);
    }

    /** As above with a fixed scalar decay per head (RetNet): {@code logGamma[h] = log γ_h}, no gate gradient. */
    public static Var apply(Tape tape, double[] logGamma, Var q, Var k, Var v) {
        return apply(tape, Gate.scalar(logGamma.clone()), q, k, v, null);
    }

    /** g: the gate's variable, null for a fixed decay. */
    private static Var apply(Tape tape, Gate gate, Var q, Var k, Var v, Var g) {
        Result r = forward(gate, q.value, k.value, v.value, null);
        Var out = tape.result(r.o(), q, k, v, g);
        tape.record(out, () -> {
            Tensor dO = out.grad();
            if (dO == null) return;
            Grads d = backward(r.saved(), dO, null);
            q.accumulate(d.dq());
            k.accumulate(d.dk());
            v.accumulate(d.dv());
            if (g != null) g.accumulate(d.dg());
        });
        return out;
    }

    public enum Decay { KEY, VALUE, SCALAR }

    /**
     * Which axis decays and by how much: {@code g} (log-decay ≤ 0, shaped like q for KEY and like v
     * for VALUE; for {@link #step} without the T axis) or, for SCALAR, one log-decay per head.
     */
    public record Gate(Decay decay, Tensor g, double[] logGamma) {
        public static Gate key(Tensor g) {
            return new Gate(Decay.KEY, g, null);
        }

        public static Gate value(Tensor g) {
            return new Gate(Decay.VALUE, g, null);
        }

        public static Gate scalar(double[] logGamma) {
            return new Gate(Decay.SCALAR, null, logGamma);
        }
    }

    /** o [B,T,H,Dv]; sT [B,H,Dk,Dv] the final state; saved what {@link #backward} needs. */
    public record Result(Tensor o, Tensor sT, Saved saved) {}

    /** Gradients shaped like the inputs; dg is null for SCALAR; ds0 is always returned. */
    public record Grads(Tensor dq, Tensor dk, Tensor dv, Tensor dg, Tensor ds0) {}

    /**
     * What the backward needs: the raw inputs (q unscaled, with its scale) and, for VALUE decay in
     * float32, {@code O°} (the output without its j = t term, docs/MATH.md#chunk-form), needed for a
     * cancellation-free dg. The cumulative decays and the chunk states are recomputed
     * (docs/MATH.md#chunk-backward).
     */
    public static final class Saved {
        final Gate gate;
        final Tensor q, k, v, s0;
        final float qScale;
        final Tensor oStrict;

        Saved(Gate gate, Tensor q, float qScale, Tensor k, Tensor v, Tensor s0, Tensor oStrict) {
            this.gate = gate;
            this.q = q;
            this.qScale = qScale;
            this.k = k;
            this.v = v;
            this.s0 = s0;
            this.oStrict = oStrict;
        }
    }

    /** The primitive on q as given (the scale already folded in): {@link #forward(Gate, Tensor, float, Tensor, Tensor, Tensor)} with qScale 1. */
    public static Result forward(Gate gate, Tensor q, Tensor k, Tensor v, Tensor s0) {
        return forward(gate, q, 1f, k, v, s0);
    }

    /**
     * The primitive on {@code qScale·q} without a scaled copy of q: every chunk scales the rows of q
     * it loads (one rounding per element, the bits of a scaled copy). The backward's dq is the
     * gradient with respect to {@code qScale·q}.
     *
     * <p>float32, with fewer (batch, head) pairs than the threads can share ({@link Schedule}):
     * three parallel jobs (see {@link ChunkHead}): every chunk's contribution to the state and its
     * chunk-internal outputs (B·H·chunks tasks), the state recurrence over the chunks (B·H times
     * blocks of state rows), every chunk's outputs from the state entering it (B·H·chunks tasks).
     * The output tensors are allocated by the first tasks of the first job: Java zeroes a new array
     * on the allocating thread, at about the memory speed of one core (megabytes at long T), which
     * then overlaps the other threads' chunks instead of preceding them on the caller alone.
     */
    public static Result forward(Gate gate, Tensor q, float qScale, Tensor k, Tensor v, Tensor s0) {
        Dims dims = Dims.of(gate, q, k, v, s0);
        if (q.isF64()) return NaiveGla.forward(gate, qScale == 1f ? q : scaledF64(q, qScale), k, v, s0, dims);
        int B = dims.B(), T = dims.T(), H = dims.H(), dk = dims.dk(), dv = dims.dv(), dd = dims.dd();
        int n = chunks(T), size = dk * dv, local = ChunkHead.localSize(dims, gate.decay());
        boolean valueDecay = gate.decay() == Decay.VALUE;
        Tensor sT = s0 == null ? Tensor.zeros(B, H, dk, dv) : s0.copy();
        // o, then (VALUE) O°
        Tensor[] out = new Tensor[valueDecay ? 2 : 1];
        Schedule plan = Schedule.of(B * H, T, dk, Parallel.threads());
        if (plan.wholeHeads()) {
            for (int i = 0; i < out.length; i++) out[i] = Tensor.zeros(B, T, H, dv);
            Parallel.forTasks(B * H, bh -> {
                ChunkHead head = ChunkHead.forTask(dims, gate, qScale, bh / H, bh % H, q.f, k.f, v.f);
                float[] u = new float[size], decay = new float[dd], chunk = new float[local];
                for (int c = 0; c < n; c++) {
                    head.forwardLocal(c, u, 0, decay, 0, chunk, 0);
                    head.forwardInter(c, sT.f, bh * size, chunk, 0, out[0].f, valueDecay ? out[1].f : null);
                    ChunkHead.advance(gate.decay(), dk, dv, 1, u, 0, decay, 0, 0, dk, sT.f, bh * size);
                }
            });
        } else {
            Workspace ws = WORKSPACE.get();
            float[] states = ws.floats(0, B * H * n * size);  // each chunk's U, then the state entering it
            float[] decays = ws.floats(1, B * H * n * dd);
            float[] locals = ws.floats(2, B * H * n * local);
            int allocs = out.length;
            Parallel.forTasks(allocs + B * H * n, task -> {
                if (task < allocs) {
                    out[task] = Tensor.zeros(B, T, H, dv);
                    return;
                }
                int t = task - allocs, bh = t / n, c = t % n;
                ChunkHead.forTask(dims, gate, qScale, bh / H, bh % H, q.f, k.f, v.f)
                        .forwardLocal(c, states, t * size, decays, t * dd, locals, t * local);
            });
            int blocks = plan.rowBlocks();
            Parallel.forTasks(B * H * blocks, task -> {
                int bh = task / blocks, rb = task % blocks;
                ChunkHead.advance(gate.decay(), dk, dv, n, states, bh * n * size, decays, bh * n * dd,
                        rb * dk / blocks, (rb + 1) * dk / blocks, sT.f, bh * size);
            });
            Parallel.forTasks(B * H * n, task -> {
                int bh = task / n, c = task % n;
                ChunkHead.forTask(dims, gate, qScale, bh / H, bh % H, q.f, k.f, v.f)
                        .forwardInter(c, states, task * size, locals, task * local, out[0].f, valueDecay ? out[1].f : null);
            });
        }
        Tensor oStrict = valueDecay ? out[1] : null;
        return new Result(out[0], sT, new Saved(gate, q, qScale, k, v, s0, oStrict));
    }

    /** qScale·q in float64 (the recurrence's input; only the chunk form scales while loading). */
    private static Tensor scaledF64(Tensor q, float qScale) {
        Tensor scaled = q.copy();
        for (int i = 0; i < scaled.d.length; i++) scaled.d[i] *= qScale;
        return scaled;
    }

    /**
     * dO [B,T,H,Dv]; dST [B,H,Dk,Dv] or null (= 0). float32: three parallel jobs, as
     * {@link #forward}: every chunk's contributions to the state and state-gradient recurrences,
     * both recurrences, every chunk's gradients (or, with whole heads, the three in order per head).
     * dq is the gradient with respect to {@code qScale·q}. The gradient tensors are allocated by the
     * first tasks of the first job, as the forward's outputs.
     */
    public static Grads backward(Saved saved, Tensor dO, Tensor dST) {
        Dims dims = Dims.of(saved.gate, saved.q, saved.k, saved.v, saved.s0);
        requireSamePrecision(saved.q, dO, dST);
        if (saved.q.isF64()) return NaiveGla.backward(saved, dO, dST, dims);
        int B = dims.B(), T = dims.T(), H = dims.H(), dk = dims.dk(), dv = dims.dv(), dd = dims.dd();
        int n = chunks(T), size = dk * dv;
        Gate gate = saved.gate;
        float qScale = saved.qScale;
        float[] qf = saved.q.f, kf = saved.k.f, vf = saved.v.f;
        // dq, dk, dv, then dg (not for SCALAR)
        int[][] shapes = gate.decay() == Decay.SCALAR
                ? new int[][] {{B, T, H, dk}, {B, T, H, dk}, {B, T, H, dv}}
                : new int[][] {{B, T, H, dk}, {B, T, H, dk}, {B, T, H, dv}, gate.g().shape};
        Tensor[] grad = new Tensor[shapes.length];
        Tensor ds0 = dST == null ? Tensor.zeros(B, H, dk, dv) : dST.copy();
        Workspace ws = WORKSPACE.get();
        float[] states = ws.floats(0, B * H * n * size);     // each chunk's U, then the state entering it
        float[] stateGrads = ws.floats(1, B * H * n * size); // each chunk's W, then dS leaving it
        float[] decays = ws.floats(2, B * H * n * dd);
        float[] s = new float[B * H * size];
        if (saved.s0 != null) System.arraycopy(saved.s0.f, 0, s, 0, s.length);
        IntConsumer steps = task -> ChunkHead.forTask(dims, gate, qScale, task / n / H, task / n % H, qf, kf, vf)
                .backwardSteps(task % n, dO.f, states, stateGrads, task * size, decays, task * dd);
        RowScan scan = (bh, i0, i1) -> {
            ChunkHead.advance(gate.decay(), dk, dv, n, states, bh * n * size, decays, bh * n * dd, i0, i1, s, bh * size);
            ChunkHead.retreat(gate.decay(), dk, dv, n, stateGrads, bh * n * size, decays, bh * n * dd, i0, i1, ds0.f, bh * size);
        };
        IntConsumer grads = task -> ChunkHead.forTask(dims, gate, qScale, task / n / H, task / n % H, qf, kf, vf)
                .backwardChunk(task % n, states, task * size, stateGrads, task * size,
                        saved.oStrict == null ? null : saved.oStrict.f, dO.f, grad[0].f, grad[1].f, grad[2].f,
                        grad.length > 3 ? grad[3].f : null);
        Schedule plan = Schedule.of(B * H, T, dk, Parallel.threads());
        if (plan.wholeHeads()) {
            for (int i = 0; i < grad.length; i++) grad[i] = Tensor.zeros(shapes[i]);
            Parallel.forTasks(B * H, bh -> {
                for (int c = 0; c < n; c++) steps.accept(bh * n + c);
                scan.run(bh, 0, dk);
                for (int c = 0; c < n; c++) grads.accept(bh * n + c);
            });
        } else {
            int blocks = plan.rowBlocks(), allocs = grad.length;
            Parallel.forTasks(allocs + B * H * n, task -> {
                if (task < allocs) grad[task] = Tensor.zeros(shapes[task]);
                else steps.accept(task - allocs);
            });
            Parallel.forTasks(B * H * blocks, task -> scan.run(task / blocks, task % blocks * dk / blocks, (task % blocks + 1) * dk / blocks));
            Parallel.forTasks(B * H * n, grads);
        }
        return new Grads(grad[0], grad[1], grad[2], grad.length > 3 ? grad[3] : null, ds0);
    }

    /** Rows [i0, i1) of head bh's state recurrences. */
    @FunctionalInterface
    private interface RowScan {
        void run(int bh, int i0, int i1);
    }

    /** Test hook: null = choose by the thread count; TRUE/FALSE force whole heads per task or chunk tasks. */
    static volatile Boolean forceWholeHeads;

    /** Tasks per thread that the operator's jobs are cut into where the shape allows (as GEMM's). */
    static final int TASKS_PER_THREAD = 4;

    /**
     * How a float32 call over {@code heads} = B·H (batch, head) pairs is cut on {@code threads}
     * threads; the cut depends on the shape and the thread count only. Whole heads (one job of B·H
     * tasks, each head's chunks in order on one thread: its state stays in the cache and no chunk's
     * state is materialised) when the heads alone give every thread {@link #TASKS_PER_THREAD}
     * tasks, or there is one thread; else the chunk-parallel jobs: B·H·⌈T/64⌉ chunk tasks each
     * (the first job also one task per output tensor, which allocates it) and a scan of
     * B·H·{@code rowBlocks} tasks of state rows. The bits are the same either way.
     */
    record Schedule(boolean wholeHeads, int chunkTasks, int rowBlocks, int scanTasks) {
        static Schedule of(int heads, int T, int dk, int threads) {
            Boolean force = forceWholeHeads;
            boolean whole = force != null ? force : threads == 1 || heads >= TASKS_PER_THREAD * threads;
            int rowBlocks = Math.min(dk, Math.max(1, (TASKS_PER_THREAD * threads + heads - 1) / heads));
            return new Schedule(whole, heads * chunks(T), rowBlocks, heads * rowBlocks);
        }
    }

    /**
     * The calling thread's buffers for the chunk states of one call (every element is written
     * before it is read): megabytes at long T, which fresh arrays would zero and collect each call.
     * A call never starts another one on its thread, so one set per thread suffices.
     */
    private static final class Workspace {
        private final float[][] arrays = new float[3][0];

        float[] floats(int slot, int n) {
            if (arrays[slot].length < n) arrays[slot] = new float[n];
            return arrays[slot];
        }
    }

    private static final ThreadLocal<Workspace> WORKSPACE = ThreadLocal.withInitial(Workspace::new);

    private static int chunks(int T) {
        return (T + ChunkHead.C - 1) / ChunkHead.C;
    }

    /**
     * One recurrent step for a batch of tokens, float32, allocation-free: q, k [B,H,Dk], v [B,H,Dv],
     * gate g [B,H,Dk or Dv] (or per-head log γ); the state s [B,H,Dk,Dv] is updated in place and
     * o [B,H,Dv] written.
     */
    public static void step(Gate gate, Tensor q, Tensor k, Tensor v, Tensor s, Tensor o) {
        step(gate, q, k, v, s, o, 0, q.dim(0) * q.dim(1));
    }

    /** {@link #step} for the (batch·head) rows [from, to) only: disjoint ranges may run on different threads. */
    public static void step(Gate gate, Tensor q, Tensor k, Tensor v, Tensor s, Tensor o, int from, int to) {
        for (int bh = from; bh < to; bh++) step(gate, q, k, v, bh, s, bh, o);
    }

    /**
     * One (token·head) row of the inputs, {@code row}, against one head of the state,
     * {@code stateRow}: q,k [·,Dk], v and o [·,Dv] and the gate's g are indexed by row (a SCALAR
     * gate by {@code row mod H}), s [·,Dk,Dv] by stateRow (rows of different sequences may step
     * different states).
     */
    public static void step(Gate gate, Tensor q, Tensor k, Tensor v, int row, Tensor s, int stateRow, Tensor o) {
        int dk = q.dim(-1), dv = v.dim(-1);
        int decayDim = gate.decay() == Decay.VALUE ? dv : dk;
        float[] alpha = Scratch.floats(0, decayDim);
        decayFactors(gate, row, decayDim, alpha);
        stepHead(gate.decay(), dk, dv, q.f, row * dk, k.f, row * dk, v.f, row * dv, alpha, s.f, stateRow * dk * dv, o.f, row * dv);
    }

    /** alpha = exp(g) of head bh for one step. */
    private static void decayFactors(Gate gate, int bh, int decayDim, float[] alpha) {
        if (gate.decay() == Decay.SCALAR) {
            int H = gate.logGamma().length;
            Arrays.fill(alpha, 0, decayDim, (float) Math.exp(gate.logGamma()[bh % H]));
        } else {
            System.arraycopy(gate.g().f, bh * decayDim, alpha, 0, decayDim);
            VectorOps.expInPlace(alpha, 0, decayDim);
        }
    }

    /**
     * One step of one head, on flat arrays: S ← decayed S + k vᵀ, then o = Sᵀ q; one pass over each
     * state row (decay, write and read fused).
     */
    public static void stepHead(Decay decay, int dk, int dv, float[] q, int qOff, float[] k, int kOff, float[] v, int vOff,
                         float[] alpha, float[] s, int sOff, float[] o, int oOff) {
        Arrays.fill(o, oOff, oOff + dv, 0f);
        boolean valueDecay = decay == Decay.VALUE;
        int upper = F.loopBound(dv);
        for (int i = 0; i < dk; i++) {
            int row = sOff + i * dv;
            float ki = k[kOff + i], qi = q[qOff + i];
            FloatVector rowDecay = FloatVector.broadcast(F, valueDecay ? 0f : alpha[i]);
            int j = 0;
            for (; j < upper; j += F.length()) {
                FloatVector decayJ = valueDecay ? FloatVector.fromArray(F, alpha, j) : rowDecay;  // S Diag(α) or Diag(α) S
                FloatVector sij = FloatVector.fromArray(F, s, row + j).mul(decayJ)
                        .add(FloatVector.fromArray(F, v, vOff + j).mul(ki));
                sij.intoArray(s, row + j);
                sij.fma(FloatVector.broadcast(F, qi), FloatVector.fromArray(F, o, oOff + j)).intoArray(o, oOff + j);
            }
            for (; j < dv; j++) {
                float sij = s[row + j] * (valueDecay ? alpha[j] : alpha[i]) + ki * v[vOff + j];
                s[row + j] = sij;
                o[oOff + j] += qi * sij;
            }
        }
    }

    /** Shapes of one call, checked once. dd is the length of the decayed axis. */
    record Dims(int B, int T, int H, int dk, int dv, int dd) {
        static Dims of(Gate gate, Tensor q, Tensor k, Tensor v, Tensor s0) {
            int B = q.dim(0), T = q.dim(1), H = q.dim(2), dk = q.dim(3), dv = v.dim(3);
            requireSamePrecision(q, k, v, gate.g(), s0);
            requireShape(k, "k", B, T, H, dk);
            requireShape(v, "v", B, T, H, dv);
            if (s0 != null) requireShape(s0, "s0", B, H, dk, dv);
            int dd = gate.decay() == Decay.VALUE ? dv : dk;
            if (gate.decay() == Decay.SCALAR) {
                if (gate.logGamma().length != H) throw new IllegalArgumentException("logGamma needs " + H + " heads");
            } else {
                requireShape(gate.g(), "g", B, T, H, dd);
            }
            return new Dims(B, T, H, dk, dv, dd);
        }
    }

    /** All non-null tensors of a call must have q's precision (float32: chunk algorithm, float64: recurrence). */
    public static void requireSamePrecision(Tensor q, Tensor... others) {
        for (Tensor t : others) {
            if (t != null && t.isF64() != q.isF64()) {
                throw new IllegalArgumentException("mixed precision: q is " + q + " but another input is " + t);
            }
        }
    }

    static void requireShape(Tensor t, String name, int... shape) {
        if (!Arrays.equals(t.shape, shape)) {
            throw new IllegalArgumentException(name + " has shape " + Arrays.toString(t.shape)
                    + ", expected " + Arrays.toString(shape));
        }
    }
}
