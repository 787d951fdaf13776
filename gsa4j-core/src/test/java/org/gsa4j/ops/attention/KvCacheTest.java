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

    /**
     * Long contexts, where a head's tokens are attended in several blocks per range and several
     * ranges merged (and, with a window, the ring has wrapped): float32 against the float64 loop on
     * the same inputs, peaky scores (q with std 3) so that the running max moves.
     */
    @Test
    void longContextsMatchTheFloat64Loop() {
        int[][] cases = {{2, 5000, 6, 2, 20, 0}, {1, 4600, 4, 4, 16, 3000}, {1, 700, 8, 1, 64, 0}}; // B, T, HQ, HKV, D, window
        double worst = 0;
        for (int[] c : cases) {
            int B = c[0], T = c[1], HQ = c[2], HKV = c[3], D = c[4], window = c[5], steps = 5;
            SplittableRandom rng = new SplittableRandom(T);
            Tensor q = TestUtil.randn64(rng, 3, B, T, HQ, D), k = TestUtil.randn64(rng, 1, B, T, HKV, D), v = TestUtil.randn64(rng, 1, B, T, HKV, D);
            KvCache c64 = new KvCache(B, HKV, D, window), c32 = new KvCache(B, HKV, D, window);
            c64.append(slice(k, 0, T - steps), slice(v, 0, T - steps));
            c32.append(slice(k, 0, T - steps).toF32(), slice(v, 0, T - steps).toF32());
            Tensor o64 = Tensor.zerosF64(B, HQ, D), o32 = Tensor.zeros(B, HQ, D);
            for (int t = T - steps; t < T; t++) {
                c64.step(at(q, t), at(k, t), at(v, t), 1 / Math.sqrt(D), o64);
                c32.step(at(q, t).toF32(), at(k, t).toF32(), at(v, t).toF32(), 1 / Math.sqrt(D), o32);
                worst = Math.max(worst, Tensor.relErr(o32, o64));
            }
        }
        System.out.printf("kv cache long contexts (up to 5000 tokens, 16 ranges per head): f32 vs f64 max rel err %.2e%n", worst);
        assertTrue(worst <= 1e-5, "rel err " + worst);
    }

    /** A reserved cache is allocated once, at the first append, and never grows up to the reserved context; a copy is independent. */
    @Test
    void reserveSizesOnceAndCopiesAreIndependent() {
        int B = 2, HKV = 2, D = 8, HQ = 4;
        KvCache c = new KvCache(B, HKV, D, 0);
        c.reserve(300);
        assertEquals(0, c.capacityBytes());
        SplittableRandom rng = new SplittableRandom(3);
        Tensor k = TestUtil.randn64(rng, 1, B, 300, HKV, D).toF32(), v = TestUtil.randn64(rng, 1, B, 300, HKV, D).toF32();
        Tensor q = TestUtil.randn64(rng, 1, B, 300, HQ, D).toF32();
        c.append(slice(k, 0, 10), slice(v, 0, 10));
        long reserved = c.capacityBytes();
        assertEquals(2L * B * 300 * HKV * D * 4, reserved);
        Tensor o = Tensor.zeros(B, HQ, D), o2 = Tensor.zeros(B, HQ, D);
        KvCache copy = null;
        for (int t = 10; t < 300; t++) {
            c.step(at(q, t), at(k, t), at(v, t), 0.3, o);
            if (t == 150) copy = c.copy();
        }
        assertEquals(reserved, c.capacityBytes());
        c.step(at(q, 0), at(k, 0), at(v, 0), 0.3, o);
        assertTrue(c.capacityBytes() > reserved, "grows past the reserved context");
        // the copy, taken after token 150, continues as the original did from there
        KvCache again = new KvCache(B, HKV, D, 0);
        again.append(slice(k, 0, 151), slice(v, 0, 151));
        for (int t = 151; t < 160; t++) {
            copy.step(at(q, t), at(k, t), at(v, t), 0.3, o);
            again.step(at(q, t), at(k, t), at(v, t), 0.3, o2);
            assertEquals(0, Tensor.relErr(o, o2), "step " + t);
        }
        assertEquals(301, c.length());
        KvCache w = new KvCache(1, 1, 4, 8);
        w.reserve(1000);
        w.append(Tensor.zeros(1, 3, 1, 4), Tensor.zeros(1, 3, 1, 4));
        assertEquals(2L * 8 * 4 * 4, w.capacityBytes(), "a window caps the reservation");
    }
}
