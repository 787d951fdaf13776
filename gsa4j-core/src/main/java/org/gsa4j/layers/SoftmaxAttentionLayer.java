package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.config.AttentionConfig;
import org.gsa4j.ops.RmsNorm;
import org.gsa4j.ops.attention.CausalAttention;
import org.gsa4j.ops.attention.KvCache;
import org.gsa4j.ops.attention.Rotary;
import org.gsa4j.tensor.MatVec;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Causal softmax attention (docs/MATH.md#causal-softmax-attention): q, k, v projections (biases iff qkv_bias), heads
 * split, optional per-head RMSNorm of q and k, half-split rotary on q and k (positions from the KV
 * cache's length when decoding), causal softmax with {@code scale = head_dim^-0.5} and an optional
 * sliding window, GQA by head grouping, {@code o_proj}. Decoding keeps a {@link KvCache}, whose
 * size grows with the context (up to the window).
 */
public final class SoftmaxAttentionLayer implements TokenMixer {
    private final AttentionConfig c;
    private final Rotary rotary;

    public SoftmaxAttentionLayer(AttentionConfig config) {
        this.c = config;
        this.rotary = new Rotary(config.headDim(), config.ropeTheta());
    }

    /** The attention's shape (heads, RoPE base, window, biases, q/k norms). */
    public AttentionConfig config() {
        return c;
    }

    @Override
    public List<ParamSpec> params() {
        int d = c.hiddenSize(), qd = c.numHeads() * c.headDim(), kvd = c.numKvHeads() * c.headDim();
        List<ParamSpec> specs = new ArrayList<>();
        specs.add(ParamSpec.matrix("q_proj.weight", qd, d));
        if (c.qkvBias()) specs.add(ParamSpec.zeros("q_proj.bias", qd));
        specs.add(ParamSpec.matrix("k_proj.weight", kvd, d));
        if (c.qkvBias()) specs.add(ParamSpec.zeros("k_proj.bias", kvd));
        specs.add(ParamSpec.matrix("v_proj.weight", kvd, d));
        if (c.qkvBias()) specs.add(ParamSpec.zeros("v_proj.bias", kvd));
        specs.add(ParamSpec.matrix("o_proj.weight", d, qd));
        if (c.qkNorm()) {
            specs.add(ParamSpec.ones("q_norm.weight", c.headDim()));
            specs.add(ParamSpec.ones("k_norm.weight", c.headDim()));
        }
        return specs;
    }

    private Var project(Tape tape, ParamScope p, Var x, String name) {
        Var y = Functions.linear(tape, x, p.get(name + ".weight"));
        return c.qkvBias() ? Functions.addBias(tape, y, p.get(name + ".bias")) : y;
    }

    @Override
    public Var forward(Tape tape, ParamScope p, Var x, MixerState st) {
        State state = (State) st;
        int b = x.value.dim(0), t = x.value.dim(1);
        int h = c.numHeads(), hkv = c.numKvHeads(), hd = c.headDim();
        int offset = state == null ? 0 : state.cache.length();

        Var q = Functions.reshape(tape, project(tape, p, x, "q_proj"), b, t, h, hd);
        Var k = Functions.reshape(tape, project(tape, p, x, "k_proj"), b, t, hkv, hd);
        Var v = Functions.reshape(tape, project(tape, p, x, "v_proj"), b, t, hkv, hd);
        if (c.qkNorm()) {
            q = RmsNorm.apply(tape, q, p.get("q_norm.weight"), AttentionConfig.QK_NORM_EPS);
            k = RmsNorm.apply(tape, k, p.get("k_norm.weight"), AttentionConfig.QK_NORM_EPS);
        }
        q = rotary.apply(tape, q, offset);
        k = rotary.apply(tape, k, offset);
        double scale = 1.0 / Math.sqrt(hd);

        Var o = state == null
                ? CausalAttention.apply(tape, q, k, v, scale, c.window())
                : tape.constant(decode(q.value, k.value, v.value, scale, state.cache));
        return Functions.linear(tape, Functions.reshape(tape, o, b, t, h * hd), p.get("o_proj.weight"));
    }

    /**
     * From an empty cache, a prompt is attended in one causal pass and then appended; otherwise every
     * token goes through the cache one step at a time.
     */
    private Tensor decode(Tensor q, Tensor k, Tensor v, double scale, KvCache cache) {
        int b = q.dim(0), t = q.dim(1), h = q.dim(2), hkv = k.dim(2), hd = q.dim(3);
        if (cache.length() == 0 && t > 1) {
            Tensor o = CausalAttention.forward(q, k, v, scale, c.window()).o();
            cache.append(k, v);
            return o;
        }
        Tensor o = Tensor.zeros(b, t, h, hd);
        Tensor qs = Tensor.zeros(b, h, hd), ks = Tensor.zeros(b, hkv, hd), vs = Tensor.zeros(b, hkv, hd), os = Tensor.zeros(b, h, hd);
        for (int i = 0; i < t; i++) {
            for (int bi = 0; bi < b; bi++) {
                System.arraycopy(q.f, (bi * t + i) * h * hd, qs.f, bi * h * hd, h * hd);
                System.arraycopy(k.f, (bi * t + i) * hkv * hd, ks.f, bi * hkv * hd, hkv * hd);
                System.arraycopy(v.f, (bi * t + i) * hkv * hd, vs.f, bi * hkv * hd, hkv * hd);
            }
            cache.step(qs, ks, vs, scale, os);
            for (int bi = 0; bi < b; bi++) System.arraycopy(os.f, bi * h * hd, o.f, (bi * t + i) * h * hd, h * hd);
        }
        return o;
    }

    @Override
    public MixerState newState(int batch) {
        return new State(new KvCache(batch, c.numKvHeads(), c.headDim(), c.window()));
    }

    @Override
    public Stepper stepper(Function<String, Tensor> params, int batch) {
        return new Step(params, batch);
    }

    /**
     * {@link #forward} for T = 1 on preallocated buffers: q, k, v in one dispatch, biases, q/k
     * norms, rotary at the cache's length, the cache's step (append, attend), {@code o_proj}. A
     * lock-step batch steps its one cache once; otherwise every sequence's tokens go through its
     * own cache in order, by way of one-row buffers.
     */
    private final class Step implements Stepper {
        private final int h, hkv, hd;
        private final Projections in;
        private final float[][] projOut;
        private final Tensor[] bias;
        private final Tensor qNorm, kNorm, oProj;
        private final float[] q, k, v, o, cos, sin;
        private final Tensor qT, kT, vT, oT, q1, k1, v1, o1;

        Step(Function<String, Tensor> params, int batch) {
            int b = batch;
            h = c.numHeads();
            hkv = c.numKvHeads();
            hd = c.headDim();
            in = new Projections(params, b, "q_proj.weight", "k_proj.weight", "v_proj.weight");
            q = in.out(0);
            k = in.out(1);
            v = in.out(2);
            o = new float[b * h * hd];
            projOut = new float[][] {q, k, v};
            bias = c.qkvBias() ? new Tensor[] {params.apply("q_proj.bias"), params.apply("k_proj.bias"), params.apply("v_proj.bias")} : null;
            qNorm = c.qkNorm() ? params.apply("q_norm.weight") : null;
            kNorm = c.qkNorm() ? params.apply("k_norm.weight") : null;
            oProj = params.apply("o_proj.weight");
            cos = new float[hd / 2];
            sin = new float[hd / 2];
            qT = Tensor.of(q, b, h, hd);
            kT = Tensor.of(k, b, hkv, hd);
            vT = Tensor.of(v, b, hkv, hd);
            oT = Tensor.of(o, b, h, hd);
            q1 = Tensor.zeros(1, h, hd);
            k1 = Tensor.zeros(1, hkv, hd);
            v1 = Tensor.zeros(1, hkv, hd);
            o1 = Tensor.zeros(1, h, hd);
        }

        @Override
        public void step(float[] x, StepRows rows, float[] out) {
            int b = rows.rows();
            in.multiply(x, b);
            if (bias != null) {
                for (int i = 0; i < 3; i++) VectorOps.addRowBias(projOut[i], bias[i].f, b, projOut[i].length / qT.dim(0));
            }
            if (qNorm != null) {
                RmsNorm.step(q, qNorm.f, AttentionConfig.QK_NORM_EPS, b * h, hd, q);
                RmsNorm.step(k, kNorm.f, AttentionConfig.QK_NORM_EPS, b * hkv, hd, k);
            }
            double scale = 1.0 / Math.sqrt(hd);
            if (rows.isLockStep()) {
                KvCache cache = ((State) rows.state(0)).cache;
                rotary.angles(cache.length(), cos, sin);
                rotary.rotate(q, 0, b * h, cos, sin);
                rotary.rotate(k, 0, b * hkv, cos, sin);
                cache.step(qT, kT, vT, scale, oT);
            } else {
                for (int s = 0; s < rows.sequences(); s++) {
                    KvCache cache = ((State) rows.state(s)).cache;
                    for (int r = rows.first(s); r < rows.first(s) + rows.count(s); r++) {
                        rotary.angles(cache.length(), cos, sin);
                        rotary.rotate(q, r * h * hd, h, cos, sin);
                        rotary.rotate(k, r * hkv * hd, hkv, cos, sin);
                        System.arraycopy(q, r * h * hd, q1.f, 0, h * hd);
                        System.arraycopy(k, r * hkv * hd, k1.f, 0, hkv * hd);
                        System.arraycopy(v, r * hkv * hd, v1.f, 0, hkv * hd);
                        cache.step(q1, k1, v1, scale, o1);
                        System.arraycopy(o1.f, 0, o, r * h * hd, h * hd);
                    }
                }
            }
            MatVec.multiply(o, 0, b, oProj, out, 0);
        }
    }

    /** One layer's key/value cache (rotated keys). */
    static final class State implements MixerState {
        final KvCache cache;

        State(KvCache cache) {
            this.cache = cache;
        }

        @Override
        public void reserve(int tokens) {
            cache.reserve(tokens);
        }

        @Override
        public MixerState copy() {
            return new State(cache.copy());
        }

        @Override
        public long bytes() {
            return cache.bytes();
        }

        @Override
        public long bytesReadPerToken() {
            return cache.bytes();
        }

        @Override
        public long bytesPerContextToken() {
            return cache.bytesPerToken();
        }

        @Override
        public void skip(int tokens, java.util.SplittableRandom rng) {
            cache.skip(tokens, rng);
        }

        @Override
        public void save(Writer out) {
            Tensor[] kv = cache.contents();
            out.number("length", cache.length());
            out.tensor("keys", kv[0]);
            out.tensor("values", kv[1]);
        }

        @Override
        public void load(Reader in) {
            long length = in.number("length");
            cache.restore(length, in.tensor("keys"), in.tensor("values"));
        }
    }
}
