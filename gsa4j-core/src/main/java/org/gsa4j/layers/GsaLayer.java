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
import org.gsa4j.tensor.Parallel;
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
    private static final String[] CONV_NAMES = {"q_conv1d.weight", "k_conv1d.weight", "v_conv1d.weight"};

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
        if (c.useShortConv()) {
            int[] channels = {hs.keyDim(), kvK, kvV};
            for (int i = 0; i < 3; i++) specs.add(ParamSpec.matrix(CONV_NAMES[i], channels[i], 1, c.convSize()));
        }
        if (c.featureMap().equals("t2r")) specs.add(ParamSpec.matrix("feature_map.layer.weight", hs.headKDim(), hs.headKDim()));
        return specs;
    }

    @Override
    public Var forward(Tape tape, ParamScope p, Var x, MixerState st) {
        State state = (State) st;
        int b = x.value.dim(0), t = x.value.dim(1);
        int h = c.numHeads(), hkv = c.numKvHeads(), dk = hs.headKDim(), dv = hs.headVDim(), m = c.numSlots();

        Var q = Functions.linear(tape, x, p.get("q_proj.weight"));
        Var k = Functions.linear(tape, x, p.get("k_proj.weight"));
        Var v = Functions.linear(tape, x, p.get("v_proj.weight"));
        Var f = Functions.linear(tape, x, p.get("f_proj.weight"));
        if (c.useShortConv()) {
            Tensor[] caches = state == null ? null : state.conv;
            q = Functions.silu(tape, ShortConvs.apply(tape, q, p.get(CONV_NAMES[0]), caches, 0));
            k = Functions.silu(tape, ShortConvs.apply(tape, k, p.get(CONV_NAMES[1]), caches, 1));
            v = Functions.silu(tape, ShortConvs.apply(tape, v, p.get(CONV_NAMES[2]), caches, 2));
        }
        q = featureMap(tape, p, Functions.reshape(tape, q, b, t, h, dk));
        k = featureMap(tape, p, Functions.reshape(tape, k, b, t, hkv, dk));
        v = Functions.silu(tape, Functions.reshape(tape, v, b, t, hkv, dv));
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
        private final int h, hkv, dk, dv, m, kvK, kvV;
        private final int[] channels;
        private final Tensor[] proj;
        private final float[][] projOut, convOut;
        private final Tensor[] convW;
        private final Tensor featureW, gNorm, oProj;
        private final float[] q, k, v, f, s, kRep, vRep, fRep, sRep, fm, o, normed;
        private final Tensor qT, kT, vT, sT, gT, oT;

        Step(Function<String, Tensor> params, int batch) {
            int b = batch;
            h = c.numHeads();
            hkv = c.numKvHeads();
            dk = hs.headKDim();
            dv = hs.headVDim();
            m = c.numSlots();
            kvK = hkv * dk;
            kvV = hkv * dv;
            channels = new int[] {hs.keyDim(), kvK, kvV};
            proj = new Tensor[] {params.apply("q_proj.weight"), params.apply("k_proj.weight"), params.apply("v_proj.weight"), params.apply("f_proj.weight")};
            q = new float[b * hs.keyDim()];
            k = new float[b * kvK];
            v = new float[b * kvV];
            f = new float[b * hkv * m];
            s = new float[b * hkv * m];
            projOut = new float[][] {q, k, v, f};
            convOut = new float[][] {q, k, v};
            convW = c.useShortConv() ? new Tensor[] {params.apply(CONV_NAMES[0]), params.apply(CONV_NAMES[1]), params.apply(CONV_NAMES[2])} : null;
            featureW = c.featureMap().equals("t2r") ? params.apply("feature_map.layer.weight") : null;
            fm = new float[b * h * dk];
            gNorm = c.elementwiseAffine() ? params.apply("g_norm.weight") : null;
            oProj = params.apply("o_proj.weight");
            int g = hs.groups();
            kRep = g == 1 ? k : new float[b * h * dk];
            vRep = g == 1 ? v : new float[b * h * dv];
            fRep = g == 1 ? f : new float[b * h * m];
            sRep = g == 1 ? s : new float[b * h * m];
            o = new float[b * h * dv];
            normed = new float[b * h * dv];
            qT = Tensor.of(q, b, h, dk);
            kT = Tensor.of(kRep, b, h, dk);
            vT = Tensor.of(vRep, b, h, dv);
            sT = Tensor.of(sRep, b, h, m);
            gT = Tensor.of(fRep, b, h, m);
            oT = Tensor.of(o, b, h, dv);
        }

        @Override
        public void step(float[] x, StepRows rows, float[] out) {
            int b = rows.rows();
            MatVec.multiply(x, 0, b, proj, projOut, 0);
            if (convW != null) {
                ShortConvs.step(rows, convOut, convW, channels, c.convSize(), st -> ((State) st).conv);
                for (int i = 0; i < 3; i++) VectorOps.siluInPlace(convOut[i], 0, b * channels[i]);
            }
            featureMap(q, b * h);
            featureMap(k, b * hkv);
            VectorOps.siluInPlace(v, 0, b * kvV);
            SlotGate.step(f, s, b, hkv * m, c.gateLogitNormalizer());
            int g = hs.groups();
            if (g > 1) {
                VectorOps.repeatHeads(k, b, hkv, dk, g, kRep);
                VectorOps.repeatHeads(v, b, hkv, dv, g, vRep);
                VectorOps.repeatHeads(f, b, hkv, m, g, fRep);
                VectorOps.repeatHeads(s, b, hkv, m, g, sRep);
            }
            current = rows;
            Parallel.forDecode(rows.sequences() * h, heads);   // the operator per (sequence, head), heads across the cores
            current = null;
            VectorOps.siluInPlace(o, 0, b * h * dv);
            RmsNorm.step(o, gNorm == null ? null : gNorm.f, OUTPUT_NORM_EPS, b, hs.valueDim(), normed);
            MatVec.multiply(normed, 0, b, oProj, out, 0);
        }

        private StepRows current;
        private final java.util.function.IntConsumer heads = this::head;

        /** One (sequence, head): the operator over the sequence's tokens in order, on its memories. */
        private void head(int task) {
            int seq = task / h, head = task % h, first = current.first(seq), stateRow = current.slot(seq) * h + head;
            State state = (State) current.state(seq);
            for (int r = first; r < first + current.count(seq); r++) {
                GatedSlotAttention.step(qT, kT, vT, sT, gT, 1.0, r * h + head, state.hk, state.hv, stateRow, oT);
            }
        }

        /** The feature map over rows of dk (heads of all sequences). */
        private void featureMap(float[] x, int rows) {
            switch (c.featureMap()) {
                case "swish" -> VectorOps.siluInPlace(x, 0, rows * dk);
                case "relu" -> VectorOps.reluInPlace(x, 0, rows * dk);
                case "t2r" -> {
                    MatVec.multiply(x, 0, rows, featureW, fm, 0);
                    System.arraycopy(fm, 0, x, 0, rows * dk);
                    VectorOps.reluInPlace(x, 0, rows * dk);
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
