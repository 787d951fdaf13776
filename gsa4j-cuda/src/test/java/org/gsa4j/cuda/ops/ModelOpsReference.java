package org.gsa4j.cuda.ops;

import static org.gsa4j.cuda.ops.GpuTestSupport.f64;

import java.util.LinkedHashMap;
import java.util.Map;
import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.ops.CrossEntropy;
import org.gsa4j.ops.Hgrn2Gate;
import org.gsa4j.ops.ShortConv;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.train.AdamW;

/**
 * The answers the GPU model kernels are held to: the CPU engine's ops (gsa4j-core) run in float64 on the float32
 * inputs, their gradients from the engine's own backward on a tape, each output given its cotangent by
 * {@link Functions#sumProduct}. Shared by the emulated and the GPU tests.
 */
final class ModelOpsReference {
    private ModelOpsReference() {}

    record RmsNorm(Tensor y, Tensor h, Tensor dh, Tensor dw) {}

    /** h = x + res (x when res is null), y = RMSNorm(h) ⊙ w; dh, dw for the cotangents dy (of y) and dhNext (of h). */
    static RmsNorm rmsNorm(Tensor x, Tensor res, Tensor w, double eps, Tensor dy, Tensor dhNext) {
        Tape tape = Tape.recording();
        Var xv = tape.leaf(f64(x), true), wv = w == null ? null : tape.leaf(f64(w), true);
        Var h = res == null ? xv : Functions.add(tape, xv, tape.leaf(f64(res), true));
        Var y = org.gsa4j.ops.RmsNorm.apply(tape, h, wv, eps);
        Var loss = Functions.sumProduct(tape, y, f64(dy));
        if (dhNext != null) loss = Functions.add(tape, loss, Functions.sumProduct(tape, h, f64(dhNext)));
        tape.backward(loss);
        return new RmsNorm(y.value, h.value, xv.grad(), wv == null ? null : wv.grad());
    }

    record Swiglu(Tensor y, Tensor da, Tensor db) {}

    static Swiglu swiglu(Tensor a, Tensor b, Tensor dy) {
        Tape tape = Tape.recording();
        Var av = tape.leaf(f64(a), true), bv = tape.leaf(f64(b), true);
        Var y = Functions.swiglu(tape, av, bv);
        tape.backward(Functions.sumProduct(tape, y, f64(dy)));
        return new Swiglu(y.value, av.grad(), bv.grad());
    }

    record Embedding(Tensor x, Tensor dtable) {}

    /** x = table[ids]; dtable = dtable0 + the gradient for the cotangent dx (the kernels accumulate). */
    static Embedding embedding(Tensor table, int[] ids, Tensor dx, Tensor dtable0) {
        Tape tape = Tape.recording();
        Var t = tape.leaf(f64(table), true);
        Var x = Functions.embedding(tape, t, ids);
        tape.backward(Functions.sumProduct(tape, x, f64(dx)));
        Tensor dtable = f64(dtable0).copy();
        dtable.addInPlace(t.grad());
        return new Embedding(x.value, dtable);
    }

    record SlotGate(Tensor g, Tensor s, Tensor df) {}

    static SlotGate slotGate(Tensor f, double tau, Tensor dg, Tensor ds) {
        Tape tape = Tape.recording();
        Var fv = tape.leaf(f64(f), true);
        Var[] gs = org.gsa4j.ops.gsa.SlotGate.apply(tape, fv, tau);
        tape.backward(Functions.add(tape, Functions.sumProduct(tape, gs[0], f64(dg)), Functions.sumProduct(tape, gs[1], f64(ds))));
        return new SlotGate(gs[0].value, gs[1].value, fv.grad());
    }

    record GlaGate(Tensor g, Tensor dx) {}

    /** GLA's gate as the layer computes it: logsigmoid(x)/τ, then clamp_min when it is finite. */
    static GlaGate glaGate(Tensor x, double tau, double clampMin, Tensor dg) {
        Tape tape = Tape.recording();
        Var xv = tape.leaf(f64(x), true);
        Var g = Functions.logSigmoid(tape, xv, tau);
        if (Double.isFinite(clampMin)) g = Functions.clampMin(tape, g, clampMin);
        tape.backward(Functions.sumProduct(tape, g, f64(dg)));
        return new GlaGate(g.value, xv.grad());
    }

    record Hgrn2(Tensor g, Tensor k, Tensor df, Tensor dLowerBounds) {}

    /**
     * HGRN2's gate of layer {@code layer} (no bound in layer 0) from the model's lower_bounds [L, D]; df and
     * dLowerBounds0 + the lower bounds' gradient for the cotangents dg, dk.
     */
    static Hgrn2 hgrn2(Tensor f, Tensor lowerBounds, int layer, Tensor dg, Tensor dk, Tensor dLowerBounds0) {
        Tape tape = Tape.recording();
        Var fv = tape.leaf(f64(f), true), x = tape.leaf(f64(lowerBounds), true);
        Var lb = layer == 0 ? null : Hgrn2Gate.lowerBound(tape, x, layer);
        Var[] gk = Hgrn2Gate.apply(tape, fv, lb);
        tape.backward(Functions.add(tape, Functions.sumProduct(tape, gk[0], f64(dg)), Functions.sumProduct(tape, gk[1], f64(dk))));
        Tensor dx = f64(dLowerBounds0).copy();
        if (x.grad() != null) dx.addInPlace(x.grad());
        return new Hgrn2(gk[0].value, gk[1].value, fv.grad(), dx);
    }

    record Conv(Tensor y, Tensor next, Tensor dx, Tensor dw) {}

    /**
     * y = act(conv(x)) from the cache (null = zeros) and the next cache; without a cache also dx, dw (the training
     * backward) for the cotangent dy. w [C, 1, W].
     */
    static Conv shortConv(Tensor x, Tensor w, Tensor cache, boolean silu, Tensor dy) {
        int width = w.dim(2);
        if (cache != null) {
            Tensor u = ShortConv.forward(f64(x), f64(w), f64(cache));
            if (silu) for (int i = 0; i < u.size(); i++) u.set(i, u.get(i) / (1 + Math.exp(-u.get(i))));
            return new Conv(u, ShortConv.nextCache(f64(x), f64(cache), width), null, null);
        }
        Tape tape = Tape.recording();
        Var xv = tape.leaf(f64(x), true), wv = tape.leaf(f64(w), true);
        Var y = ShortConv.apply(tape, xv, wv);
        if (silu) y = Functions.silu(tape, y);
        tape.backward(Functions.sumProduct(tape, y, f64(dy)));
        return new Conv(y.value, ShortConv.nextCache(f64(x), null, width), xv.grad(), wv.grad());
    }

    record CrossEntropyResult(double loss, Tensor dh, Tensor dw) {}

    /** The mean cross-entropy of h·wᵀ; dh and dw0 + dw for the cotangent lossScale. */
    static CrossEntropyResult crossEntropy(Tensor h, Tensor w, int[] targets, double lossScale, Tensor dw0) {
        Tape tape = Tape.recording();
        Var hv = tape.leaf(f64(h), true), wv = tape.leaf(f64(w), true);
        Var loss = CrossEntropy.apply(tape, Functions.linear(tape, hv, wv), targets, CudaCrossEntropy.IGNORE_INDEX);
        tape.backward(Functions.scale(tape, loss, lossScale));
        Tensor dw = f64(dw0).copy();
        dw.addInPlace(wv.grad());
        return new CrossEntropyResult(loss.value.get(0), hv.grad(), dw);
    }

    record Optimizer(Tensor p, Tensor m, Tensor v, double[] norms) {}

    /**
     * The CPU trainer's steps on one parameter p: step t takes the gradient grads[t−1], its norm over {grads[t−1], e}
     * (e: the rest of the model's gradients) as Trainer forms it, the clipping factor, then train.AdamW.
     */
    static Optimizer adamw(Tensor p, Tensor e, Tensor[] grads, double lr, double wd, boolean decays, double beta1, double beta2,
                           double eps, double invAccum, double maxNorm) {
        AdamW opt = new AdamW(beta1, beta2, eps, wd, name -> decays);
        Map<String, Tensor> params = new LinkedHashMap<>(Map.of("p", p.copy()));
        double[] norms = new double[grads.length];
        for (int t = 0; t < grads.length; t++) {
            double sum = 0;
            for (Tensor g : new Tensor[] {grads[t], e}) for (float x : g.f) sum += (double) x * x;
            double norm = Math.sqrt(sum) * invAccum;
            norms[t] = norm;
            double clip = maxNorm > 0 && norm > maxNorm ? maxNorm / (norm + 1e-6) : 1.0;
            opt.step(params, Map.of("p", grads[t].f), lr, invAccum * clip);
        }
        Map<String, Tensor> state = opt.stateTensors(params);
        return new Optimizer(params.get("p"), state.get("exp_avg.p"), state.get("exp_avg_sq.p"), norms);
    }
}
