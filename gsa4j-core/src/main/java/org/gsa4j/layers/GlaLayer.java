package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.config.GlaConfig;
import org.gsa4j.config.HeadShape;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.tensor.MatVec;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Gated Linear Attention (docs/MATH.md#gla-layer): q, k, v projections (optionally short conv + silu), the
 * low-rank forget gate {@code gk = (x W0ᵀ) W1ᵀ + b1} with {@code log a = logsigmoid(gk)/16}
 * (optionally clamped from below), optional feature map on q and k, GQA expansion, the primitive
 * with the decay on the key axis and {@code scale = head_k_dim^-0.5}, then per head
 * {@code RMSNorm(o; eps = norm_eps) ⊙ w ⊙ swish(g)} and {@code o_proj}.
 */
public final class GlaLayer implements TokenMixer {

    /** The low-rank forget gate: {@code gk_proj.0 [16, d]}, {@code gk_proj.1 [key_dim/G, 16] + bias}. */
    static final int GATE_LOW_RANK_DIM = 16;
    /** The gate's normaliser: {@code log a = logsigmoid(gk) / 16}. */
    static final double GATE_LOGIT_NORMALIZER = 16;

    private final GlaConfig c;
    private final HeadShape hs;
    private final OutputGate output;

    public GlaLayer(GlaConfig config) {
        this.c = config;
        this.hs = config.heads();
        this.output = new OutputGate(config.gateNormName(), config.elementwiseAffine(), config.normEps(), config.useOutputGate(),
                config.numHeads(), hs.headVDim());
    }

    @Override
    public List<ParamSpec> params() {
        int d = c.hiddenSize(), r = GATE_LOW_RANK_DIM;
        List<ParamSpec> specs = new ArrayList<>(List.of(
                ParamSpec.matrix("q_proj.weight", hs.keyDim(), d),
                ParamSpec.matrix("k_proj.weight", hs.kvKeyDim(), d),
                ParamSpec.matrix("v_proj.weight", hs.kvValueDim(), d)));
        if (c.useOutputGate()) specs.add(ParamSpec.matrix("g_proj.weight", hs.valueDim(), d));
        specs.add(ParamSpec.matrix("gk_proj.0.weight", r, d));
        specs.add(ParamSpec.matrix("gk_proj.1.weight", hs.kvKeyDim(), r));
        specs.add(ParamSpec.zeros("gk_proj.1.bias", hs.kvKeyDim()));
        if (c.elementwiseAffine()) specs.add(ParamSpec.ones(c.gateNormName(), hs.headVDim()));
        specs.add(ParamSpec.matrix("o_proj.weight", d, hs.valueDim()));
        if (c.useShortConv()) ShortConvs.addParams(specs, ShortConvs.QKV, c.convSize(), hs.keyDim(), hs.kvKeyDim(), hs.kvValueDim());
        return specs;
    }

    @Override
    public Var forward(Tape tape, ParamScope p, Var x, MixerState st) {
        LinearState state = (LinearState) st;
        int b = x.value.dim(0), t = x.value.dim(1);
        int h = c.numHeads(), hkv = c.numKvHeads(), dk = hs.headKDim(), dv = hs.headVDim();

        Var[] qkv = Projections.qkv(tape, p, x, c.useShortConv(), state == null ? null : state.conv);
        Var gk = Functions.linear(tape, Functions.linear(tape, x, p.get("gk_proj.0.weight")), p.get("gk_proj.1.weight"));
        gk = Functions.addBias(tape, gk, p.get("gk_proj.1.bias"));

        Var q = FeatureMaps.apply(tape, c.featureMap(), Functions.reshape(tape, qkv[0], b, t, h, dk));
        Var k = FeatureMaps.apply(tape, c.featureMap(), Functions.reshape(tape, qkv[1], b, t, hkv, dk));
        Var v = Functions.reshape(tape, qkv[2], b, t, hkv, dv);
        Var g = Functions.logSigmoid(tape, Functions.reshape(tape, gk, b, t, hkv, dk), GATE_LOGIT_NORMALIZER);
        if (c.clampMin() != null) g = Functions.clampMin(tape, g, c.clampMin());

        k = Functions.repeatHeads(tape, k, hs.groups());
        v = Functions.repeatHeads(tape, v, hs.groups());
        g = Functions.repeatHeads(tape, g, hs.groups());
        q = Functions.scale(tape, q, 1.0 / Math.sqrt(dk));

        Var o = state == null
                ? GatedLinearAttention.apply(tape, Decay.KEY, q, k, v, g)
                : tape.constant(state.run(Gate.key(g.value), q.value, k.value, v.value));
        o = output.apply(tape, p, x, o);
        return Functions.linear(tape, Functions.reshape(tape, o, b, t, hs.valueDim()), p.get("o_proj.weight"));
    }

    @Override
    public MixerState newState(int batch) {
        return new LinearState(batch, c.numHeads(), hs.headKDim(), hs.headVDim(),
                c.useShortConv() ? ShortConvs.zeroCaches(batch, c.convSize(), hs.keyDim(), hs.kvKeyDim(), hs.kvValueDim()) : null);
    }

    @Override
    public Stepper stepper(Function<String, Tensor> params, int batch) {
        return new Step(params, batch);
    }

    /**
     * {@link #forward} for T = 1 on preallocated buffers: the projections (and the gate's first
     * low-rank half) in one dispatch, convolutions, feature map, gate, GQA expansion, the
     * primitive's recurrent step, the gated output norm and {@code o_proj}.
     */
    private final class Step implements Stepper {
        private final Projections in;
        private final ShortConvs.Step conv;
        private final Tensor gateUp, gateBias, normWeight, oProj;
        private final float[] q, k, gate, gateLow, g, o, normed;
        private final GroupedHeads grouped;
        private final RecurrentStep recurrence;

        Step(Function<String, Tensor> params, int batch) {
            int b = batch, h = c.numHeads(), dk = hs.headKDim(), dv = hs.headVDim();
            in = new Projections(params, b, "q_proj.weight", "k_proj.weight", "v_proj.weight",
                    c.useOutputGate() ? "g_proj.weight" : null, "gk_proj.0.weight");
            q = in.out(0);
            k = in.out(1);
            float[] v = in.out(2);
            gate = in.out(3);
            gateLow = in.out(4);
            conv = c.useShortConv() ? new ShortConvs.Step(params, ShortConvs.QKV, true, q, k, v) : null;
            gateUp = params.apply("gk_proj.1.weight");
            gateBias = params.apply("gk_proj.1.bias");
            normWeight = c.elementwiseAffine() ? params.apply(c.gateNormName()) : null;
            oProj = params.apply("o_proj.weight");
            g = new float[b * gateUp.dim(0)];
            grouped = new GroupedHeads(c.numKvHeads(), hs.groups());
            float[] kRep = grouped.of(k, dk), vRep = grouped.of(v, dv), gRep = grouped.of(g, dk);
            o = new float[b * h * dv];
            normed = new float[b * h * dv];
            recurrence = RecurrentStep.linear(Gate.key(Tensor.of(gRep, b, h, dk)), Tensor.of(q, b, h, dk),
                    Tensor.of(kRep, b, h, dk), Tensor.of(vRep, b, h, dv), Tensor.of(o, b, h, dv));
        }

        @Override
        public void step(float[] x, StepRows rows, float[] out) {
            int b = rows.rows(), kvK = hs.kvKeyDim();
            in.multiply(x, b);
            if (conv != null) conv.run(rows, st -> ((LinearState) st).conv);
            MatVec.multiply(gateLow, 0, b, gateUp, g, 0);
            VectorOps.addRowBias(g, gateBias.f, b, kvK);
            FeatureMaps.step(c.featureMap(), q, b * hs.keyDim());
            FeatureMaps.step(c.featureMap(), k, b * kvK);
            // the forget gate row by row, so that a row's values do not depend on how many rows the pass holds
            for (int r = 0; r < b; r++) VectorOps.logSigmoid(g, r * kvK, g, r * kvK, kvK, (float) (1 / GATE_LOGIT_NORMALIZER));
            if (c.clampMin() != null) VectorOps.clampMinInPlace(g, 0, b * kvK, c.clampMin());
            grouped.expand(b);
            VectorOps.scale((float) (1.0 / Math.sqrt(hs.headKDim())), q, 0, b * hs.keyDim());
            recurrence.run(rows);
            MatVec.multiply(output.step(o, normWeight == null ? null : normWeight.f, gate, b * c.numHeads(), normed), 0, b, oProj, out, 0);
        }
    }
}
