package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.ops.GatedLinearAttention.Gate;
import org.gsa4j.ops.attention.Rotary;

import java.util.ArrayList;
import java.util.List;

/**
 * Multi-scale retention (SPEC §4.2): q, k, v projections, optional feature map, rotary position
 * embedding on q and k (dim head_k_dim, base 10000, positions from the decoding state's offset),
 * GQA expansion, the primitive with a fixed decay {@code γ_h = 1 − 2^(−5−h)} per head and
 * {@code scale = head_k_dim^-0.5}, then the gated per-head output norm of GLA and {@code o_proj}.
 */
public final class RetNetLayer implements TokenMixer {
    private static final double ROPE_BASE = 10000.0;

    private final GlaConfig c;
    private final Rotary rotary;
    private final double[] logGamma;

    public RetNetLayer(GlaConfig config) {
        this.c = config;
        this.rotary = new Rotary(config.headKDim(), ROPE_BASE);
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
                ParamSpec.matrix("q_proj.weight", c.keyDim(), d),
                ParamSpec.matrix("k_proj.weight", c.kvKeyDim(), d),
                ParamSpec.matrix("v_proj.weight", c.kvValueDim(), d)));
        if (c.useOutputGate()) specs.add(ParamSpec.matrix("g_proj.weight", c.valueDim(), d));
        if (c.elementwiseAffine()) specs.add(ParamSpec.ones(c.gateNormName(), c.headVDim()));
        specs.add(ParamSpec.matrix("o_proj.weight", d, c.valueDim()));
        return specs;
    }

    @Override
    public Var forward(Tape tape, ParamScope p, Var x, MixerState st) {
        LinearState state = (LinearState) st;
        int b = x.value.dim(0), t = x.value.dim(1);
        int h = c.numHeads(), hkv = c.numKvHeads(), dk = c.headKDim(), dv = c.headVDim();
        int offset = state == null ? 0 : state.position;

        Var q = Functions.reshape(tape, Functions.linear(tape, x, p.get("q_proj.weight")), b, t, h, dk);
        Var k = Functions.reshape(tape, Functions.linear(tape, x, p.get("k_proj.weight")), b, t, hkv, dk);
        Var v = Functions.reshape(tape, Functions.linear(tape, x, p.get("v_proj.weight")), b, t, hkv, dv);
        q = Functions.rotary(tape, FeatureMaps.apply(tape, c.featureMap(), q), rotary, offset);
        k = Functions.rotary(tape, FeatureMaps.apply(tape, c.featureMap(), k), rotary, offset);
        k = Functions.repeatHeads(tape, k, c.groups());
        v = Functions.repeatHeads(tape, v, c.groups());
        q = Functions.scale(tape, q, 1.0 / Math.sqrt(dk));

        Var o = state == null
                ? Functions.gatedLinearAttention(tape, logGamma, q, k, v)
                : tape.constant(state.run(Gate.scalar(logGamma.clone()), q.value, k.value, v.value));
        o = OutputGate.apply(tape, p, x, o, c);
        return Functions.linear(tape, Functions.reshape(tape, o, b, t, c.valueDim()), p.get("o_proj.weight"));
    }

    @Override
    public MixerState newState(int batch) {
        return new LinearState(batch, c.numHeads(), c.headKDim(), c.headVDim(), null);
    }
}
