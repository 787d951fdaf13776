package org.gsa4j.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.gsa4j.tensor.Tensor;

/** Random inputs, gates and error reporting shared by the operator tests. */
final class OpsTestSupport {
    private OpsTestSupport() {}

    /** N(0, 1) in float32 (so that the float64 copy describes exactly the same inputs). */
    static Tensor randn(SplittableRandom rng, int... shape) {
        return Tensor.randn(rng, 1.0, shape);
    }

    enum Strength {
        /** g = logsigmoid(N(0,1)) / 8, as GSA's gates. */
        WEAK,
        /** g = −softplus(3 + 0.5·N(0,1)) ≈ −3 per step, cumulative ≈ −190 within a chunk (docs/MATH.md#how-it-is-tested). */
        STRONG,
        /** g = −softplus(7 + 0.5·N(0,1)) ≈ −7 per step (HGRN2-like): 15 steps already leave float32's range. */
        EXTREME
    }

    static Tensor logDecay(SplittableRandom rng, Strength strength, int... shape) {
        Tensor g = Tensor.zeros(shape);
        for (int i = 0; i < g.f.length; i++) {
            double x = Tensor.gaussian(rng);
            g.f[i] = (float) switch (strength) {
                case WEAK -> -softplus(-x) / 8;
                case STRONG -> -softplus(3 + 0.5 * x);
                case EXTREME -> -softplus(7 + 0.5 * x);
            };
        }
        return g;
    }

    static double softplus(double x) {
        return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
    }

    /** GSA's slot write weights s = 1 − exp(g), computed in float32. */
    static Tensor oneMinusExp(Tensor g) {
        Tensor s = Tensor.zeros(g.shape);
        for (int i = 0; i < g.f.length; i++) s.f[i] = (float) -Math.expm1(g.f[i]);
        return s;
    }

    static Tensor f64(Tensor t) {
        return t == null ? null : t.toF64();
    }

    static boolean allFinite(Tensor t) {
        for (int i = 0; i < t.size(); i++) if (!Double.isFinite(t.get(i))) return false;
        return true;
    }

    /** Prints and checks ‖actual − expected‖ / ‖expected‖ ≤ tol; returns the error. */
    static double check(String what, Tensor actual, Tensor expected, double tol) {
        assertTrue(allFinite(actual), what + ": non-finite values");
        double err = Tensor.relErr(actual, expected);
        System.out.printf("  %-48s rel err %.3e  (tol %.0e)%n", what, err, tol);
        assertTrue(err <= tol, what + ": relative error " + err + " > " + tol);
        return err;
    }
}
