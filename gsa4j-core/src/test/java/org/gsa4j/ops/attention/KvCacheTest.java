package org.gsa4j.ops.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

class KvCacheTest {

    /** Rows [b, t, :, :] of x [B,T,H,D] as a [B,H,D] tensor. */
    private static Tensor at(Tensor x, int t) {
        int B = x.dim(0), T = x.dim(1), H = x.dim(2), D = x.dim(3);
        Tensor y = Tensor.zerosLike(x, B, H, D);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < H * D; i++) y.set(b * H * D + i, x.get((b * T + t) * H * D + i));
        return y;
    }

    /** Rows [:, t0:t1] of x [B,T,H,D]. */
    private static Tensor slice(Tensor x, int t0, int t1) {
        int B = x.dim(0), T = x.dim(1), H = x.dim(2), D = x.dim(3), n = t1 - t0;
        Tensor y = Tensor.zerosLike(x, B, n, H, D);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n * H * D; i++) y.set(b * n * H * D + i, x.get((b * T + t0) * H * D + i));
        return y;
    }

    private static double check(boolean f64, int B, int T, int prefill, int HQ, int HKV, int D, int window, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Tensor q = TestUtil.randn64(rng, 1, B, T, HQ, D);
        Tensor k = TestUtil.randn64(rng, 1, B, T, HKV, D);
        Tensor v = TestUtil.randn64(rng, 1, B, T, HKV, D);
        if (!f64) {
            q = q.toF32();
            k = k.toF32();
            v = v.toF32();
        }
        double scale = 1 / Math.sqrt(D);
        Tensor full = CausalAttention.forward(q, k, v, scale, window).o();
        KvCache cache = new KvCache(B, HKV, D, window);
        cache.append(slice(k, 0, prefill), slice(v, 0, prefill));
        assertEquals(prefill, cache.length());
        double worst = 0;
        Tensor o = Tensor.zerosLike(q, B, HQ, D);
        for (int t = prefill; t < T; t++) {
            cache.step(at(q, t), at(k, t), at(v, t), scale, o);
            worst = Math.max(worst, Tensor.relErr(o, at(full, t)));
        }
        assertEquals(T, cache.length());
        assertEquals(window > 0 ? Math.min(T, window) : T, cache.stored());
        System.out.printf("kv cache %s B=%d T=%d prefill=%d HQ=%d HKV=%d D=%d window=%d: worst per-step rel err %.2e%n",
                f64 ? "f64" : "f32", B, T, prefill, HQ, HKV, D, window, worst);
        return worst;
    }

    @Test
    void prefillPlusStepsMatchesFullForward() {
        double w32 = 0, w64 = 0;
        int[][] cases = { // B, T, prefill, HQ, HKV, D, window
            {2, 40, 0, 4, 2, 8, 0}, {2, 40, 13, 4, 2, 8, 0}, {1, 70, 5, 4, 4, 7, 0},
            {2, 40, 13, 4, 2, 8, 5}, {2, 40, 0, 6, 2, 9, 1}, {1, 50, 30, 4, 1, 16, 8}, {1, 50, 3, 2, 2, 16, 100},
            {1, 300, 100, 8, 2, 64, 0}};
        long seed = 20;
        for (int[] c : cases) {
            w32 = Math.max(w32, check(false, c[0], c[1], c[2], c[3], c[4], c[5], c[6], seed));
            w64 = Math.max(w64, check(true, c[0], c[1], c[2], c[3], c[4], c[5], c[6], seed));
            seed++;
        }
        System.out.printf("kv cache worst: f32 %.2e, f64 %.2e%n", w32, w64);
        assertTrue(w32 <= 1e-5, "f32 " + w32);
        assertTrue(w64 <= 1e-13, "f64 " + w64);
    }

    @Test
    void bytesGrowLinearly() {
        int B = 2, HKV = 3, D = 4;
        KvCache c = new KvCache(B, HKV, D, 0);
        assertEquals(0, c.bytes());
        Tensor kv = Tensor.zeros(B, HKV, D), q = Tensor.zeros(B, HKV, D), o = Tensor.zeros(B, HKV, D);
        long perToken = 2L * B * HKV * D * 4;
        for (int n = 1; n <= 100; n++) {
            c.step(q, kv, kv, 1, o);
            assertEquals(n * perToken, c.bytes());
            assertTrue(c.capacityBytes() >= c.bytes());
        }
        c.append(Tensor.zeros(B, 50, HKV, D), Tensor.zeros(B, 50, HKV, D));
        assertEquals(150 * perToken, c.bytes());
        KvCache w = new KvCache(B, HKV, D, 10);
        for (int n = 1; n <= 30; n++) {
            w.step(q, kv, kv, 1, o);
            assertEquals(Math.min(n, 10) * perToken, w.bytes());
        }
        assertEquals(10 * perToken, w.capacityBytes());
        KvCache d = new KvCache(1, 1, 4, 0);
        d.append(Tensor.zerosF64(1, 3, 1, 4), Tensor.zerosF64(1, 3, 1, 4));
        assertEquals(3 * 2 * 4 * 8, d.bytes());
        System.out.printf("kv cache bytes: %d per token (f32, B=%d HKV=%d D=%d), window 10 plateaus at %d%n",
                perToken, B, HKV, D, w.bytes());
    }

    /** A long bulk prefill into a windowed cache keeps only the last w tokens. */
    @Test
    void windowedBulkPrefillLongerThanWindow() {
        double e = check(false, 2, 30, 25, 4, 2, 8, 6, 99);
        assertTrue(e <= 1e-5, "err " + e);
    }
}
