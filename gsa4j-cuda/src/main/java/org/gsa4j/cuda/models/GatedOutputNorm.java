package org.gsa4j.cuda.models;

import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.CudaSwiglu;
import org.gsa4j.cuda.ops.DeviceTensor;

/**
 * GLA's and RetNet's output on the GPU (docs/MATH.md#gla-layer; the CPU engine's org.gsa4j.layers.OutputGate): per
 * head {@code RMSNorm(o; eps = norm_eps) ⊙ w}, times {@code swish(g_proj h)} with the gate. o [B,T,H,dv]; the gate's
 * projection gp and o_proj's input y are [B·T, H·dv]. The norm's output is not kept: the backward computes it
 * again from o and the stored 1/rms (the same bits).
 *
 * @param normWeight the norm's weight name, or null without elementwise_affine
 * @param gateProj   g_proj's weight name, or null without use_output_gate
 */
record GatedOutputNorm(CudaMixer.Context ctx, CudaSwiglu swiglu, String normWeight, String gateProj, float eps) {

    /** y = o_proj's input from o (rstd [B·T·H] kept; gp = h g_projᵀ written with a gate); returns y (= on without a gate). */
    DeviceTensor forward(DeviceTensor h, DeviceTensor o, DeviceTensor rstd, DeviceTensor gp, DeviceTensor on, DeviceTensor y) {
        CudaStream s = ctx.stream();
        ctx.norm().forward(o, null, ctx.optional(normWeight), eps, on, null, rstd, s);
        if (gateProj == null) return on;
        ctx.products().forward(h, ctx.w(gateProj), gp, h.dim(0), false, s);
        swiglu.forward(gp, on, y, s);
        return y;
    }

    /** o_proj's input again (for its weight gradient), as {@link #forward} made it from the same o, rstd and gp. */
    DeviceTensor recompute(DeviceTensor o, DeviceTensor rstd, DeviceTensor gp, DeviceTensor on, DeviceTensor y) {
        CudaStream s = ctx.stream();
        ctx.norm().forward(o, null, ctx.optional(normWeight), eps, on, null, rstd, s);
        if (gateProj == null) return on;
        swiglu.forward(gp, on, y, s);
        return y;
    }

    /**
     * dO (written) from dy, the gradient of o_proj's input, after {@link #recompute} left the norm's output in on;
     * adds the norm weight's and g_proj's gradients, and with a gate dh += dgp g_proj ({@code accumulate} false: dh =).
     * Returns whether dh was written.
     */
    boolean backward(DeviceTensor h, DeviceTensor o, DeviceTensor rstd, DeviceTensor gp, DeviceTensor on, DeviceTensor dy,
                     DeviceTensor dOn, DeviceTensor dgp, DeviceTensor dO, DeviceTensor dh, boolean accumulate) {
        CudaStream s = ctx.stream();
        DeviceTensor dNormed = dy;
        if (gateProj != null) {
            swiglu.backward(gp, on, dy, dgp, dOn, s);
            dNormed = dOn;
            ctx.products().weightGradient(dgp, h, ctx.g(gateProj), h.dim(0), s);
            ctx.products().inputGradient(dgp, ctx.w(gateProj), dh, h.dim(0), accumulate, s);
        }
        ctx.norm().backward(o, ctx.optional(normWeight), rstd, dNormed.reshape(o.shape()), null, dO,
                normWeight == null ? null : ctx.g(normWeight), s);
        return gateProj != null;
    }
}
