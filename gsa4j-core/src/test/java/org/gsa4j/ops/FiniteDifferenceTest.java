package org.gsa4j.ops;

import static org.gsa4j.ops.OpsTestSupport.check;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.gsa.GatedSlotAttention;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Central differences (h = 1e-6) of L = Σ o·dO + Σ S_T·dS_T against the float64 back-propagation
 * through time, on small awkward shapes, initial states and final-state cotangents included.
 */
class FiniteDifferenceTest {
    private static final double H = 1e-6, TOL = 1e-6;
    private static final int B = 2, T = 5, HEADS = 2, K = 3, V = 5, M = 4;

    @Test
    void gsaBackPropagationThroughTime() {
        SplittableRandom rng = new SplittableRandom(11);
        Tensor q = randn(rng, B, T, HEADS, K), k = randn(rng, B, T, HEADS, K), v = randn(rng, B, T, HEADS, V);
        Tensor s = randn(rng, B, T, HEADS, M), g = gate(rng, B, T, HEADS, M);
        Tensor hk0 = randn(rng, B, HEADS, K, M), hv0 = randn(rng, B, HEADS, M, V);
        Tensor dO = randn(rng, B, T, HEADS, V), dhkT = randn(rng, B, HEADS, K, M), dhvT = randn(rng, B, HEADS, M, V);
        double scale = 0.7;
        Supplier<Double> loss = () -> {
            GatedSlotAttention.Result r = GatedSlotAttention.forward(q, k, v, s, g, scale, hk0, hv0);
            return dot(r.o(), dO) + dot(r.hkT(), dhkT) + dot(r.hvT(), dhvT);
        };
        GatedSlotAttention.Grads gr = GatedSlotAttention.backward(
                GatedSlotAttention.forward(q, k, v, s, g, scale, hk0, hv0), dO, dhkT, dhvT);
        System.out.println("GSA float64 BPTT vs central differences");
        List<Tensor> inputs = List.of(q, k, v, s, g, hk0, hv0);
        List<Tensor> grads = List.of(gr.dq(), gr.dk(), gr.dv(), gr.ds(), gr.dg(), gr.dhk0(), gr.dhv0());
        String[] names = {"dq", "dk", "dv", "ds", "dg", "dhk0", "dhv0"};
        for (int i = 0; i < inputs.size(); i++) check(names[i], grads.get(i), numericGradient(loss, inputs.get(i)), TOL);
    }

    @ParameterizedTest
    @EnumSource(Decay.class)
    void primitiveBackPropagationThroughTime(Decay decay) {
        SplittableRandom rng = new SplittableRandom(13 + decay.ordinal());
        int dk = K, dv = V;
        Tensor q = randn(rng, B, T, HEADS, dk), k = randn(rng, B, T, HEADS, dk), v = randn(rng, B, T, HEADS, dv);
        Tensor s0 = randn(rng, B, HEADS, dk, dv), dO = randn(rng, B, T, HEADS, dv), dST = randn(rng, B, HEADS, dk, dv);
        Gate gate = switch (decay) {
            case KEY -> Gate.key(gate(rng, B, T, HEADS, dk));
            case VALUE -> Gate.value(gate(rng, B, T, HEADS, dv));
            case SCALAR -> Gate.scalar(new double[] {Math.log(0.9), Math.log(0.6)});
        };
        Supplier<Double> loss = () -> {
            GatedLinearAttention.Result r = GatedLinearAttention.forward(gate, q, k, v, s0);
            return dot(r.o(), dO) + dot(r.sT(), dST);
        };
        GatedLinearAttention.Grads gr = GatedLinearAttention.backward(
                GatedLinearAttention.forward(gate, q, k, v, s0).saved(), dO, dST);
        System.out.println("primitive " + decay + " float64 BPTT vs central differences");
        check("dq", gr.dq(), numericGradient(loss, q), TOL);
        check("dk", gr.dk(), numericGradient(loss, k), TOL);
        check("dv", gr.dv(), numericGradient(loss, v), TOL);
        check("ds0", gr.ds0(), numericGradient(loss, s0), TOL);
        if (decay != Decay.SCALAR) check("dg", gr.dg(), numericGradient(loss, gate.g()), TOL);
    }

    /** ∂loss/∂x by central differences, perturbing x in place. */
    private static Tensor numericGradient(Supplier<Double> loss, Tensor x) {
        Tensor grad = Tensor.zerosF64(x.shape);
        for (int i = 0; i < x.d.length; i++) {
            double keep = x.d[i];
            x.d[i] = keep + H;
            double up = loss.get();
            x.d[i] = keep - H;
            double down = loss.get();
            x.d[i] = keep;
            grad.d[i] = (up - down) / (2 * H);
        }
        return grad;
    }

    private static double dot(Tensor a, Tensor b) {
        double sum = 0;
        for (int i = 0; i < a.d.length; i++) sum += a.d[i] * b.d[i];
        return sum;
    }

    private static Tensor randn(SplittableRandom rng, int... shape) {
        return OpsTestSupport.randn(rng, shape).toF64();
    }

    /** Log-decays in (−2, 0): strong enough that dg is not negligible. */
    private static Tensor gate(SplittableRandom rng, int... shape) {
        Tensor g = Tensor.zerosF64(shape);
        for (int i = 0; i < g.d.length; i++) g.d[i] = -2 * rng.nextDouble();
        return g;
    }
}
