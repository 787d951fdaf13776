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
 * {@code KC × NR} column strips (zero-padded at the edges), and an {@code MR × NR} register-blocked
 * micro-kernel (broadcast of A times two vectors of B, {@code 2·MR} accumulators) does the
 * arithmetic. op(A) is not packed: the kernel broadcasts its elements in place through a row and a
 * depth stride (either transpose; rows past the edge repeat the last row and are not stored), which
 * costs nothing measurable against the scalar copy it replaced. Small problems (k ≤ KC, few
 * multiply-adds: the chunk algorithm's blocks) skip packing B as well and read B rows in place.
 * Edge tiles are written back with masked stores. Buffers are thread-local and grow on demand, so
 * small calls allocate nothing.
 *
 * <p>Numerics: each element of C accumulates its k products in plain order within a block of
 * {@code KC} (one fused multiply-add per product), then the blocks are added into C in order
 * ({@code C = alpha·acc₀ + beta·C}, then {@code C += alpha·accᵢ}). The order depends only on k, never
 * on the position of the element or on how C is split over threads, so {@link #sgemmParallel} is
 * bit-identical to {@link #sgemm} and to itself run to run.
 *
 * <p>beta == 0 never reads C (C may hold NaN or garbage).
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
    static final int KC = Integer.getInteger("gsa4j.gemm.kc", 256);
    /** Rows of A packed at a time (A block ≈ MC·KC floats stays in L2). */
    static final int MC = Integer.getInteger("gsa4j.gemm.mc", 128);
    /** Columns of B packed at a time. */
    static final int NC = Integer.getInteger("gsa4j.gemm.nc", 2048);

    /** Up to this many multiply-adds (and k ≤ KC) sgemm skips packing: the small blocks of the chunk algorithm. */
    static final long DIRECT_MAX_FMAS = Long.getLong("gsa4j.gemm.directMax", 1L << 20);

    private static final class Buffers {
        float[] b = new float[0];
        float[] bt = new float[0];
        final float[] tile = new float[MR * NR];
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
        Buffers buf = BUFFERS.get();
        if (k <= KC && (long) m * n * k <= DIRECT_MAX_FMAS) {
            direct(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, buf);
            return;
        }
        packed(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, buf);
    }

    /** The packed path whatever the size (tests compare it with the unpacked small-problem path). */
    static void sgemmPackedForTest(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                   float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                                   float beta, float[] c, int cOff, int ldc) {
        if (m <= 0 || n <= 0) return;
        if (k <= 0 || alpha == 0f) {
            scaleC(m, n, beta, c, cOff, ldc);
            return;
        }
        packed(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, BUFFERS.get());
    }

    private static void packed(boolean transA, boolean transB, int m, int n, int k, float alpha,
                               float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                               float beta, float[] c, int cOff, int ldc, Buffers buf) {
        int kcMax = Math.min(k, KC);
        int ncMax = Math.min(roundUp(n, NR), NC);
        if (buf.b.length < ncMax * kcMax) buf.b = new float[ncMax * kcMax];
        float[] bp = buf.b, tile = buf.tile;

        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                boolean first = pc == 0;
                packB(transB, b, bOff, ldb, pc, kc, jc, 0, nc, bp);
                for (int ic = 0; ic < m; ic += MC) {
                    int mc = Math.min(MC, m - ic);
                    macroKernel(kc, mc, 0, nc, transA, a, aOff, lda, ic, pc, bp, tile, c, cOff + ic * ldc + jc, ldc,
                            alpha, first ? beta : 1f, first && beta == 0f);
                }
            }
        }
    }

    /**
     * C[0:mc, j0:j1] (+)= alpha · Ap · Bp over one packed depth block: Ap holds mc rows, Bp the strips
     * covering [j0, j1) (j0 a multiple of NR, j1 ≤ nc). Every tile runs the same MR×NR micro-kernel.
     */
    private static void macroKernel(int kc, int mc, int j0, int j1, boolean transA, float[] a, int aOff, int lda,
                                    int ic, int pc, float[] bp, float[] tile,
                                    float[] c, int cBase, int ldc, float alpha, float beta, boolean overwrite) {
        int rs = transA ? 1 : lda, ps = transA ? lda : 1;   // op(A)[i][p] = a[aOff + i·rs + p·ps], read in place
        int aBlock = aOff + ic * rs + pc * ps;
        for (int jr = j0; jr < j1; jr += NR) {
            int nr = Math.min(NR, j1 - jr);
            int bBase = jr * kc;
            for (int ir = 0; ir < mc; ir += MR) {
                int mr = Math.min(MR, mc - ir);
                // (Storing straight from the accumulators made the kernel too large for C2 to keep
                // its vectors unboxed: 4-5x slower. The tile round trip is cheap.)
                directKernel(kc, a, aBlock + ir * rs, rs, ps, mr, bp, bBase, NR, tile);
                storeTile(tile, c, cBase + ir * ldc + jr, ldc, mr, nr, alpha, beta, overwrite);
            }
        }
    }

    /**
     * Unpacked product for small problems with k ≤ KC: the micro-kernel reads op(A) in place
     * (broadcasts, any transpose) and B rows in place (op(B) = Bᵀ is first transposed into a
     * row-major scratch). Per element the arithmetic is that of the packed path (one depth block:
     * k fused multiply-adds in order from zero, then alpha/beta), so results are bit-identical.
     */
    private static void direct(boolean transA, boolean transB, int m, int n, int k, float alpha,
                               float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                               float beta, float[] c, int cOff, int ldc, Buffers buf) {
        if (transB) {
            if (buf.bt.length < k * n) buf.bt = new float[Math.max(k * n, 64 * 128)];
            float[] bt = buf.bt;
            for (int j = 0; j < n; j++) {
                int src = bOff + j * ldb;
                for (int p = 0, d = j; p < k; p++, d += n) bt[d] = b[src + p];
            }
            b = bt;
            bOff = 0;
            ldb = n;
        }
        int rs = transA ? 1 : lda, ps = transA ? lda : 1;   // op(A)[i][p] = a[aOff + i·rs + p·ps]
        float[] tile = buf.tile;
        boolean overwrite = beta == 0f;
        for (int jr = 0; jr < n; jr += NR) {
            int nr = Math.min(NR, n - jr);
            for (int ir = 0; ir < m; ir += MR) {
                int mr = Math.min(MR, m - ir);
                int a0 = aOff + ir * rs;
                if (nr == NR) directKernel(k, a, a0, rs, ps, mr, b, bOff + jr, ldb, tile);
                else directKernelMasked(k, a, a0, rs, ps, mr, b, bOff + jr, ldb, nr, tile);
                storeTile(tile, c, cOff + ir * ldc + jr, ldc, mr, nr, alpha, beta, overwrite);
            }
        }
    }

    /** MR×NR tile of op(A)·B with op(A) read in place (rows past mr repeat the last row) and B rows in place. */
    private static void directKernel(int k, float[] a, int a0, int rs, int ps, int mr, float[] b, int b0, int ldb, float[] tile) {
        int o1 = Math.min(1, mr - 1) * rs, o2 = Math.min(2, mr - 1) * rs, o3 = Math.min(3, mr - 1) * rs;
        int o4 = Math.min(4, mr - 1) * rs, o5 = Math.min(5, mr - 1) * rs, o6 = Math.min(6, mr - 1) * rs;
        int o7 = Math.min(7, mr - 1) * rs;
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S);
        int ao = a0, bo = b0;
        for (int p = 0; p < k; p++, ao += ps, bo += ldb) {
            FloatVector b0v = FloatVector.fromArray(S, b, bo);
            FloatVector b1v = FloatVector.fromArray(S, b, bo + L);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ao]);
            c00 = x.fma(b0v, c00); c01 = x.fma(b1v, c01);
            x = FloatVector.broadcast(S, a[ao + o1]);
            c10 = x.fma(b0v, c10); c11 = x.fma(b1v, c11);
            x = FloatVector.broadcast(S, a[ao + o2]);
            c20 = x.fma(b0v, c20); c21 = x.fma(b1v, c21);
            x = FloatVector.broadcast(S, a[ao + o3]);
            c30 = x.fma(b0v, c30); c31 = x.fma(b1v, c31);
            x = FloatVector.broadcast(S, a[ao + o4]);
            c40 = x.fma(b0v, c40); c41 = x.fma(b1v, c41);
            x = FloatVector.broadcast(S, a[ao + o5]);
            c50 = x.fma(b0v, c50); c51 = x.fma(b1v, c51);
            x = FloatVector.broadcast(S, a[ao + o6]);
            c60 = x.fma(b0v, c60); c61 = x.fma(b1v, c61);
            x = FloatVector.broadcast(S, a[ao + o7]);
            c70 = x.fma(b0v, c70); c71 = x.fma(b1v, c71);
        }
        tile[0] = 0;
        c00.intoArray(tile, 0); c01.intoArray(tile, L);
        c10.intoArray(tile, NR); c11.intoArray(tile, NR + L);
        c20.intoArray(tile, 2 * NR); c21.intoArray(tile, 2 * NR + L);
        c30.intoArray(tile, 3 * NR); c31.intoArray(tile, 3 * NR + L);
        c40.intoArray(tile, 4 * NR); c41.intoArray(tile, 4 * NR + L);
        c50.intoArray(tile, 5 * NR); c51.intoArray(tile, 5 * NR + L);
        c60.intoArray(tile, 6 * NR); c61.intoArray(tile, 6 * NR + L);
        c70.intoArray(tile, 7 * NR); c71.intoArray(tile, 7 * NR + L);
    }

    /** {@link #directKernel} for a last strip of nr &lt; NR columns (masked loads of B). */
    private static void directKernelMasked(int k, float[] a, int a0, int rs, int ps, int mr, float[] b, int b0, int ldb, int nr, float[] tile) {
        VectorMask<Float> m0 = S.indexInRange(0, nr), m1 = S.indexInRange(L, nr);
        int o1 = Math.min(1, mr - 1) * rs, o2 = Math.min(2, mr - 1) * rs, o3 = Math.min(3, mr - 1) * rs;
        int o4 = Math.min(4, mr - 1) * rs, o5 = Math.min(5, mr - 1) * rs, o6 = Math.min(6, mr - 1) * rs;
        int o7 = Math.min(7, mr - 1) * rs;
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S);
        int ao = a0, bo = b0;
        for (int p = 0; p < k; p++, ao += ps, bo += ldb) {
            FloatVector b0v = FloatVector.fromArray(S, b, bo, m0);
            FloatVector b1v = FloatVector.fromArray(S, b, bo + L, m1);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ao]);
            c00 = x.fma(b0v, c00); c01 = x.fma(b1v, c01);
            x = FloatVector.broadcast(S, a[ao + o1]);
            c10 = x.fma(b0v, c10); c11 = x.fma(b1v, c11);
            x = FloatVector.broadcast(S, a[ao + o2]);
            c20 = x.fma(b0v, c20); c21 = x.fma(b1v, c21);
            x = FloatVector.broadcast(S, a[ao + o3]);
            c30 = x.fma(b0v, c30); c31 = x.fma(b1v, c31);
            x = FloatVector.broadcast(S, a[ao + o4]);
            c40 = x.fma(b0v, c40); c41 = x.fma(b1v, c41);
            x = FloatVector.broadcast(S, a[ao + o5]);
            c50 = x.fma(b0v, c50); c51 = x.fma(b1v, c51);
            x = FloatVector.broadcast(S, a[ao + o6]);
            c60 = x.fma(b0v, c60); c61 = x.fma(b1v, c61);
            x = FloatVector.broadcast(S, a[ao + o7]);
            c70 = x.fma(b0v, c70); c71 = x.fma(b1v, c71);
        }
        tile[0] = 0;
        c00.intoArray(tile, 0); c01.intoArray(tile, L);
        c10.intoArray(tile, NR); c11.intoArray(tile, NR + L);
        c20.intoArray(tile, 2 * NR); c21.intoArray(tile, 2 * NR + L);
        c30.intoArray(tile, 3 * NR); c31.intoArray(tile, 3 * NR + L);
        c40.intoArray(tile, 4 * NR); c41.intoArray(tile, 4 * NR + L);
        c50.intoArray(tile, 5 * NR); c51.intoArray(tile, 5 * NR + L);
        c60.intoArray(tile, 6 * NR); c61.intoArray(tile, 6 * NR + L);
        c70.intoArray(tile, 7 * NR); c71.intoArray(tile, 7 * NR + L);
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
    private static void packB(boolean transB, float[] b, int bOff, int ldb, int pc, int kc, int jc, int j0, int nc, float[] bp) {
        for (int jr = j0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            int dst = jr * kc;
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
    private static final long PARALLEL_MIN_FMAS = 1L << 18;

    /**
     * Multi-threaded {@link #sgemm}, BLIS-style: for each depth block op(B) is packed once (its strips
     * split over the threads) into a buffer all tasks share, then C is cut into a fixed grid of
     * MC-row × column-group tasks, each packing its rows of op(A) and running the micro-kernel. The
     * grid depends only on the shape; every element of C sees exactly the operations of {@link #sgemm}
     * in the same order, so results are bit-identical to it and to itself run to run.
     */
    public static void sgemmParallel(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                     float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                                     float beta, float[] c, int cOff, int ldc) {
        int threads = Parallel.threads();
        if (threads <= 1 || (long) m * n * k < PARALLEL_MIN_FMAS || m <= 0 || n <= 0 || k <= 0 || alpha == 0f) {
            sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        int kcMax = Math.min(k, KC);
        int ncMax = Math.min(roundUp(n, NR), NC);
        // Per call (a thread-local could be re-entered by a task this thread helps with while joining);
        // at most NC·KC floats, against ≥ 2^18 multiply-adds of work.
        float[] bp = new float[ncMax * kcMax];
        int rowBlocks = (m + MC - 1) / MC;
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            int strips = (nc + NR - 1) / NR;
            // column groups: enough tasks for ~4 per thread, in whole strips
            int groups = Math.max(1, Math.min(strips, (4 * threads + rowBlocks - 1) / rowBlocks));
            int stripsPerGroup = (strips + groups - 1) / groups;
            groups = (strips + stripsPerGroup - 1) / stripsPerGroup;
            int packTasks = Math.min(strips, 4 * threads), stripsPerPack = (strips + packTasks - 1) / packTasks;
            packTasks = (strips + stripsPerPack - 1) / stripsPerPack;
            final int fJc = jc, fNc = nc, fGroups = groups, fSpg = stripsPerGroup, fSpp = stripsPerPack;
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                final int fPc = pc, fKc = kc;
                final boolean first = pc == 0;
                Parallel.forRange(packTasks, t -> packB(transB, b, bOff, ldb, fPc, fKc, fJc,
                        t * fSpp * NR, Math.min(fNc, (t + 1) * fSpp * NR), bp));
                Parallel.forRange(rowBlocks * fGroups, t -> {
                    int ic = (t / fGroups) * MC, mc = Math.min(MC, m - ic);
                    int g = t % fGroups;
                    int j0 = g * fSpg * NR, j1 = Math.min(fNc, (g + 1) * fSpg * NR);
                    macroKernel(fKc, mc, j0, j1, transA, a, aOff, lda, ic, fPc, bp, BUFFERS.get().tile, c, cOff + ic * ldc + fJc, ldc,
                            alpha, first ? beta : 1f, first && beta == 0f);
                });
            }
        }
    }
}
