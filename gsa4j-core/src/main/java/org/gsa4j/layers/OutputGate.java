package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.ops.RmsNorm;
import org.gsa4j.tensor.VectorOps;

/**
 * GLA's and RetNet's output: per head {@code RMSNorm(o; eps = norm_eps) ⊙ w}, times
 * {@code swish(g_proj x)} with the gate (docs/MATH.md#gla-layer). {@code normName} is the norm
 * weight's name, present when {@code affine}.
 */
record OutputGate(String normName, boolean affine, double eps, boolean gated, int numHeads, int headVDim) {

    /** o [B,T,H,dv] → [B,T,H,dv]. */
    Var apply(Tape tape, ParamScope p, Var x, Var o) {
        int b = o.value.dim(0), t = o.value.dim(1);
        o = RmsNorm.apply(tape, o, affine ? p.get(normName) : null, eps);
        if (!gated) return o;
        Var gate = Functions.reshape(tape, Functions.linear(tape, x, p.get("g_proj.weight")), b, t, numHeads, headVDim);
        return Functions.mul(tape, o, Functions.silu(tape, gate));
    }

    /**
     * The single-token form: o [rows·dv] (rows = B·H) normed into {@code normed}, then, with an
     * output gate, multiplied into {@code gate} (the g_proj rows, overwritten). Returns the array
     * holding the result.
     */
    float[] step(float[] o, float[] normWeight, float[] gate, int rows, float[] normed) {
        RmsNorm.step(o, normWeight, eps, rows, headVDim, normed);
        if (gate == null) return normed;
        VectorOps.swigluInPlace(gate, normed, 0, rows * headVDim);   // silu(gate) ⊙ RMSNorm(o)
        return gate;
    }
}
