package org.gsa4j.train;

import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** AdamW and the learning-rate schedule against values worked out by hand. */
class OptimTest {

    @Test
    void scheduleWarmsUpLinearlyThenFollowsTheCosineToTheFloor() {
        LrSchedule s = new LrSchedule(1.0, 0.1, 4, 14);
        assertEquals(0.25, s.at(0), 1e-15);
        assertEquals(0.5, s.at(1), 1e-15);
        assertEquals(1.0, s.at(3), 1e-15);
        assertEquals(1.0, s.at(4), 1e-15);          // cosine starts at the peak
        assertEquals(0.55, s.at(9), 1e-12);         // half way: floor + (peak − floor)/2
        assertEquals(0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * 0.2)), s.at(6), 1e-12); // p = (6 − 4)/10
        assertEquals(0.1, s.at(14), 1e-15);
        assertEquals(0.1, s.at(1000), 1e-15);
        LrSchedule none = new LrSchedule(2.0, 0.0, 0, 10);
        assertEquals(2.0, none.at(0), 1e-15);
        assertEquals(1.0, none.at(5), 1e-12);
    }

    @Test
    void adamwMatchesHandComputedUpdates() {
        Map<String, Tensor> params = new LinkedHashMap<>();
        params.put("w", Tensor.of(new float[] {1.0f, -2.0f}, 1, 2));      // a matrix: decayed
        params.put("norm.weight", Tensor.of(new float[] {1.0f}, 1));       // a norm weight: not decayed
        AdamW opt = new AdamW(0.9, 0.999, 1e-8, 0.1, AdamW.defaultDecayRule(params));
        assertTrue(opt.decays("w"));
        assertFalse(opt.decays("norm.weight"));
        Map<String, float[]> g = new LinkedHashMap<>();
        g.put("w", new float[] {0.5f, -1.0f});
        g.put("norm.weight", new float[] {0.5f});
        // step 1: p·(1 − lr·wd) then m̂ = g, v̂ = g², so the step is lr·sign(g)
        opt.step(params, g, 0.1, 1.0);
        assertEquals(0.99 - 0.1, params.get("w").f[0], 1e-6);
        assertEquals(-1.98 + 0.1, params.get("w").f[1], 1e-6);
        assertEquals(0.9, params.get("norm.weight").f[0], 1e-6);
        // step 2, same gradient: bias-corrected moments are again g and g²
        opt.step(params, g, 0.1, 1.0);
        assertEquals(0.89 * 0.99 - 0.1, params.get("w").f[0], 1e-6);
        assertEquals(0.8, params.get("norm.weight").f[0], 1e-6);
        assertEquals(2, opt.stepCount());
        // moments by hand: m = 0.9·0.05 + 0.1·0.5 = 0.095; v = 0.999·0.00025 + 0.001·0.25 = 0.00049975
        Map<String, Tensor> st = opt.stateTensors(params);
        assertEquals(0.095, st.get("exp_avg.w").f[0], 1e-7);
        assertEquals(0.00049975, st.get("exp_avg_sq.w").f[0], 1e-9);
    }

    @Test
    void gradientScaleIsAppliedBeforeTheMoments() {
        Map<String, Tensor> params = new LinkedHashMap<>();
        params.put("w", Tensor.of(new float[] {0f, 0f}, 1, 2));
        AdamW opt = new AdamW(0.5, 0.5, 0.0, 0.0, n -> true);
        Map<String, float[]> g = Map.of("w", new float[] {4f, -2f});
        opt.step(params, g, 1.0, 0.25); // g·0.25 = [1, −0.5]; m̂/√v̂ = sign
        opt.step(params, Map.of("w", new float[] {0f, 0f}), 1.0, 1.0);
        // step 2: m = 0.25·[1,−.5] → m̂ = m/0.75 ; v = 0.25·[1,.25] → v̂ = v/0.75
        double m0 = 0.25 / 0.75, v0 = 0.25 / 0.75;
        assertEquals(-1 - m0 / Math.sqrt(v0), params.get("w").f[0], 1e-6);
    }

    @Test
    void vectorisedUpdateIsTheScalarFormulaBitForBit() {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(5);
        for (int n : new int[] {1, 7, 8, 9, 63, 65, (1 << 14) + 3, 3 * (1 << 14) + 17}) {
            float[] p = new float[n], m = new float[n], v = new float[n];
            for (int i = 0; i < n; i++) p[i] = (float) rng.nextGaussian();
            Map<String, Tensor> params = new LinkedHashMap<>();
            params.put("w", Tensor.of(p.clone(), 1, n));
            AdamW opt = new AdamW(0.9, 0.95, 1e-8, 0.1, name -> true);
            for (int step = 1; step <= 3; step++) {
                float[] g = new float[n];
                for (int i = 0; i < n; i++) g[i] = (float) (rng.nextGaussian() * Math.pow(10, rng.nextInt(-6, 3)));
                double lr = 3e-3, scale = 0.7, decay = 1 - lr * 0.1;
                double bc1 = 1 - Math.pow(0.9, step), bc2 = 1 - Math.pow(0.95, step);
                for (int i = 0; i < n; i++) {
                    double gi = g[i] * scale;
                    m[i] = (float) (0.9 * m[i] + (1 - 0.9) * gi);
                    v[i] = (float) (0.95 * v[i] + (1 - 0.95) * gi * gi);
                    p[i] = (float) (p[i] * decay - lr * (m[i] / bc1) / (Math.sqrt(v[i] / bc2) + 1e-8));
                }
                opt.step(params, Map.of("w", g), lr, scale);
                float[] got = params.get("w").f;
                for (int i = 0; i < n; i++) {
                    assertEquals(Float.floatToIntBits(p[i]), Float.floatToIntBits(got[i]), "n=" + n + " step " + step + " element " + i);
                }
            }
        }
    }

    /** A moment state set from tensors (another engine's) continues exactly as the optimizer that made them. */
    @Test
    void restoredMomentsContinueBitForBit() {
        java.util.function.Supplier<Map<String, Tensor>> fresh = () -> {
            Map<String, Tensor> p = new LinkedHashMap<>();
            p.put("w", Tensor.of(new float[] {1.0f, -2.0f, 0.25f}, 1, 3));
            p.put("norm.weight", Tensor.of(new float[] {1.0f}, 1));
            return p;
        };
        Map<String, Tensor> a = fresh.get(), b = fresh.get();
        AdamW first = new AdamW(0.9, 0.999, 1e-8, 0.1, AdamW.defaultDecayRule(a));
        AdamW second = new AdamW(0.9, 0.999, 1e-8, 0.1, AdamW.defaultDecayRule(b));
        Map<String, float[]> g = new LinkedHashMap<>();
        g.put("w", new float[] {0.5f, -1.0f, 0.125f});
        g.put("norm.weight", new float[] {0.5f});
        first.step(a, g, 0.1, 1.0);
        first.step(a, g, 0.05, 0.5);
        for (String n : a.keySet()) System.arraycopy(a.get(n).f, 0, b.get(n).f, 0, a.get(n).f.length);
        second.restore(first.stateTensors(a), first.stepCount(), b);
        assertEquals(2, second.stepCount());
        g.put("w", new float[] {-0.25f, 2.0f, 0.5f});
        first.step(a, g, 0.02, 1.0);
        second.step(b, g, 0.02, 1.0);
        for (String n : a.keySet()) assertArrayEquals(a.get(n).f, b.get(n).f, 0f, n);
        assertArrayEquals(first.stateTensors(a).get("exp_avg_sq.w").f, second.stateTensors(b).get("exp_avg_sq.w").f, 0f);
        // the tensors were copied: changing the source does not change the restored state
        Map<String, Tensor> st = first.stateTensors(a);
        second.restore(st, 3, b);
        st.get("exp_avg.w").f[0] = 42f;
        assertNotEquals(42f, second.stateTensors(b).get("exp_avg.w").f[0]);
    }

    @Test
    void restoreRefusesAStateThatIsNotThisModels() {
        Map<String, Tensor> params = new LinkedHashMap<>();
        params.put("w", Tensor.of(new float[] {1.0f, -2.0f}, 1, 2));
        AdamW opt = new AdamW(0.9, 0.999, 1e-8, 0.1, n -> true);
        org.gsa4j.Gsa4jException e = assertThrows(org.gsa4j.Gsa4jException.class,
                () -> opt.restore(Map.of("exp_avg.w", Tensor.of(new float[3], 1, 3), "exp_avg_sq.w", Tensor.of(new float[3], 1, 3)), 1, params));
        assertTrue(e.getMessage().startsWith("optimizer state: exp_avg") && e.getMessage().contains("shape [1, 3] != parameter [1, 2]"), e.getMessage());
        e = assertThrows(org.gsa4j.Gsa4jException.class, () -> opt.restore(Map.of("exp_avg.v", Tensor.of(new float[2], 1, 2)), 1, params));
        assertEquals("optimizer state: exp_avg.v: optimizer state for a parameter the model does not have", e.getMessage());
        e = assertThrows(org.gsa4j.Gsa4jException.class, () -> opt.restore(Map.of("exp_avg.w", Tensor.of(new float[2], 1, 2)), 1, params));
        assertEquals("optimizer state: exp_avg and exp_avg_sq name different parameters", e.getMessage());
        assertEquals(0, opt.stepCount(), "a refused state changes nothing");
    }
}
