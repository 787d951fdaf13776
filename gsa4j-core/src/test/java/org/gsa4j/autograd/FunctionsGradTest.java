package org.gsa4j.autograd;

import org.gsa4j.ops.CrossEntropy;
import org.gsa4j.ops.Hgrn2Gate;
import org.gsa4j.ops.RmsNorm;
import org.gsa4j.ops.ShortConv;
import org.gsa4j.ops.attention.CausalAttention;
import org.gsa4j.ops.attention.Rotary;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.ops.gsa.SlotGate;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Float64 finite-difference checks of every differentiable function's hand-written backward. */
class FunctionsGradTest {
    private final SplittableRandom rng = new SplittableRandom(7);

    private Tensor rand(int... shape) {
        Tensor t = Tensor.zerosF64(shape);
        for (int i = 0; i < t.size(); i++) t.d[i] = Tensor.gaussian(rng);
        return t;
    }

    /** Checks d/dinputs of Σ f(inputs) ⊙ c for a random cotangent c. */
    private void check(String name, List<Tensor> inputs, BiFunction<Tape, List<Var>, Var> f) {
        Tensor[] cot = new Tensor[1];
        double[] errs = GradCheck.relativeErrors(inputs, (tape, vs) -> {
            Var out = f.apply(tape, vs);
            if (cot[0] == null) cot[0] = rand(out.value.shape);
            return Functions.sumProduct(tape, out, cot[0]);
        }, 1e-6);
        for (int i = 0; i < errs.length; i++) {
            System.out.printf("grad check %-14s input %d: rel err %.2e%n", name, i, errs[i]);
            assertTrue(errs[i] < 1e-7, name + " input " + i + " rel err " + errs[i]);
        }
    }

    @Test
    void everyFunctionMatchesFiniteDifferences() {
        check("linear", List.of(rand(3, 5), rand(7, 5)), (t, v) -> Functions.linear(t, v.get(0), v.get(1)));
        check("embedding", List.of(rand(6, 5)), (t, v) -> Functions.embedding(t, v.get(0), new int[] {1, 4, 1, 0}));
        check("addBias", List.of(rand(3, 5), rand(5)), (t, v) -> Functions.addBias(t, v.get(0), v.get(1)));
        check("add", List.of(rand(3, 5), rand(3, 5)), (t, v) -> Functions.add(t, v.get(0), v.get(1)));
        check("mul", List.of(rand(3, 5), rand(3, 5)), (t, v) -> Functions.mul(t, v.get(0), v.get(1)));
        check("scale", List.of(rand(3, 5)), (t, v) -> Functions.scale(t, v.get(0), -1.7));
        check("silu", List.of(rand(3, 5)), (t, v) -> Functions.silu(t, v.get(0)));
        check("relu", List.of(rand(3, 5)), (t, v) -> Functions.relu(t, v.get(0)));
        check("swiglu", List.of(rand(3, 5), rand(3, 5)), (t, v) -> Functions.swiglu(t, v.get(0), v.get(1)));
        check("rmsNorm", List.of(rand(3, 7), rand(7)), (t, v) -> RmsNorm.apply(t, v.get(0), v.get(1), 1e-5));
        check("rmsNorm/noW", List.of(rand(3, 7)), (t, v) -> RmsNorm.apply(t, v.get(0), null, 1e-6));
        check("repeatHeads", List.of(rand(2, 3, 2, 3)), (t, v) -> Functions.repeatHeads(t, v.get(0), 3));
        check("reshape", List.of(rand(2, 6)), (t, v) -> Functions.reshape(t, v.get(0), 3, 4));
        check("shortConv", List.of(rand(2, 5, 3), rand(3, 1, 4)), (t, v) -> ShortConv.apply(t, v.get(0), v.get(1)));
        check("crossEntropy", List.of(rand(5, 7)),
                (t, v) -> CrossEntropy.apply(t, v.get(0), new int[] {3, -100, 0, 6, 3}, -100));
        check("slotGate.g", List.of(rand(4, 3)), (t, v) -> SlotGate.apply(t, v.get(0), 8)[0]);
        check("slotGate.s", List.of(rand(4, 3)), (t, v) -> SlotGate.apply(t, v.get(0), 8)[1]);
        check("slotGate.g+s", List.of(rand(4, 3)), (t, v) -> {
            Var[] gs = SlotGate.apply(t, v.get(0), 3);
            return Functions.add(t, gs[0], Functions.scale(t, gs[1], 2.5));
        });
    }

    /** Values in (lo, hi), uniformly. */
    private Tensor uniform(double lo, double hi, int... shape) {
        Tensor t = Tensor.zerosF64(shape);
        for (int i = 0; i < t.size(); i++) t.d[i] = lo + (hi - lo) * rng.nextDouble();
        return t;
    }

    @Test
    void baselineFunctionsMatchFiniteDifferences() {
        check("logSigmoid", List.of(rand(3, 5)), (t, v) -> Functions.logSigmoid(t, v.get(0), 16));
        Tensor away = rand(4, 5);
        for (int i = 0; i < away.size(); i++) if (Math.abs(away.d[i] + 0.3) < 0.05) away.d[i] += 0.2;
        check("clampMin", List.of(away), (t, v) -> Functions.clampMin(t, v.get(0), -0.3));
        check("hgrnGate.g", List.of(rand(2, 3, 4)), (t, v) -> Hgrn2Gate.apply(t, v.get(0), null)[0]);
        check("hgrnGate.k", List.of(rand(2, 3, 4)), (t, v) -> Hgrn2Gate.apply(t, v.get(0), null)[1]);
        check("hgrnGate.lb", List.of(rand(2, 3, 4), uniform(0.05, 0.9, 4)), (t, v) -> {
            Var[] gk = Hgrn2Gate.apply(t, v.get(0), v.get(1));
            return Functions.add(t, gk[0], Functions.scale(t, gk[1], -1.3));
        });
        for (int layer = 0; layer < 3; layer++) {
            int l = layer;
            check("hgrnLowerBound" + l, List.of(rand(3, 4)), (t, v) -> Hgrn2Gate.lowerBound(t, v.get(0), l));
        }
        // the primitive, from zero state, T crosses nothing here (float64 = the recurrence) but GQA-free heads
        int B = 2, T = 5, H = 2, K = 3, V = 4;
        check("gla.key", List.of(rand(B, T, H, K), rand(B, T, H, K), rand(B, T, H, V), uniform(-1.5, -0.01, B, T, H, K)),
                (t, v) -> GatedLinearAttention.apply(t, GatedLinearAttention.Decay.KEY, v.get(0), v.get(1), v.get(2), v.get(3)));
        check("gla.value", List.of(rand(B, T, H, K), rand(B, T, H, K), rand(B, T, H, V), uniform(-1.5, -0.01, B, T, H, V)),
                (t, v) -> GatedLinearAttention.apply(t, GatedLinearAttention.Decay.VALUE, v.get(0), v.get(1), v.get(2), v.get(3)));
        double[] logGamma = {Math.log(1 - Math.pow(2, -5)), Math.log(0.7)};
        check("gla.scalar", List.of(rand(B, T, H, K), rand(B, T, H, K), rand(B, T, H, V)),
                (t, v) -> GatedLinearAttention.apply(t, logGamma, v.get(0), v.get(1), v.get(2)));
        Rotary rotary = new Rotary(6, 10000.0);
        check("rotary", List.of(rand(2, 4, 3, 6)), (t, v) -> rotary.apply(t, v.get(0), 7));
        check("causalAttention", List.of(rand(2, 6, 4, 3), rand(2, 6, 2, 3), rand(2, 6, 2, 3)),
                (t, v) -> CausalAttention.apply(t, v.get(0), v.get(1), v.get(2), 0.6, 0));
        check("causalAttention/w", List.of(rand(1, 7, 2, 3), rand(1, 7, 1, 3), rand(1, 7, 1, 3)),
                (t, v) -> CausalAttention.apply(t, v.get(0), v.get(1), v.get(2), 0.6, 3));
    }
}
