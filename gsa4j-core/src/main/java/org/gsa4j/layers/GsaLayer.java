package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.config.GsaConfig;
import org.gsa4j.config.HeadShape;
import org.gsa4j.ops.RmsNorm;
import org.gsa4j.ops.gsa.GatedSlotAttention;
import org.gsa4j.ops.gsa.SlotGate;
import org.gsa4j.tensor.MatVec;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The Gated Slot Attention layer (docs/MATH.md#gsa-layer): projections, optional short convolutions, feature
 * map on q and k, silu on v, the slot gate from the forget logits, GQA expansion, the GSA operator
 * (scale 1), then {@code o_proj(RMSNorm(silu(o)))} with the norm over all heads jointly (eps 1e-5).
 */
public final class GsaLayer implements TokenMixer {
    /** The fused output norm's eps is hard-wired in the reference (docs/MATH.md#gsa-layer). */
    private static final double OUTPUT_NORM_EPS = 1e-5;

    private final GsaConfig c;
    private final HeadShape hs;

    public GsaLayer(GsaConfig config) {
        this.c = config;
        this.hs = config.heads();
    }

    @Override
    public List<ParamSpec> params() {
        int d = c.hiddenSize(), kvK = hs.kvKeyDim(), kvV = hs.kvValueDim();
        List<ParamSpec> specs = new ArrayList<>(List.of(
                ParamSpec.matrix("q_proj.weight", hs.keyDim(), d),
                ParamSpec.matrix("k_proj.weight", kvK, d),
                ParamSpec.matrix("v_proj.weight", kvV, d),
                ParamSpec.matrix("f_proj.weight", c.numKvHeads() * c.numSlots(), d)));
        if (c.elementwiseAffine()) specs.add(ParamSpec.ones("g_norm.weight", d));
        specs.add(ParamSpec.matrix("o_proj.weight", d, hs.valueDim()));
        if (c.useShortConv()) ShortConvs.addParams(specs, ShortConvs.QKV, c.convSize(), hs.keyDim(), kvK, kvV);
        if (c.featureMap().equals("t2r")) specs.add(ParamSpec.matrix("feature_map.layer.weight", hs.headKDim(), hs.headKDim()));
        return specs;
    }

    @Override
    public Var forward(Tape tape, ParamScope p, Var x, MixerState st) {
        State state = (State) st;
        int b = x.value.dim(0), t = x.value.dim(1);
        int h = c.numHeads(), hkv = c.numKvHeads(), dk = hs.headKDim(), dv = hs.headVDim(), m = c.numSlots();

        Var[] qkv = Projections.qkv(tape, p, x, c.useShortConv(), state == null ? null : state.conv);
        Var f = Functions.linear(tape, x, p.get("f_proj.weight"));
        Var q = featureMap(tape, p, Functions.reshape(tape, qkv[0], b, t, h, dk));
        Var k = featureMap(tape, p, Functions.reshape(tape, qkv[1], b, t, hkv, dk));
        Var v = Functions.silu(tape, Functions.reshape(tape, qkv[2], b, t, hkv, dv));
        Var[] gate = SlotGate.apply(tape, Functions.reshape(tape, f, b, t, hkv, m), c.gateLogitNormalizer());
        Var g = gate[0], s = gate[1];

        int groups = hs.groups();
        k = Functions.repeatHeads(tape, k, groups);
        v = Functions.repeatHeads(tape, v, groups);
        g = Functions.repeatHeads(tape, g, groups);
        s = Functions.repeatHeads(tape, s, groups);

        Var o = state == null
                ? GatedSlotAttention.apply(tape, q, k, v, s, g, 1.0)
                : tape.constant(decode(q.value, k.value, v.value, s.value, g.value, state));
        o = Functions.silu(tape, Functions.reshape(tape, o, b, t, hs.valueDim()));
        o = RmsNorm.apply(tape, o, p.optional("g_norm.weight"), OUTPUT_NORM_EPS);
        return Functions.linear(tape, o, p.get("o_proj.weight"));
    }

    private Var featureMap(Tape tape, ParamScope p, Var x) {
        return switch (c.featureMap()) {
            case "swish" -> Functions.silu(tape, x);
            case "relu" -> Functions.relu(tape, x);
            case "t2r" -> Functions.relu(tape, Functions.linear(tape, x, p.get("feature_map.layer.weight")));
            default -> throw new IllegalStateException(c.featureMap());
        };
    }

    /** Prefill through the chunk form, single tokens through the recurrent step; the state moves on. */
    private Tensor decode(Tensor q, Tensor k, Tensor v, Tensor s, Tensor g, State state) {
        int b = q.dim(0), t = q.dim(1), h = c.numHeads();
        if (t == 1) {
            Tensor o = Tensor.zeros(b, 1, h, hs.headVDim());
            GatedSlotAttention.step(q.reshape(b, h, hs.headKDim()), k.reshape(b, h, hs.headKDim()),
                    v.reshape(b, h, hs.headVDim()), s.reshape(b, h, c.numSlots()), g.reshape(b, h, c.numSlots()),
                    1.0, state.hk, state.hv, o.reshape(b, h, hs.headVDim()));
            return o;
        }
        GatedSlotAttention.Result r = GatedSlotAttention.forward(q, k, v, s, g, 1.0, state.hk, state.hv);
        state.hk = r.hkT();
        state.hv = r.hvT();
        return r.o();
    }

    @Override
    public MixerState newState(int batch) {
        State s = new State();
        s.hk = Tensor.zeros(batch, c.numHeads(), hs.headKDim(), c.numSlots());
        s.hv = Tensor.zeros(batch, c.numHeads(), c.numSlots(), hs.headVDim());
        if (c.useShortConv()) s.conv = ShortConvs.zeroCaches(batch, c.convSize(), hs.keyDim(), hs.kvKeyDim(), hs.kvValueDim());
        return s;
    }

    @Override
    public Stepper stepper(Function<String, Tensor> params, int batch) {
        return new Step(params, batch);
    }

    /**
     * The decode step of {@link #forward} for T = 1 on preallocated buffers: the same projections,
     * convolutions, feature map, gate and output norm, with the recurrent operator step between.
     */
    private final class Step implements Stepper {
        private final Projections in;
        private final ShortConvs.Step conv;
        private final Tensor featureW, gNorm, oProj;
        private final float[] q, k, v, f, s, fm, o, normed;
        private final GroupedHeads grouped;
        private final RecurrentStep recurrence;

        Step(Function<String, Tensor> params, int batch) {
            int b = batch, h = c.numHeads(), dk = hs.headKDim(), dv = hs.headVDim(), m = c.numSlots();
            in = new Projections(params, b, "q_proj.weight", "k_proj.weight", "v_proj.weight", "f_proj.weight");
            q = in.out(0);
            k = in.out(1);
            v = in.out(2);
            f = in.out(3);
            s = new float[f.length];
            conv = c.useShortConv() ? new ShortConvs.Step(params, ShortConvs.QKV, true, q, k, v) : null;
            featureW = c.featureMap().equals("t2r") ? params.apply("feature_map.layer.weight") : null;
            fm = new float[b * h * dk];
            gNorm = c.elementwiseAffine() ? params.apply("g_norm.weight") : null;
            oProj = params.apply("o_proj.weight");
            grouped = new GroupedHeads(c.numKvHeads(), hs.groups());
            Tensor kT = Tensor.of(grouped.of(k, dk), b, h, dk), vT = Tensor.of(grouped.of(v, dv), b, h, dv);
            Tensor gT = Tensor.of(grouped.of(f, m), b, h, m), sT = Tensor.of(grouped.of(s, m), b, h, m);
            Tensor qT = Tensor.of(q, b, h, dk);
            o = new float[b * h * dv];
            normed = new float[b * h * dv];
            Tensor oT = Tensor.of(o, b, h, dv);
            recurrence = new RecurrentStep(h, (st, row, stateRow) -> {
                State state = (State) st;
                GatedSlotAttention.step(qT, kT, vT, sT, gT, 1.0, row, state.hk, state.hv, stateRow, oT);
            });
        }

        @Override
        public void step(float[] x, StepRows rows, float[] out) {
            int b = rows.rows();
            in.multiply(x, b);
            if (conv != null) conv.run(rows, st -> ((State) st).conv);
            featureMap(q, b * hs.keyDim());
            featureMap(k, b * hs.kvKeyDim());
            VectorOps.siluInPlace(v, 0, b * hs.kvValueDim());
            SlotGate.step(f, s, b, c.numKvHeads() * c.numSlots(), c.gateLogitNormalizer());
            grouped.expand(b);
            recurrence.run(rows);   // the operator per (sequence, head), heads across the cores
            VectorOps.siluInPlace(o, 0, b * hs.valueDim());
            RmsNorm.step(o, gNorm == null ? null : gNorm.f, OUTPUT_NORM_EPS, b, hs.valueDim(), normed);
            MatVec.multiply(normed, 0, b, oProj, out, 0);
        }

        /** The feature map over the first n values of x (heads of dk of all rows). */
        private void featureMap(float[] x, int n) {
            switch (c.featureMap()) {
                case "swish" -> VectorOps.siluInPlace(x, 0, n);
                case "relu" -> VectorOps.reluInPlace(x, 0, n);
                case "t2r" -> {
                    MatVec.multiply(x, 0, n / hs.headKDim(), featureW, fm, 0);
                    System.arraycopy(fm, 0, x, 0, n);
                    VectorOps.reluInPlace(x, 0, n);
                }
                default -> throw new IllegalStateException(c.featureMap());
            }
        }
    }

    /** Per layer: the key and value slot memories (per query head) and the convolution caches. */
    static final class State implements MixerState {
        Tensor hk, hv;
        Tensor[] conv;

        @Override
        public MixerState copy() {
            State s = new State();
            s.hk = hk.copy();
            s.hv = hv.copy();
            if (conv != null) {
                s.conv = new Tensor[conv.length];
                for (int i = 0; i < conv.length; i++) s.conv[i] = conv[i].copy();
            }
            return s;
        }

        @Override
        public long bytes() {
            long n = (long) hk.size() + hv.size();
            if (conv != null) for (Tensor t : conv) n += t.size();
            return 4 * n;
        }

        @Override
        public long bytesReadPerToken() {
            return 2 * bytes();
        }

        /** GSA has no position-dependent part: nothing to move. */
        @Override
        public void skip(int tokens, java.util.SplittableRandom rng) {}

        @Override
        public void save(Writer out) {
            out.tensor("hk", hk);
            out.tensor("hv", hv);
            for (int i = 0; conv != null && i < conv.length; i++) out.tensor("conv" + i, conv[i]);
        }

        @Override
        public void load(Reader in) {
            hk = in.tensor("hk", hk.shape);
            hv = in.tensor("hv", hv.shape);
            for (int i = 0; conv != null && i < conv.length; i++) conv[i] = in.tensor("conv" + i, conv[i].shape);
        }
    }
}
