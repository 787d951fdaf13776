package org.gsa4j.ops.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

class RotaryTest {

    /** Direct float64 evaluation of the half-split formula, angle rounded to float32 as in the reference. */
    private static Tensor direct(Tensor x, int offset, double base, boolean fp32Angle) {
        int B = x.dim(0), T = x.dim(1), H = x.dim(2), dim = x.dim(3), half = dim / 2;
        Tensor y = Tensor.zerosF64(x.shape);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int h = 0; h < H; h++)
                    for (int i = 0; i < half; i++) {
                        int o = ((b * T + t) * H + h) * dim;
                        double theta;
                        if (fp32Angle) {
                            float inv = 1.0f / (float) Math.pow(base, (float) (2 * i) / (float) dim);
                            theta = (float) (offset + t) * inv;
                        } else {
                            theta = (offset + t) * Math.pow(base, -2.0 * i / dim);
                        }
                        double x1 = x.get(o + i), x2 = x.get(o + half + i);
                        y.d[o + i] = x1 * Math.cos(theta) - x2 * Math.sin(theta);
                        y.d[o + half + i] = x2 * Math.cos(theta) + x1 * Math.sin(theta);
                    }
        return y;
    }

    @Test
    void matchesDirectFormulaWithOffsets() {
        SplittableRandom rng = new SplittableRandom(1);
        for (int dim : new int[] {2, 6, 16}) {
            for (int offset : new int[] {0, 3, 500}) {
                Rotary rot = new Rotary(dim, 10000.0);
                Tensor x = TestUtil.randn64(rng, 1, 2, 7, 3, dim);
                Tensor ref = direct(x, offset, 10000.0, true);
                Tensor y64 = x.copy();
                rot.apply(y64, offset, false);
                Tensor y32 = x.toF32();
                rot.apply(y32, offset, false);
                double e64 = Tensor.relErr(y64, ref), e32 = Tensor.relErr(y32, ref);
                // the fp32 angle vs an exact float64 angle: small, growing with position
                double eAngle = Tensor.relErr(y64, direct(x, offset, 10000.0, false));
                System.out.printf("rotary dim=%d offset=%d: f64 vs formula %.2e, f32 vs formula %.2e, (fp32 vs f64 angle %.2e)%n",
                        dim, offset, e64, e32, eAngle);
                assertTrue(e64 < 1e-14, "f64 " + e64);
                assertTrue(e32 < 1e-6, "f32 " + e32);
                assertTrue(eAngle < 1e-4, "angle " + eAngle);
            }
        }
    }

    @Test
    void positionZeroIsIdentityAndOffsetsCompose() {
        SplittableRandom rng = new SplittableRandom(2);
        Rotary rot = new Rotary(8, 10000.0);
        Tensor x = TestUtil.randn64(rng, 1, 1, 1, 2, 8);
        Tensor y = x.copy();
        rot.apply(y, 0, false);
        assertEquals(0.0, Tensor.relErr(y, x));
        // token t of a T-long call at offset o == a single token at position o+t
        Tensor seq = TestUtil.randn64(rng, 1, 2, 9, 2, 8);
        Tensor whole = seq.copy();
        rot.apply(whole, 11, false);
        double worst = 0;
        for (int t = 0; t < 9; t++) {
            Tensor one = Tensor.zerosF64(2, 2, 8);
            for (int b = 0; b < 2; b++) System.arraycopy(seq.d, (b * 9 + t) * 16, one.d, b * 16, 16);
            rot.applyStep(one, 11 + t);
            for (int b = 0; b < 2; b++)
                for (int c = 0; c < 16; c++) worst = Math.max(worst, Math.abs(one.d[b * 16 + c] - whole.d[(b * 9 + t) * 16 + c]));
        }
        System.out.printf("rotary applyStep vs apply(offset): max abs diff %.2e%n", worst);
        assertEquals(0.0, worst);
        // per-sequence offsets
        Tensor per = seq.copy();
        rot.apply(per, new int[] {11, 4}, false);
        Tensor b1 = seq.copy();
        rot.apply(b1, 4, false);
        for (int i = 0; i < 9 * 16; i++) {
            assertEquals(whole.d[i], per.d[i]);
            assertEquals(b1.d[9 * 16 + i], per.d[9 * 16 + i]);
        }
    }

    @Test
    void inverseIsTransposeAndGradientChecks() {
        SplittableRandom rng = new SplittableRandom(3);
        Rotary rot = new Rotary(6, 500.0);
        Tensor x = TestUtil.randn64(rng, 1, 2, 5, 3, 6);
        Tensor w = TestUtil.randn64(rng, 1, 2, 5, 3, 6);
        // round trip
        Tensor y = x.copy();
        rot.apply(y, 7, false);
        rot.apply(y, 7, true);
        double rt = Tensor.relErr(y, x);
        // gradient of L = <w, R x> is Rᵀ w = apply(w, inverse)
        Tensor g = w.copy();
        rot.apply(g, 7, true);
        Tensor num = TestUtil.numericGrad(x, () -> {
            Tensor r = x.copy();
            rot.apply(r, 7, false);
            return TestUtil.dot(w, r);
        }, 1e-6);
        double fd = Tensor.relErr(num, g);
        System.out.printf("rotary: round trip %.2e, backward vs finite differences %.2e%n", rt, fd);
        assertTrue(rt < 1e-15, "round trip " + rt);
        assertTrue(fd < 1e-8, "fd " + fd);
        // orthogonality: norms preserved
        Tensor r = x.copy();
        rot.apply(r, 123, false);
        assertEquals(Math.sqrt(TestUtil.dot(x, x)), Math.sqrt(TestUtil.dot(r, r)), 1e-12);
    }

    @Test
    void rejectsBadShapes() {
        assertThrows(IllegalArgumentException.class, () -> new Rotary(5, 10000));
        Rotary rot = new Rotary(4, 10000);
        assertThrows(IllegalArgumentException.class, () -> rot.apply(Tensor.zeros(1, 2, 3, 6), 0, false));
    }

    /** The decode step's rotation (angles computed for the position, no table) equals apply's, bit for bit, at long positions too. */
    @Test
    void anglesAndRotateEqualApply() {
        SplittableRandom rng = new SplittableRandom(5);
        Rotary rot = new Rotary(12, 10000.0);
        float[] cos = new float[6], sin = new float[6];
        for (int position : new int[] {0, 7, 4095, 262_143}) {
            Tensor x = TestUtil.randn64(rng, 1, 2, 1, 3, 12).toF32();
            Tensor y = x.copy();
            rot.apply(x, position, false);
            rot.angles(position, cos, sin);
            rot.rotate(y.f, 0, 6, cos, sin);
            assertArrayEquals(x.f, y.f, "position " + position);
        }
    }
}
