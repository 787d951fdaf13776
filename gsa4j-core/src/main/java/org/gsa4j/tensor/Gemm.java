package org.gsa4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.util.ArrayList;
import java.util.List;

/**
 * BLAS-style general matrix products on row-major arrays:
 * {@code C[m×n] = alpha · op(A) · op(B) + beta · C}, where op(X) is X or Xᵀ.
 * A is m×k (or k×m when transposed) with row stride lda; B is k×n (or n×k) with row stride ldb.
 *
 * <p>The single-threaded entry points are for small blocks inside other kernels (the chunk
 * algorithm); the parallel ones split C over the cores.
 *
 * <p>{@link #sgemm} is a BLIS-style blocked GEMM on the Vector API: op(B) is packed into
 * {@code KC × NR} column strips, op(A) into {@code MR × KC} row strips (zero-padded at the edges, so
 * every transpose combination and every size runs the same micro-kernel), and an
 * {@code MR × NR} register-blocked micro-kernel (broadcast of A times two vectors of B,
 * {@code 2·MR} accumulators) does the arithmetic. Edge tiles are written back with masked stores.
 * Operands whose rows run along k (A untransposed, B transposed) are packed eight rows at a time
 * through an 8×8 in-register transpose. Pack buffers are thread-local and grow on demand, so
 * small calls allocate nothing.
 *
 * <p>The accumulation order of an element does not depend on MR, NR or the vector width either,
 * so (fma being exact-rounded everywhere) results should not depend on the CPU's vector size; only
 * {@code KC} changes them.
 *
 * <p>Numerics: each element of C accumulates its k products in plain order within a block of
 * {@code KC} (one fused multiply-add per product), then the blocks are added into C in order
 * ({@code C = alpha·acc₀ + beta·C}, then {@code C += alpha·accᵢ}). The order depends only on k, never
 * on the position of the element or on how C is split over threads, so {@link #sgemmParallel} is
 * bit-identical to {@link #sgemm} and to itself run to run.
 *
 * <p>Products below {@code SMALL_FMAS} multiply-adds (with k ≤ KC) skip packing A: four rows of A
 * are broadcast straight from the source against one vector of B read in place (op(B) = Bᵀ is first
 * transposed into a thread-local buffer). This path performs the same operations in the same order
 * as the blocked one, so which path runs does not change a single bit.
 *
 * <p>A·Bᵀ with at most {@code DOT_M} = 4 rows of A (matrix-vector products when decoding) runs as
 * dot products of contiguous rows, without packing, four rows of B at a time (about 5× the blocked
 * path for one row). Its rounding differs from the blocked path (lane-wise partial sums, added in
 * lane order), but it too is fixed by the shape, serial or parallel, run to run.
 *
 * <p>beta == 0 never reads C (C may hold NaN or garbage). As in BLAS, alpha == 0 or k == 0 only
 * scales C by beta (A and B are not read).
 *
 * <p>Tuning knobs (system properties, read once): {@code gsa4j.gemm.kc} (default 512; also fixes
 * the accumulation blocking, so results depend on it), {@code gsa4j.gemm.mc} (128),
 * {@code gsa4j.gemm.nc} (1024), {@code gsa4j.gemm.small} (32768). Defaults were measured on a
 * Zen 4 core (32 KiB L1d, 1 MiB L2): about 95 GFLOP/s per thread at model shapes against a
 * 114 GFLOP/s FMA peak; the micro-kernel alone with L1-resident panels runs at peak.
 */
public final class Gemm {
    private Gemm() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Micro-tile rows (broadcast elements of A). */
    static final int MR = 8;
    /** Micro-tile columns (two vectors of B). */
    static final int NR = 2 * L;
    /** Depth of a packed block (bounds the accumulation order). */
    static final int KC = Math.max(1, Integer.getInteger("gsa4j.gemm.kc", 512));
    /** Rows of A packed at a time (A block ≈ MC·KC floats stays in L2). */
    static final int MC = Math.max(MR, Integer.getInteger("gsa4j.gemm.mc", 128) / MR * MR);
    /** Columns of B packed at a time. */
    static final int NC = Math.max(NR, Integer.getInteger("gsa4j.gemm.nc", 1024) / NR * NR);

    /** Eight float lanes: one packed column of A (MR = 8). */
    private static final VectorSpecies<Float> S8 = FloatVector.SPECIES_256;

    static final boolean VEC_TRANSPOSE = !Boolean.getBoolean("gsa4j.gemm.scalarTranspose");
    private static final FloatVector LO = FloatVector.fromArray(S8, new float[] {0, 8, 1, 9, 2, 10, 3, 11}, 0);
    private static final FloatVector HI = FloatVector.fromArray(S8, new float[] {4, 12, 5, 13, 6, 14, 7, 15}, 0);

    private static final class Buffers {
        float[] a = new float[0];
        float[] b = new float[0];
        float[] s = new float[0];
        boolean[] stripDone = new boolean[0];
        /** op(B) of the products of the current job (one each). */
        PackedB[] packedB = new PackedB[0];
        final float[] tile = new float[MR * NR];
        final float[] lanes = new float[L];

        PackedB packed(int i) {
            if (packedB.length <= i) {
                packedB = java.util.Arrays.copyOf(packedB, i + 1);
                for (int j = 0; j <= i; j++) if (packedB[j] == null) packedB[j] = new PackedB();
            }
            return packedB[i];
        }
    }

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                             float beta, float[] c, int cOff, int ldc) {
        if (m <= 0 || n <= 0) return;
        if (k <= 0 || alpha == 0f) {
            scaleC(m, n, beta, c, cOff, ldc);
            return;
        }
        if (dotPath(transA, transB, m, k)) {
            dotRows(m, 0, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        if (k <= KC && (long) m * n * k <= SMALL_FMAS) {
            small(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        blocked(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, false);
    }

    /**
     * The blocked algorithm, as one set of independent tasks: C is cut into tiles (row blocks of
     * {@link Plan#mc} rows × groups of NR-column strips, inside column blocks of NC), and a tile's
     * task walks the k blocks in order — packs its rows of op(A) for the block, then runs the
     * micro-kernel over its strips — so every element of C gets its k blocks in the same order as
     * in any other cut. op(B) is packed once per (k block, strip), by the first task that needs
     * the strip, into a buffer of the calling thread that all tasks share ({@link PackedB}); a
     * task never waits for a whole block to be packed, only (rarely) for a strip that another
     * task is packing at that moment. A parallel product is therefore one job with one join,
     * whatever its k and n.
     */
    private static void blocked(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                                float beta, float[] c, int cOff, int ldc, boolean parallel) {
        Plan plan = Plan.of(m, n, k, parallel ? TASKS_PER_THREAD * Parallel.threads() : 1);
        // A thread runs only its own job's chunks while it waits (the team does no work stealing),
        // so this call cannot be re-entered on this thread while the shared buffer is in use.
        PackedB packed = BUFFERS.get().packed(0).reset(plan);
        java.util.function.IntConsumer task = t -> tile(plan, t, transA, a, aOff, lda, transB, b, bOff, ldb, packed,
                alpha, beta, c, cOff, ldc);
        if (plan.tasks() == 1 || !parallel || !Parallel.tryTeam(task, plan.tasks())) {
            for (int t = 0; t < plan.tasks(); t++) task.accept(t);
        }
    }

    /** Tasks per thread that a parallel product is cut into when C has enough micro-tiles. */
    static final int TASKS_PER_THREAD = 4;
    /** Rows per task that the cut goes down to before it splits columns as well. */
    static final int MIN_MC = 4 * MR;

    /**
     * How a product is cut into tasks: column blocks of NC (strips of NR columns each), row blocks
     * of {@code mc} rows (a multiple of MR), and {@code groups} groups of the strips of a column
     * block. Task t is row block {@code t % rowBlocks} of group {@code (t / rowBlocks) % groups} of
     * column block {@code t / (rowBlocks·groups)}: the tasks claimed at the same time share their
     * columns, hence their packed strips of op(B). The cut aims at {@code wanted} tasks: row
     * blocks shrink from MC to {@link #MIN_MC} rows first (each packs its own rows of op(A)),
     * then column groups are added, then row blocks shrink further down to MR; it stops short
     * only when C has fewer micro-tiles than {@code wanted}.
     */
    record Plan(int m, int n, int k, int mc, int rowBlocks, int colBlocks, int groups, int kBlocks, int kcMax, int strips) {
        static Plan of(int m, int n, int k, int wanted) {
            int colBlocks = (n + NC - 1) / NC;
            int stripsPerBlock = (Math.min(n, NC) + NR - 1) / NR;
            int perBlock = Math.max(1, (wanted + colBlocks - 1) / colBlocks);
            int mc = Math.min(MC, roundUp(m, MR));
            int rowBlocks = (m + mc - 1) / mc;
            if (rowBlocks < perBlock) {
                mc = Math.min(mc, Math.max(MIN_MC, roundUp((m + perBlock - 1) / perBlock, MR)));
                rowBlocks = (m + mc - 1) / mc;
            }
            int groups = Math.min(stripsPerBlock, (perBlock + rowBlocks - 1) / rowBlocks);
            if (rowBlocks * groups < perBlock) { // few rows and columns: rows of tasks down to MR
                int rowsWanted = (perBlock + groups - 1) / groups;
                mc = Math.max(MR, m / rowsWanted / MR * MR);
                rowBlocks = (m + mc - 1) / mc;
            }
            int kBlocks = (k + KC - 1) / KC;
            return new Plan(m, n, k, mc, rowBlocks, colBlocks, groups, kBlocks, Math.min(k, KC), (n + NR - 1) / NR);
        }

        int tasks() {
            return colBlocks * groups * rowBlocks;
        }
    }

    /** Tasks {@link Gemm#sgemmParallel} cuts an m×n×k product into on {@code threads} threads (1 when it runs on the caller). */
    public static int tasksFor(boolean transA, boolean transB, int m, int n, int k, int threads) {
        if (threads <= 1 || m <= 0 || n <= 0 || k <= 0 || (long) m * n * k < PARALLEL_MIN_FMAS) return 1;
        if (dotPath(transA, transB, m, k)) return Math.min((n + 3) / 4, TASKS_PER_THREAD * threads);
        return Plan.of(m, n, k, TASKS_PER_THREAD * threads).tasks();
    }

    /**
     * op(B) packed strip by strip, k block by k block ({@code [kBlock][strip][p][NR]}, each strip
     * {@code kcMax·NR} floats), with a claim word per (k block, strip): strips are packed on demand
     * by whichever task needs them first. The claim words carry the call's epoch, so they never
     * need clearing: below {@code 2·epoch − 1} = not packed in this call, {@code 2·epoch − 1} =
     * being packed, {@code 2·epoch} = ready.
     */
    static final class PackedB {
        float[] data = new float[0];
        java.util.concurrent.atomic.AtomicLongArray state = new java.util.concurrent.atomic.AtomicLongArray(0);
        long epoch;
        int strips, kcMax;

        PackedB reset(Plan p) {
            int units = p.kBlocks() * p.strips();
            long floats = (long) units * p.kcMax() * NR;
            if (floats > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("gemm: op(B) too large to pack: " + p);
            if (data.length < floats) data = new float[(int) floats];
            if (state.length() < units) {
                state = new java.util.concurrent.atomic.AtomicLongArray(units);
                epoch = 0;
            }
            epoch++;
            strips = p.strips();
            kcMax = p.kcMax();
            return this;
        }

        int offset(int kBlock, int strip) {
            return (kBlock * strips + strip) * kcMax * NR;
        }

        /**
         * Makes strip {@code strip} of k block {@code kBlock} ready: packs it when no task has
         * claimed it yet. Returns false, doing nothing, when another task is packing it and
         * {@code wait} is false.
         */
        boolean ensure(int kBlock, int strip, boolean wait, boolean transB, float[] b, int bOff, int ldb, int n, int k) {
            int unit = kBlock * strips + strip;
            long packing = 2 * epoch - 1, ready = 2 * epoch;
            for (long v = state.get(unit); v != ready; v = state.get(unit)) {
                if (v < packing && state.compareAndSet(unit, v, packing)) {
                    int pc = kBlock * KC, col = strip * NR;
                    try {
                        packB(transB, b, bOff, ldb, pc, Math.min(KC, k - pc), col, Math.min(NR, n - col), data, offset(kBlock, strip));
                    } catch (Throwable e) {
                        state.set(unit, 0); // unclaimed again: a task waiting for it packs it (and fails) itself
                        throw e;
                    }
                    state.set(unit, ready);
                    return true;
                }
                if (!wait) return false;
                Thread.onSpinWait();
            }
            return true;
        }
    }

    /**
     * Task t of a plan: its tile of C, k block by k block. Strips are visited starting at a
     * different one for each of the tasks that run at once (they share their columns), so that
     * those tasks pack different strips; a strip that another task is still packing is skipped
     * and taken on a later pass. The order of strips changes no result (each micro-tile is one
     * kernel call per k block).
     */
    private static void tile(Plan p, int t, boolean transA, float[] a, int aOff, int lda, boolean transB, float[] b,
                             int bOff, int ldb, PackedB packed, float alpha, float beta, float[] c, int cOff, int ldc) {
        int ib = t % p.rowBlocks(), g = (t / p.rowBlocks()) % p.groups(), jb = t / (p.rowBlocks() * p.groups());
        int jc = jb * NC, nc = Math.min(NC, p.n() - jc);
        int blockStrips = (nc + NR - 1) / NR;
        int s0 = g * blockStrips / p.groups(), s1 = (g + 1) * blockStrips / p.groups(), len = s1 - s0;
        int ic = ib * p.mc(), mc = Math.min(p.mc(), p.m() - ic);
        int firstStrip = jc / NR + s0;
        int together = Math.max(1, Math.min(p.rowBlocks(), Parallel.threads())); // tasks of these columns at once
        int rotate = ib % together * len / together;
        Buffers buf = BUFFERS.get();
        int need = roundUp(mc, MR) * p.kcMax();
        if (buf.a.length < need) buf.a = new float[Math.max(need, roundUp(MC, MR) * p.kcMax())];
        if (buf.stripDone.length < len) buf.stripDone = new boolean[len];
        float[] ap = buf.a, tile = buf.tile;
        boolean[] done = buf.stripDone;
        for (int kb = 0; kb < p.kBlocks(); kb++) {
            int pc = kb * KC, kc = Math.min(KC, p.k() - pc);
            float betaEff = kb == 0 ? beta : 1f;
            boolean overwrite = kb == 0 && beta == 0f;
            packA(transA, a, aOff, lda, ic, mc, pc, kc, ap);
            java.util.Arrays.fill(done, 0, len, false);
            for (int left = len, pass = 0; left > 0; pass++) {
                for (int i = 0; i < len; i++) {
                    int s = (i + rotate) % len;
                    if (done[s] || !packed.ensure(kb, firstStrip + s, pass > 0, transB, b, bOff, ldb, p.n(), p.k())) continue;
                    int jr = (s0 + s) * NR;
                    int nr = Math.min(NR, nc - jr);
                    int bBase = packed.offset(kb, firstStrip + s);
                    for (int ir = 0; ir < mc; ir += MR) {
                        kernel(kc, ap, ir * kc, packed.data, bBase, tile);
                        storeTile(tile, c, cOff + (ic + ir) * ldc + jc + jr, ldc, Math.min(MR, mc - ir), nr, alpha, betaEff, overwrite);
                    }
                    done[s] = true;
                    left--;
                }
            }
        }
    }

    /** Below this many multiply-adds (and k ≤ KC), sgemm skips packing A and runs {@link #small}. */
    static final long SMALL_FMAS = Long.getLong("gsa4j.gemm.small", 1L << 15);

    /**
     * Unpacked path for small products: 4 rows × one vector of columns per step, A broadcast straight
     * from its source, B read in place (op(B) = Bᵀ is first transposed into a thread-local buffer).
     * Same arithmetic as the blocked path for k ≤ KC (one fma chain per element, then
     * alpha·acc + beta·C).
     */
    private static void small(boolean transA, boolean transB, int m, int n, int k, float alpha,
                              float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                              float beta, float[] c, int cOff, int ldc) {
        float[] bb = b;
        int bo = bOff, lb = ldb;
        if (transB) {
            Buffers buf = BUFFERS.get();
            if (buf.s.length < k * n) buf.s = new float[Math.max(k * n, 1024)];
            bb = buf.s;
            int j = 0;
            for (; j + 8 <= n; j += 8) transpose8(b, bOff + j * ldb, ldb, bb, j, n, k);
            for (; j < n; j++) {
                int src = bOff + j * ldb;
                for (int p = 0, d = j; p < k; p++, d += n) bb[d] = b[src + p];
            }
            bo = 0;
            lb = n;
        }
        int si = transA ? 1 : lda, sp = transA ? lda : 1;
        boolean overwrite = beta == 0f;
        for (int j = 0; j < n; j += L) {
            boolean full = j + L <= n;
            VectorMask<Float> mask = S.indexInRange(j, n);
            int i = 0;
            for (; i + 4 <= m; i += 4) {
                FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0;
                int ai = aOff + i * si;
                for (int p = 0, bi = bo + j, ap = ai; p < k; p++, bi += lb, ap += sp) {
                    FloatVector bv = full ? FloatVector.fromArray(S, bb, bi) : FloatVector.fromArray(S, bb, bi, mask);
                    c0 = FloatVector.broadcast(S, a[ap]).fma(bv, c0);
                    c1 = FloatVector.broadcast(S, a[ap + si]).fma(bv, c1);
                    c2 = FloatVector.broadcast(S, a[ap + 2 * si]).fma(bv, c2);
                    c3 = FloatVector.broadcast(S, a[ap + 3 * si]).fma(bv, c3);
                }
                int off = cOff + i * ldc + j;
                storeRow(c0, c, off, alpha, beta, overwrite, full, mask);
                storeRow(c1, c, off + ldc, alpha, beta, overwrite, full, mask);
                storeRow(c2, c, off + 2 * ldc, alpha, beta, overwrite, full, mask);
                storeRow(c3, c, off + 3 * ldc, alpha, beta, overwrite, full, mask);
            }
            for (; i < m; i++) {
                FloatVector c0 = FloatVector.zero(S);
                for (int p = 0, bi = bo + j, ap = aOff + i * si; p < k; p++, bi += lb, ap += sp) {
                    FloatVector bv = full ? FloatVector.fromArray(S, bb, bi) : FloatVector.fromArray(S, bb, bi, mask);
                    c0 = FloatVector.broadcast(S, a[ap]).fma(bv, c0);
                }
                storeRow(c0, c, cOff + i * ldc + j, alpha, beta, overwrite, full, mask);
            }
        }
    }

    private static void storeRow(FloatVector v, float[] c, int off, float alpha, float beta, boolean overwrite,
                                 boolean full, VectorMask<Float> mask) {
        if (alpha != 1f) v = v.mul(alpha);
        if (full) {
            if (!overwrite) {
                FloatVector o = FloatVector.fromArray(S, c, off);
                v = v.add(beta != 1f ? o.mul(beta) : o);
            }
            v.intoArray(c, off);
        } else {
            if (!overwrite) {
                FloatVector o = FloatVector.fromArray(S, c, off, mask);
                v = v.add(beta != 1f ? o.mul(beta) : o);
            }
            v.intoArray(c, off, mask);
        }
    }

    private static int roundUp(int x, int q) {
        return (x + q - 1) / q * q;
    }

    private static void scaleC(int m, int n, float beta, float[] c, int cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            int row = cOff + i * ldc;
            if (beta == 0f) {
                java.util.Arrays.fill(c, row, row + n, 0f);
            } else if (beta != 1f) {
                for (int j = 0; j < n; j++) c[row + j] *= beta;
            }
        }
    }

    /**
     * Packs op(B)[pc:pc+kc, jc:jc+nc] into strips of NR columns: strip s holds
     * {@code bp[s·NR·kc + p·NR + j]}, zero-padded beyond nc.
     */
    private static void packB(boolean transB, float[] b, int bOff, int ldb, int pc, int kc, int jc, int nc,
                              float[] bp, int bpOff) {
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            int dst = bpOff + jr * kc;
            if (!transB) {
                int src = bOff + pc * ldb + jc + jr;
                if (nr == NR) {
                    for (int p = 0; p < kc; p++, src += ldb, dst += NR) {
                        FloatVector.fromArray(S, b, src).intoArray(bp, dst);
                        FloatVector.fromArray(S, b, src + L).intoArray(bp, dst + L);
                    }
                } else {
                    VectorMask<Float> m0 = S.indexInRange(0, nr);
                    VectorMask<Float> m1 = S.indexInRange(L, nr);
                    for (int p = 0; p < kc; p++, src += ldb, dst += NR) {
                        FloatVector.fromArray(S, b, src, m0).intoArray(bp, dst);
                        FloatVector.fromArray(S, b, src + L, m1).intoArray(bp, dst + L);
                    }
                }
            } else if (nr == NR) {
                int src = bOff + (jc + jr) * ldb + pc;
                for (int g = 0; g < NR; g += 8, src += 8 * ldb) transpose8(b, src, ldb, bp, dst + g, NR, kc);
            } else {
                // op(B)[p][j] = b[(jc+jr+j)·ldb + pc + p]: each packed column is a contiguous source row.
                for (int j = 0; j < nr; j++) {
                    int src = bOff + (jc + jr + j) * ldb + pc;
                    int d = dst + j;
                    for (int p = 0; p < kc; p++, d += NR) bp[d] = b[src + p];
                }
                for (int j = nr; j < NR; j++) {
                    int d = dst + j;
                    for (int p = 0; p < kc; p++, d += NR) bp[d] = 0f;
                }
            }
        }
    }

    /**
     * Packs op(A)[ic:ic+mc, pc:pc+kc] into strips of MR rows: strip s holds
     * {@code ap[s·MR·kc + p·MR + r]}, zero-padded beyond mc.
     */
    private static void packA(boolean transA, float[] a, int aOff, int lda, int ic, int mc, int pc, int kc, float[] ap) {
        int ir0 = 0;
        if (transA && mc >= MR) {
            // Full strips row by row of the source: each source row segment is read sequentially once.
            int full = mc / MR;
            for (int p = 0, src = aOff + pc * lda + ic; p < kc; p++, src += lda) {
                for (int st = 0, d = p * MR; st < full; st++, d += MR * kc) {
                    FloatVector.fromArray(S8, a, src + st * MR).intoArray(ap, d);
                }
            }
            ir0 = full * MR;
        }
        for (int ir = ir0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir);
            int dst = ir * kc;
            if (!transA) {
                int src = aOff + (ic + ir) * lda + pc;
                if (mr == MR) {
                    transpose8(a, src, lda, ap, dst, MR, kc);
                } else {
                    for (int r = 0; r < mr; r++, src += lda) {
                        int d = dst + r;
                        for (int p = 0; p < kc; p++, d += MR) ap[d] = a[src + p];
                    }
                }
            } else {
                // op(A)[i][p] = a[(pc+p)·lda + ic + i]: MR consecutive source elements per p.
                int src = aOff + pc * lda + ic + ir;
                if (mr == MR) {
                    for (int p = 0, d = dst; p < kc; p++, src += lda, d += MR) {
                        FloatVector.fromArray(S8, a, src).intoArray(ap, d);
                    }
                } else {
                    for (int p = 0; p < kc; p++, src += lda) {
                        int d = dst + p * MR;
                        for (int r = 0; r < mr; r++) ap[d + r] = a[src + r];
                    }
                }
            }
            if (mr < MR) {
                for (int p = 0; p < kc; p++) {
                    int d = dst + p * MR;
                    for (int r = mr; r < MR; r++) ap[d + r] = 0f;
                }
            }
        }
    }

    /**
     * dst[d + p·dstStride + r] = src[s + r·ld + p] for r < 8, p < kc: eight source rows read
     * sequentially, eight contiguous floats written per p.
     */
    private static void transpose8(float[] src, int s, int ld, float[] dst, int d, int dstStride, int kc) {
        int s1 = s + ld, s2 = s1 + ld, s3 = s2 + ld, s4 = s3 + ld, s5 = s4 + ld, s6 = s5 + ld, s7 = s6 + ld;
        int p = 0;
        if (VEC_TRANSPOSE) {
            // 8×8 blocks: three rounds of "interleave row i with row i+4" (a perfect shuffle of the
            // 6-bit element index; three of them transpose), two-vector permutes on 8 lanes.
            for (; p + 8 <= kc; p += 8, d += 8 * dstStride) {
                FloatVector x0 = FloatVector.fromArray(S8, src, s + p), x1 = FloatVector.fromArray(S8, src, s1 + p);
                FloatVector x2 = FloatVector.fromArray(S8, src, s2 + p), x3 = FloatVector.fromArray(S8, src, s3 + p);
                FloatVector x4 = FloatVector.fromArray(S8, src, s4 + p), x5 = FloatVector.fromArray(S8, src, s5 + p);
                FloatVector x6 = FloatVector.fromArray(S8, src, s6 + p), x7 = FloatVector.fromArray(S8, src, s7 + p);
                for (int round = 0; round < 3; round++) {
                    FloatVector y0 = LO.selectFrom(x0, x4), y1 = HI.selectFrom(x0, x4);
                    FloatVector y2 = LO.selectFrom(x1, x5), y3 = HI.selectFrom(x1, x5);
                    FloatVector y4 = LO.selectFrom(x2, x6), y5 = HI.selectFrom(x2, x6);
                    FloatVector y6 = LO.selectFrom(x3, x7), y7 = HI.selectFrom(x3, x7);
                    x0 = y0; x1 = y1; x2 = y2; x3 = y3; x4 = y4; x5 = y5; x6 = y6; x7 = y7;
                }
                x0.intoArray(dst, d);
                x1.intoArray(dst, d + dstStride);
                x2.intoArray(dst, d + 2 * dstStride);
                x3.intoArray(dst, d + 3 * dstStride);
                x4.intoArray(dst, d + 4 * dstStride);
                x5.intoArray(dst, d + 5 * dstStride);
                x6.intoArray(dst, d + 6 * dstStride);
                x7.intoArray(dst, d + 7 * dstStride);
            }
        }
        for (; p < kc; p++, d += dstStride) {
            dst[d] = src[s + p];
            dst[d + 1] = src[s1 + p];
            dst[d + 2] = src[s2 + p];
            dst[d + 3] = src[s3 + p];
            dst[d + 4] = src[s4 + p];
            dst[d + 5] = src[s5 + p];
            dst[d + 6] = src[s6 + p];
            dst[d + 7] = src[s7 + p];
        }
    }

    /**
     * MR×NR micro-kernel: tile = Σ_p ap[p,:]ᵀ·bp[p,:] over kc (tile row-major MR×NR).
     */
    private static void kernel(int kc, float[] ap, int aBase, float[] bp, int bBase, float[] tile) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S);
        int ao = aBase, bo = bBase;
        for (int p = 0; p < kc; p++, ao += MR, bo += NR) {
            FloatVector b0 = FloatVector.fromArray(S, bp, bo);
            FloatVector b1 = FloatVector.fromArray(S, bp, bo + L);
            FloatVector x;
            x = FloatVector.broadcast(S, ap[ao]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, ap[ao + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, ap[ao + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, ap[ao + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, ap[ao + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, ap[ao + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(S, ap[ao + 6]);
            c60 = x.fma(b0, c60); c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(S, ap[ao + 7]);
            c70 = x.fma(b0, c70); c71 = x.fma(b1, c71);
        }
        tile[0] = 0; // (bounds check hoist)
        c00.intoArray(tile, 0); c01.intoArray(tile, L);
        c10.intoArray(tile, NR); c11.intoArray(tile, NR + L);
        c20.intoArray(tile, 2 * NR); c21.intoArray(tile, 2 * NR + L);
        c30.intoArray(tile, 3 * NR); c31.intoArray(tile, 3 * NR + L);
        c40.intoArray(tile, 4 * NR); c41.intoArray(tile, 4 * NR + L);
        c50.intoArray(tile, 5 * NR); c51.intoArray(tile, 5 * NR + L);
        c60.intoArray(tile, 6 * NR); c61.intoArray(tile, 6 * NR + L);
        c70.intoArray(tile, 7 * NR); c71.intoArray(tile, 7 * NR + L);
    }

    /**
     * C[0:mr, 0:nr] = alpha·tile + beta·C (C not read when overwrite), tile being an MR×NR
     * row-major accumulator block.
     */
    private static void storeTile(float[] tile, float[] c, int cBase, int ldc, int mr, int nr,
                                  float alpha, float beta, boolean overwrite) {
        if (nr == NR) {
            for (int r = 0, off = cBase; r < mr; r++, off += ldc) {
                FloatVector v0 = FloatVector.fromArray(S, tile, r * NR);
                FloatVector v1 = FloatVector.fromArray(S, tile, r * NR + L);
                if (alpha != 1f) {
                    v0 = v0.mul(alpha);
                    v1 = v1.mul(alpha);
                }
                if (!overwrite) {
                    FloatVector o0 = FloatVector.fromArray(S, c, off);
                    FloatVector o1 = FloatVector.fromArray(S, c, off + L);
                    if (beta != 1f) {
                        o0 = o0.mul(beta);
                        o1 = o1.mul(beta);
                    }
                    v0 = v0.add(o0);
                    v1 = v1.add(o1);
                }
                v0.intoArray(c, off);
                v1.intoArray(c, off + L);
            }
        } else {
            VectorMask<Float> m0 = S.indexInRange(0, nr);
            VectorMask<Float> m1 = S.indexInRange(L, nr);
            for (int r = 0, off = cBase; r < mr; r++, off += ldc) {
                FloatVector v0 = FloatVector.fromArray(S, tile, r * NR);
                FloatVector v1 = FloatVector.fromArray(S, tile, r * NR + L);
                if (alpha != 1f) {
                    v0 = v0.mul(alpha);
                    v1 = v1.mul(alpha);
                }
                if (!overwrite) {
                    FloatVector o0 = FloatVector.fromArray(S, c, off, m0);
                    FloatVector o1 = FloatVector.fromArray(S, c, off + L, m1);
                    if (beta != 1f) {
                        o0 = o0.mul(beta);
                        o1 = o1.mul(beta);
                    }
                    v0 = v0.add(o0);
                    v1 = v1.add(o1);
                }
                v0.intoArray(c, off, m0);
                v1.intoArray(c, off + L, m1);
            }
        }
    }

    /** Test hook: forces one code path (0 = small/unpacked, 1 = blocked serial, 2 = blocked parallel). */
    static void sgemmPath(int path, boolean transA, boolean transB, int m, int n, int k, float alpha,
                          float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                          float beta, float[] c, int cOff, int ldc) {
        if (m <= 0 || n <= 0) return;
        if (k <= 0 || alpha == 0f) {
            scaleC(m, n, beta, c, cOff, ldc);
            return;
        }
        if (path == 0) small(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        else blocked(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, path == 2);
    }

    static void kernelForTest(int kc, float[] ap, float[] bp, float[] c) {
        kernel(kc, ap, 0, bp, 0, c);
    }

    public static void dgemm(boolean transA, boolean transB, int m, int n, int k, double alpha,
                             double[] a, int aOff, int lda, double[] b, int bOff, int ldb,
                             double beta, double[] c, int cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    double x = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    double y = transB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
                    acc += x * y;
                }
                int ci = cOff + i * ldc + j;
                c[ci] = beta == 0 ? alpha * acc : alpha * acc + beta * c[ci];
            }
        }
    }

    /** Below this many multiply-adds a call runs on the calling thread. */
    private static final long PARALLEL_MIN_FMAS = 1L << 20;

    /**
     * Multi-threaded {@link #sgemm}: for every (column block, k block) step, op(B) is packed once and
     * shared, and row blocks of C (times groups of column strips when rows are few) are independent
     * tasks on the common pool. Every element of C is computed by exactly one task per k block, the k
     * blocks in order, with the same arithmetic as {@link #sgemm}; results are bit-identical to it.
     * Small products (below PARALLEL_MIN_FMAS multiply-adds) run on the calling thread.
     */
    public static void sgemmParallel(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                     float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                                     float beta, float[] c, int cOff, int ldc) {
        if (Parallel.threads() <= 1 || m <= 0 || n <= 0 || k <= 0 || alpha == 0f
                || (long) m * n * k < PARALLEL_MIN_FMAS) {
            sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        if (dotPath(transA, transB, m, k)) {
            int groups = (n + 3) / 4;
            int tasks = Math.min(groups, 4 * Parallel.threads());
            Parallel.forRange(tasks, t -> {
                int j0 = (int) ((long) t * groups / tasks) * 4, j1 = Math.min(n, (int) ((long) (t + 1) * groups / tasks) * 4);
                dotRows(m, j0, j1, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            });
            return;
        }
        blocked(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, true);
    }

    /** The arguments of one {@link #sgemm} call: {@code C = alpha·op(A)·op(B) + beta·C}. */
    public record Product(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                          float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        /** Whether {@link #sgemmParallel} runs it as the blocked parallel job (else on the caller, or as dot products). */
        boolean blockedParallel() {
            return Parallel.threads() > 1 && m > 0 && n > 0 && k > 0 && alpha != 0f
                    && (long) m * n * k >= PARALLEL_MIN_FMAS && !dotPath(transA, transB, m, k);
        }
    }

    /**
     * Independent products whose outputs do not overlap, in one parallel job: each is cut and
     * computed exactly as {@link #sgemmParallel} alone would (the same bits), with one join for
     * all of them. (A linear layer's backward: dx and dW.)
     */
    public static void sgemmParallel(Product... products) {
        List<Product> joint = new ArrayList<>();
        for (Product x : products) {
            if (x.blockedParallel()) joint.add(x);
            else sgemmParallel(x.transA, x.transB, x.m, x.n, x.k, x.alpha, x.a, x.aOff, x.lda, x.b, x.bOff, x.ldb, x.beta, x.c, x.cOff, x.ldc);
        }
        if (joint.isEmpty()) return;
        Buffers buf = BUFFERS.get();
        Plan[] plans = new Plan[joint.size()];
        PackedB[] packed = new PackedB[joint.size()];
        int[] first = new int[joint.size() + 1];
        for (int i = 0; i < plans.length; i++) {
            Product x = joint.get(i);
            plans[i] = Plan.of(x.m, x.n, x.k, TASKS_PER_THREAD * Parallel.threads());
            packed[i] = buf.packed(i).reset(plans[i]);
            first[i + 1] = first[i] + plans[i].tasks();
        }
        java.util.function.IntConsumer task = t -> {
            int i = 0;
            while (t >= first[i + 1]) i++;
            Product x = joint.get(i);
            tile(plans[i], t - first[i], x.transA, x.a, x.aOff, x.lda, x.transB, x.b, x.bOff, x.ldb, packed[i], x.alpha, x.beta, x.c, x.cOff, x.ldc);
        };
        if (!Parallel.tryTeam(task, first[plans.length])) {
            for (int t = 0; t < first[plans.length]; t++) task.accept(t);
        }
    }

    /** Rows of A up to which A·Bᵀ runs as dot products (matrix-vector products of decoding). */
    static final int DOT_M = 4;

    /**
     * Whether a product runs as dot products: A untransposed and op(B) = Bᵀ, so that both operands
     * of every element are contiguous rows, with at most DOT_M rows of A and k of at least a
     * vector. Packing would cost as much as the arithmetic there, and the blocked path would
     * waste the unused rows of each MR-row micro-tile. The choice depends on the shape only, so
     * sgemm and sgemmParallel take it alike.
     */
    private static boolean dotPath(boolean transA, boolean transB, int m, int k) {
        return transB && !transA && m <= DOT_M && k >= L;
    }

    /**
     * C[i, j] = alpha·dot(A[i, :], B[j, :]) + beta·C[i, j] for i < m, j0 ≤ j < j1, four rows of B at a
     * time (each read from memory once and reused from L1 for the m rows of A). Each element sums
     * its products in L lane-wise fma chains, then adds the lanes in index order (not
     * {@code reduceLanes}, whose order may differ between compiled and interpreted code), then the
     * scalar tail: the same bits whichever j-range a thread gets.
     */
    private static void dotRows(int m, int j0, int j1, int k, float alpha, float[] a, int aOff, int lda,
                                float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        float[] lanes = BUFFERS.get().lanes;
        int kv = k - k % L;
        int j = j0;
        for (; j + 4 <= j1; j += 4) {
            int b0 = bOff + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
            for (int i = 0; i < m; i++) {
                int ai = aOff + i * lda;
                FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
                for (int p = 0; p < kv; p += L) {
                    FloatVector x = FloatVector.fromArray(S, a, ai + p);
                    s0 = x.fma(FloatVector.fromArray(S, b, b0 + p), s0);
                    s1 = x.fma(FloatVector.fromArray(S, b, b1 + p), s1);
                    s2 = x.fma(FloatVector.fromArray(S, b, b2 + p), s2);
                    s3 = x.fma(FloatVector.fromArray(S, b, b3 + p), s3);
                }
                int ci = cOff + i * ldc + j;
                storeDot(sumLanes(s0, lanes, a, ai, b, b0, kv, k), c, ci, alpha, beta);
                storeDot(sumLanes(s1, lanes, a, ai, b, b1, kv, k), c, ci + 1, alpha, beta);
                storeDot(sumLanes(s2, lanes, a, ai, b, b2, kv, k), c, ci + 2, alpha, beta);
                storeDot(sumLanes(s3, lanes, a, ai, b, b3, kv, k), c, ci + 3, alpha, beta);
            }
        }
        for (; j < j1; j++) {
            int b0 = bOff + j * ldb;
            for (int i = 0; i < m; i++) {
                int ai = aOff + i * lda;
                FloatVector s0 = FloatVector.zero(S);
                for (int p = 0; p < kv; p += L) {
                    s0 = FloatVector.fromArray(S, a, ai + p).fma(FloatVector.fromArray(S, b, b0 + p), s0);
                }
                storeDot(sumLanes(s0, lanes, a, ai, b, b0, kv, k), c, cOff + i * ldc + j, alpha, beta);
            }
        }
    }

    /** Lanes of acc added in index order, then the products p in [kv, k) by fma. */
    private static float sumLanes(FloatVector acc, float[] lanes, float[] a, int ai, float[] b, int bi, int kv, int k) {
        acc.intoArray(lanes, 0);
        float r = lanes[0];
        for (int l = 1; l < L; l++) r += lanes[l];
        for (int p = kv; p < k; p++) r = Math.fma(a[ai + p], b[bi + p], r);
        return r;
    }

    private static void storeDot(float r, float[] c, int ci, float alpha, float beta) {
        if (alpha != 1f) r *= alpha;
        if (beta != 0f) r += beta != 1f ? c[ci] * beta : c[ci];
        c[ci] = r;
    }
}
