package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.config.HeadShape;
import org.gsa4j.config.RetNetConfig;
import org.gsa4j.ops.attention.Rotary;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.tensor.MatVec;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Multi-scale retention (docs/MATH.md#retnet-layer): q, k, v projections, optional feature map, rotary position
 * embedding on q and k (dim head_k_dim, base 10000, positions from the decoding state's offset),
 * GQA expansion, the primitive with a fixed decay {@code γ_h = 1 − 2^(−5−h)} per head and
 * {@code scale = head_k_dim^-0.5}, then the gated per-head output norm of GLA and {@code o_proj}.
 */
public final class RetNetLayer implements TokenMixer {
    private static final double ROPE_BASE = 10000.0;

    private final RetNetConfig c;
    private final HeadShape hs;
    private final OutputGate output;
    private final Rotary rotary;
    private final double[] logGamma;

    public RetNetLayer(RetNetConfig config) {
        this.c = config;
        this.hs = config.heads();
        this.output = new OutputGate(config.gateNormName(), config.elementwiseAffine(), config.normEps(), config.useOutputGate(),
                config.numHeads(), hs.headVDim());
        this.rotary = new Rotary(hs.headKDim(), ROPE_BASE);
        this.logGamma = decays(config.numHeads());
    }

    /** {@code log(1 − 2^(−5−h))}, h = 0..H−1. */
    public static double[] decays(int heads) {
        double[] g = new double[heads];
        for (int h = 0; h < heads; h++) g[h] = Math.log1p(-Math.pow(2, -5 - h));
        return g;
    }

    @Override
    public List<ParamSpec> params() {
        int d = c.hiddenSize();
        List<ParamSpec> specs = new ArrayList<>(List.of(
                ParamSpec.matrix("q_proj.weight", hs.keyDim(), d),
                ParamSpec.matrix("k_proj.weight", hs.kvKeyDim(), d),
                ParamSpec.matrix("v_proj.weight", hs.kvValueDim(), d)));
        if (c.useOutputGate()) specs.add(ParamSpec.matrix("g_proj.weight", hs.valueDim(), d));
        if (c.elementwiseAffine()) specs.add(ParamSpec.ones(c.gateNormName(), hs.headVDim()));
        specs.add(ParamSpec.matrix("o_proj.weight", d, hs.valueDim()));
        return specs;
    }

    @Override
    public Var forward(Tape tape, ParamScope p, Var x, MixerState st) {
        LinearState state = (LinearState) st;
        int b = x.value.dim(0), t = x.value.dim(1);
        int h = c.numHeads(), hkv = c.numKvHeads(), dk = hs.headKDim(), dv = hs.headVDim();
        int offset = state == null ? 0 : state.position;

        Var[] qkv = Projections.qkv(tape, p, x, false, null);
        Var q = Functions.reshape(tape, qkv[0], b, t, h, dk);
        Var k = Functions.reshape(tape, qkv[1], b, t, hkv, dk);
        Var v = Functions.reshape(tape, qkv[2], b, t, hkv, dv);
        q = rotary.apply(tape, FeatureMaps.apply(tape, c.featureMap(), q), offset);
        k = rotary.apply(tape, FeatureMaps.apply(tape, c.featureMap(), k), offset);
        k = Functions.repeatHeads(tape, k, hs.groups());
        v = Functions.repeatHeads(tape, v, hs.groups());
        q = Functions.scale(tape, q, 1.0 / Math.sqrt(dk));

        Var o = state == null
                ? GatedLinearAttention.apply(tape, logGamma, q, k, v)
                : tape.constant(state.run(Gate.scalar(logGamma.clone()), q.value, k.value, v.value));
        o = output.apply(tape, p, x, o);
        return Functions.linear(tape, Functions.reshape(tape, o, b, t, hs.valueDim()), p.get("o_proj.weight"));
    }

    @Override
    public MixerState newState(int batch) {
        return new LinearState(batch, c.numHeads(), hs.headKDim(), hs.headVDim(), null);
    }

    @Override
    public Stepper stepper(Function<String, Tensor> params, int batch) {
        return new Step(params, batch);
    }

    /**
     * {@link #forward} for T = 1 on preallocated buffers: the projections in one dispatch, feature
     * map, rotary at the state's position, GQA expansion, the primitive's recurrent step with the
     * fixed decays, the gated output norm and {@code o_proj}.
     */
    private final class Step implements Stepper {
        private final Projections in;
        private final Tensor normWeight, oProj;
        private final float[] q, k, gate, o, normed, cos, sin;
        private final GroupedHeads grouped;
        private final RecurrentStep recurrence;

        Step(Function<String, Tensor> params, int batch) {
            int b = batch, h = c.numHeads(), dk = hs.headKDim(), dv = hs.headVDim();
            in = new Projections(params, b, "q_proj.weight", "k_proj.weight", "v_proj.weight", c.useOutputGate() ? "g_proj.weight" : null);
            q = in.out(0);
            k = in.out(1);
            float[] v = in.out(2);
            gate = in.out(3);
            normWeight = c.elementwiseAffine() ? params.apply(c.gateNormName()) : null;
            oProj = params.apply("o_proj.weight");
            grouped = new GroupedHeads(c.numKvHeads(), hs.groups());
            float[] kRep = grouped.of(k, dk), vRep = grouped.of(v, dv);
            o = new float[b * h * dv];
            normed = new float[b * h * dv];
            cos = new float[dk / 2];
            sin = new float[dk / 2];
            recurrence = RecurrentStep.linear(Gate.scalar(logGamma.clone()), Tensor.of(q, b, h, dk),
                    Tensor.of(kRep, b, h, dk), Tensor.of(vRep, b, h, dv), Tensor.of(o, b, h, dv));
        }

        @Override
        public void step(float[] x, StepRows rows, float[] out) {
            int b = rows.rows(), h = c.numHeads(), hkv = c.numKvHeads(), dk = hs.headKDim();
            in.multiply(x, b);
            FeatureMaps.step(c.featureMap(), q, b * hs.keyDim());
            FeatureMaps.step(c.featureMap(), k, b * hs.kvKeyDim());
            if (rows.isLockStep()) {   // one position for the whole batch
                rotary.angles(((LinearState) rows.state(0)).position, cos, sin);
                rotary.rotate(q, 0, b * h, cos, sin);
                rotary.rotate(k, 0, b * hkv, cos, sin);
            } else {
                for (int s = 0; s < rows.sequences(); s++) {
                    int position = ((LinearState) rows.state(s)).position, first = rows.first(s);
                    for (int r = first; r < first + rows.count(s); r++) {
                        rotary.angles(position + r - first, cos, sin);
                        rotary.rotate(q, r * h * dk, h, cos, sin);
                        rotary.rotate(k, r * hkv * dk, hkv, cos, sin);
                    }
                }
            }
            grouped.expand(b);
            VectorOps.scale((float) (1.0 / Math.sqrt(dk)), q, 0, b * hs.keyDim());
            recurrence.run(rows);
            MatVec.multiply(output.step(o, normWeight == null ? null : normWeight.f, gate, b * h, normed), 0, b, oProj, out, 0);
        }
    }
}
