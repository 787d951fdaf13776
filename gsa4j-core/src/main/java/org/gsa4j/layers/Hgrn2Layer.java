package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.config.Hgrn2Config;
import org.gsa4j.ops.Hgrn2Gate;
import org.gsa4j.ops.RmsNorm;
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
 * The HGRN2 layer (docs/MATH.md#hgrn2-layer): {@code q = swish(q_proj x)}, forget logits {@code f = f_proj x},
 * input {@code i = i_proj x} (optional short convolutions without activation), log-forget
 * {@code g = log(lb + (1 − lb) σ(f))} with the layer's lower bound (none for layer 0),
 * key {@code k = 1 − exp(g)}, the primitive with the decay on the key axis and
 * {@code scale = head_f_dim^-0.5}, then {@code o_proj(RMSNorm_d(o; eps 1e-5) ⊙ g_norm.weight)}.
 */
public final class Hgrn2Layer implements TokenMixer, ModelLevelParams {
    /** The output norm's eps is hard-wired in the reference (docs/MATH.md#hgrn2-layer). */
    private static final double OUTPUT_NORM_EPS = 1e-5;
    private static final String[] CONV_NAMES = {"q_conv1d.weight", "f_conv1d.weight", "i_conv1d.weight"};

    /** The model-level parameter holding every layer's lower-bound logits, [num_hidden_layers, forget_dim]. */
    public static final String LOWER_BOUNDS = "model.lower_bounds";

    private final Hgrn2Config c;
    private final int layer;

    public Hgrn2Layer(Hgrn2Config config, int layer) {
        this.c = config;
        this.layer = layer;
    }

    @Override
    public List<ParamSpec> params() {
        int d = c.hiddenSize(), fd = c.forgetDim();
        List<ParamSpec> specs = new ArrayList<>(List.of(
                ParamSpec.matrix("q_proj.weight", fd, d),
                ParamSpec.matrix("f_proj.weight", fd, d),
                ParamSpec.matrix("i_proj.weight", d, d)));
        if (c.elementwiseAffine()) specs.add(ParamSpec.ones("g_norm.weight", d));
        specs.add(ParamSpec.matrix("o_proj.weight", d, d));
        if (c.useShortConv()) ShortConvs.addParams(specs, CONV_NAMES, c.convSize(), fd, fd, d);
        return specs;
    }

    @Override
    public List<ParamSpec> modelParams() {
        return c.useLowerBound() ? List.of(ParamSpec.zeros(LOWER_BOUNDS, c.numLayers(), c.forgetDim())) : List.of();
    }

    @Override
    public Var forward(Tape tape, ParamScope p, Var x, MixerState st) {
        LinearState state = (LinearState) st;
        int b = x.value.dim(0), t = x.value.dim(1);
        int h = c.numHeads(), df = c.headFDim(), di = c.headIDim();

        Var[] qfi = {
                Functions.linear(tape, x, p.get("q_proj.weight")),
                Functions.linear(tape, x, p.get("f_proj.weight")),
                Functions.linear(tape, x, p.get("i_proj.weight"))};
        if (c.useShortConv()) qfi = ShortConvs.apply(tape, p, CONV_NAMES, state == null ? null : state.conv, false, qfi);
        Var q = Functions.silu(tape, qfi[0]);
        Var lowerBound = null;
        if (c.useLowerBound() && layer > 0) {
            Var all = new ParamScope(p.vars(), "").get(LOWER_BOUNDS);
            lowerBound = Hgrn2Gate.lowerBound(tape, all, layer);
        }
        Var[] gk = Hgrn2Gate.apply(tape, qfi[1], lowerBound);
        q = Functions.scale(tape, Functions.reshape(tape, q, b, t, h, df), 1.0 / Math.sqrt(df));
        Var g = Functions.reshape(tape, gk[0], b, t, h, df);
        Var k = Functions.reshape(tape, gk[1], b, t, h, df);
        Var i = Functions.reshape(tape, qfi[2], b, t, h, di);

        Var o = state == null
                ? GatedLinearAttention.apply(tape, Decay.KEY, q, k, i, g)
                : tape.constant(state.run(Gate.key(g.value), q.value, k.value, i.value));
        o = RmsNorm.apply(tape, Functions.reshape(tape, o, b, t, c.hiddenSize()), p.optional("g_norm.weight"), OUTPUT_NORM_EPS);
        return Functions.linear(tape, o, p.get("o_proj.weight"));
    }

    @Override
    public MixerState newState(int batch) {
        int fd = c.forgetDim(), d = c.hiddenSize();
        return new LinearState(batch, c.numHeads(), c.headFDim(), c.headIDim(),
                c.useShortConv() ? ShortConvs.zeroCaches(batch, c.convSize(), fd, fd, d) : null);
    }

    @Override
    public Stepper stepper(Function<String, Tensor> params, int batch) {
        return new Step(params, batch);
    }

    /**
     * {@link #forward} for T = 1 on preallocated buffers: the three projections in one dispatch,
     * convolutions, the forget gate and key, the primitive's recurrent step, the output norm and
     * {@code o_proj}. The layer's lower bound is derived from {@code model.lower_bounds} once, when
     * the stepper is made (a softmax over the layers per channel, too costly per token).
     */
    private final class Step implements Stepper {
        private final int fd, d;
        private final Projections in;
        private final ShortConvs.Step conv;
        private final Tensor normWeight, oProj;
        private final float[] q, f, k, lowerBound, o, normed;
        private final RecurrentStep recurrence;

        Step(Function<String, Tensor> params, int batch) {
            int b = batch, h = c.numHeads(), df = c.headFDim(), di = c.headIDim();
            fd = c.forgetDim();
            d = c.hiddenSize();
            in = new Projections(params, b, "q_proj.weight", "f_proj.weight", "i_proj.weight");
            q = in.out(0);
            f = in.out(1);
            float[] i = in.out(2);
            k = new float[b * fd];
            conv = c.useShortConv() ? new ShortConvs.Step(params, CONV_NAMES, false, q, f, i) : null;
            if (c.useLowerBound() && layer > 0) {
                Tape tape = Tape.inference();
                lowerBound = Hgrn2Gate.lowerBound(tape, tape.constant(params.apply(LOWER_BOUNDS)), layer).value.f;
            } else {
                lowerBound = null;
            }
            normWeight = c.elementwiseAffine() ? params.apply("g_norm.weight") : null;
            oProj = params.apply("o_proj.weight");
            o = new float[b * d];
            normed = new float[b * d];
            recurrence = RecurrentStep.linear(Gate.key(Tensor.of(f, b, h, df)), Tensor.of(q, b, h, df),
                    Tensor.of(k, b, h, df), Tensor.of(i, b, h, di), Tensor.of(o, b, h, di));
        }

        @Override
        public void step(float[] x, StepRows rows, float[] out) {
            int b = rows.rows();
            in.multiply(x, b);
            if (conv != null) conv.run(rows, st -> ((LinearState) st).conv);
            VectorOps.siluInPlace(q, 0, b * fd);
            Hgrn2Gate.step(f, lowerBound, k, b, fd);   // f becomes the log-decay
            VectorOps.scale((float) (1.0 / Math.sqrt(c.headFDim())), q, 0, b * fd);
            recurrence.run(rows);
            RmsNorm.step(o, normWeight == null ? null : normWeight.f, OUTPUT_NORM_EPS, b, d, normed);
            MatVec.multiply(normed, 0, b, oProj, out, 0);
        }
    }
}
