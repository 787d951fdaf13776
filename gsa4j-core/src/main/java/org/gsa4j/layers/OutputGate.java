package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.ops.StepOps;

/** GLA's and RetNet's output: per head {@code RMSNorm(o; eps = norm_eps) ⊙ w}, times {@code swish(g_proj x)} with the gate. */
final class OutputGate {
    private OutputGate() {}

    /** o [B,T,H,dv] → [B,T,H,dv]. */
    static Var apply(Tape tape, ParamScope p, Var x, Var o, GlaConfig c) {
        int b = o.value.dim(0), t = o.value.dim(1);
        o = Functions.rmsNorm(tape, o, c.elementwiseAffine() ? p.get(c.gateNormName()) : null, c.normEps());
        if (!c.useOutputGate()) return o;
        Var gate = Functions.reshape(tape, Functions.linear(tape, x, p.get("g_proj.weight")), b, t, c.numHeads(), c.headVDim());
        return Functions.mul(tape, o, Functions.silu(tape, gate));
    }

    /**
     * The single-token form: o [rows·dv] (rows = B·H) normed into {@code normed}, then, with an
     * output gate, multiplied into {@code gate} (the g_proj rows, overwritten). Returns the array
     * holding the result.
     */
    static float[] step(float[] o, float[] normWeight, float[] gate, GlaConfig c, int rows, float[] normed) {
        StepOps.rmsNorm(o, normWeight, c.normEps(), rows, c.headVDim(), normed);
        if (gate == null) return normed;
        StepOps.swiglu(gate, normed, rows * c.headVDim());   // silu(gate) ⊙ RMSNorm(o)
        return gate;
    }
}
