package org.gsa4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

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
        final float[] tile = new float[MR * NR];
        final float[] lanes = new float[L];
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
     * The blocked algorithm. For each (jc, pc) block, op(B) is packed once (shared by all threads
     * when parallel), then row blocks of C (and, when there are too few of them, groups of NR
     * column strips) are computed as independent tasks. The k-blocking, and with it the
     * accumulation order of every element, is the same serial or parallel.
     */
    private static void blocked(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                                float beta, float[] c, int cOff, int ldc, boolean parallel) {
        Buffers buf = BUFFERS.get();
        int need = Math.min(roundUp(n, NR), NC) * Math.min(k, KC);
        // A thread runs only its own job's chunks while it waits (Parallel's team does no work
        // stealing), so this call cannot be re-entered on this thread while it uses the buffer.
        if (buf.b.length < need) buf.b = new float[need];
        float[] bp = buf.b;
        int threads = parallel ? Parallel.threads() : 1;
        int target = 4 * threads;
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            int strips = (nc + NR - 1) / NR;
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                float betaEff = pc == 0 ? beta : 1f;
                boolean overwrite = pc == 0 && beta == 0f;
                final int fjc = jc, fnc = nc, fpc = pc, fkc = kc;
                if (parallel && (long) kc * nc >= (1 << 16)) {
                    int groups = Math.min(strips, 2 * threads);
                    Parallel.forRange(groups, g -> {
                        int s0 = g * strips / groups, s1 = (g + 1) * strips / groups;
                        packB(transB, b, bOff, ldb, fpc, fkc, fjc + s0 * NR,
                                Math.min(fnc, s1 * NR) - s0 * NR, bp, s0 * NR * fkc);
                    });
                } else {
                    packB(transB, b, bOff, ldb, pc, kc, jc, nc, bp, 0);
                }
                if (!parallel) {
                    for (int ic = 0; ic < m; ic += MC) {
                        rowBlock(transA, a, aOff, lda, ic, Math.min(MC, m - ic), pc, kc, bp, 0, strips, nc,
                                c, cOff + jc, ldc, alpha, betaEff, overwrite);
                    }
                } else {
                    int mc = MC;
                    int icBlocks = (m + mc - 1) / mc;
                    if (icBlocks < target) {
                        mc = Math.max(MR, roundUp((m + target - 1) / target, MR));
                        icBlocks = (m + mc - 1) / mc;
                    }
                    int jrGroups = icBlocks >= target ? 1 : Math.min(strips, (target + icBlocks - 1) / icBlocks);
                    final int fmc = mc, fIcBlocks = icBlocks, fJr = jrGroups;
                    Parallel.forRange(icBlocks * jrGroups, t -> {
                        int ib = t % fIcBlocks, g = t / fIcBlocks;
                        int ic = ib * fmc;
                        int s0 = g * strips / fJr, s1 = (g + 1) * strips / fJr;
                        rowBlock(transA, a, aOff, lda, ic, Math.min(fmc, m - ic), fpc, fkc, bp, s0, s1, fnc,
                                c, cOff + fjc, ldc, alpha, betaEff, overwrite);
                    });
                }
            }
        }
    }

    /**
     * Packs op(A)[ic:ic+mc, pc:pc+kc] into this thread's A buffer and runs the micro-kernel over
     * column strips [s0, s1) of the packed B block (nc columns wide). A row-block task never waits
     * on other tasks, so the thread-local A buffer and tile cannot be re-entered while in use.
     */
    private static void rowBlock(boolean transA, float[] a, int aOff, int lda, int ic, int mc, int pc, int kc,
                                 float[] bp, int s0, int s1, int nc, float[] c, int cOff, int ldc,
                                 float alpha, float beta, boolean overwrite) {
        Buffers buf = BUFFERS.get();
        int need = roundUp(mc, MR) * kc;
        if (buf.a.length < need) buf.a = new float[Math.max(need, roundUp(MC, MR) * kc)];
        float[] ap = buf.a, tile = buf.tile;
        packA(transA, a, aOff, lda, ic, mc, pc, kc, ap);
        for (int s = s0; s < s1; s++) {
            int jr = s * NR;
            int nr = Math.min(NR, nc - jr);
            int bBase = jr * kc;
            for (int ir = 0; ir < mc; ir += MR) {
                int mr = Math.min(MR, mc - ir);
                kernel(kc, ap, ir * kc, bp, bBase, tile);
                storeTile(tile, c, cOff + (ic + ir) * ldc + jr, ldc, mr, nr, alpha, beta, overwrite);
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
