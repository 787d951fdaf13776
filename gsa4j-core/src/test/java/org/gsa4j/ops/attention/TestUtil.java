package org.gsa4j.ops.attention;

import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.gsa4j.tensor.Tensor;

/** Shared helpers for the attention tests. */
final class TestUtil {
    private TestUtil() {}

    static Tensor randn64(SplittableRandom rng, double std, int... shape) {
        Tensor t = Tensor.zerosF64(shape);
        for (int i = 0; i < t.d.length; i++) t.d[i] = std * Tensor.gaussian(rng);
        return t;
    }

    /** Σ a·b in double. */
    static double dot(Tensor a, Tensor b) {
        double s = 0;
        for (int i = 0; i < a.size(); i++) s += a.get(i) * b.get(i);
        return s;
    }

    static double maxAbs(Tensor a) {
        double m = 0;
        for (int i = 0; i < a.size(); i++) m = Math.max(m, Math.abs(a.get(i)));
        return m;
    }

    static boolean allFinite(Tensor a) {
        for (int i = 0; i < a.size(); i++) if (!Double.isFinite(a.get(i))) return false;
        return true;
    }

    /**
     * Central finite differences of loss() w.r.t. every element of x (float64, perturbed in place);
     * returns the numeric gradient.
     */
    static Tensor numericGrad(Tensor x, Supplier<Double> loss, double h) {
        Tensor g = Tensor.zerosF64(x.shape);
        for (int i = 0; i < x.d.length; i++) {
            double x0 = x.d[i];
            x.d[i] = x0 + h;
            double lp = loss.get();
            x.d[i] = x0 - h;
            double lm = loss.get();
            x.d[i] = x0;
            g.d[i] = (lp - lm) / (2 * h);
        }
        return g;
    }
}
