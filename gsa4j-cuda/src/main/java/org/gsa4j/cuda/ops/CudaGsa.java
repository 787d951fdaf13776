package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;

/**
 * The GSA operator on the GPU (docs/MATH.md, "The GSA operator"): two passes of the primitive
 * joined by a softmax over the M slots.
 * <pre>
 *   pass 1 (value-axis decay): hk_t = hk_{t-1} Diag(α_t) + k_t s_tᵀ,  a_t = hk_tᵀ (scale·q_t)
 *   p_t = softmax(a_t)
 *   pass 2 (key-axis decay):   hv_t = Diag(α_t) hv_{t-1} + s_t v_tᵀ,  o_t = hv_tᵀ p_t
 * </pre>
 * q, k [B,T,H,K], v, o [B,T,H,V], s [B,T,H,M] in the call's precision; g [B,T,H,M] float32
 * log-decays (α = e^g); hk [B,H,K,M], hv [B,H,M,V] float32. The caller expands grouped heads.
 */
public final class CudaGsa {
    private final CudaDevice device;
    private final CudaGla gla;
    private final GlaKernels kernels;

    public CudaGsa(CudaDevice device, Precision precision) {
        this.device = device;
        this.gla = new CudaGla(device, precision);
        this.kernels = GlaKernels.of(device, precision);
    }

    public Precision precision() {
        return kernels.precision;
    }

    /**
     * What the backward needs besides the inputs: a° (float32), p (float32), p in the storage precision, and both
     * passes' chunk states, kept so that the backward does not compute them again (2 × [B,H,Nc,K,M] float32 and
     * [B,H,Nc,M,V] float32: at B = 8, T = 2048, H = 16, K = V = 128, M = 64, 256 MiB).
     */
    public record Saved(DeviceTensor aStrict, DeviceTensor p, DeviceTensor pq, DeviceTensor keyStates,
                        DeviceTensor valueStates) implements AutoCloseable {
        @Override
        public void close() {
            aStrict.close();
            p.close();
            pq.close();
            keyStates.close();
            valueStates.close();
        }
    }

    /** o, and the final states hkT, hvT where not null; returns what {@link #backward} needs. */
    public Saved forward(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor s, DeviceTensor g, float scale,
                         DeviceTensor hk0, DeviceTensor hv0, DeviceTensor o, DeviceTensor hkT, DeviceTensor hvT, CudaStream stream) {
        int B = q.dim(0), T = q.dim(1), H = q.dim(2), M = s.dim(3);
        Precision p = precision();
        DeviceTensor aStrict = DeviceTensor.allocate(device, Precision.F32, B, T, H, M);
        DeviceTensor prob = DeviceTensor.allocate(device, Precision.F32, B, T, H, M);
        DeviceTensor pq = DeviceTensor.allocate(device, p, B, T, H, M);
        DeviceTensor keyStates = gla.stateBuffer(q, s);
        DeviceTensor valueStates = gla.stateBuffer(s, v);
        try (DeviceTensor a = DeviceTensor.allocate(device, p, B, T, H, M)) {
            gla.forward(Decay.VALUE, q, k, s, g, null, hk0, scale, a, aStrict, hkT, keyStates, stream);
            long rows = (long) B * T * H;
            kernels.softmax.launch(new int[] {(int) ((rows + 7) / 8), 1, 1}, new int[] {256, 1, 1}, 0, stream,
                    a.buffer(), prob.buffer(), pq.buffer(), rows, M);
            gla.forward(Decay.KEY, pq, s, v, g, null, hv0, 1f, o, null, hvT, valueStates, stream);
        }
        return new Saved(aStrict, prob, pq, keyStates, valueStates);
    }

    /**
     * The gradients of {@code Σ o·dO + Σ hkT·dhkT + Σ hvT·dhvT} (dhkT, dhvT may be null = 0): dq, dk, dv, ds
     * in the call's precision, dg float32, dhk0 and dhv0 float32 (or null). The initial states' part of the
     * forward is in {@code saved}'s chunk states.
     */
    public void backward(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor s, DeviceTensor g, float scale,
                         Saved saved, DeviceTensor dO, DeviceTensor dhkT, DeviceTensor dhvT,
                         DeviceTensor dq, DeviceTensor dk, DeviceTensor dv, DeviceTensor ds, DeviceTensor dg,
                         DeviceTensor dhk0, DeviceTensor dhv0, CudaStream stream) {
        int B = q.dim(0), T = q.dim(1), H = q.dim(2), M = s.dim(3);
        Precision p = precision();
        long rows = (long) B * T * H, n = rows * M;
        try (DeviceTensor dp = DeviceTensor.allocate(device, p, B, T, H, M);
             DeviceTensor dsPass2 = DeviceTensor.allocate(device, p, B, T, H, M);
             DeviceTensor dgPass2 = DeviceTensor.allocate(device, Precision.F32, B, T, H, M);
             DeviceTensor da = DeviceTensor.allocate(device, p, B, T, H, M)) {
            gla.backward(Decay.KEY, saved.pq(), s, v, g, null, 1f, null, dO, dhvT, saved.valueStates(), dp, dsPass2, dv, dgPass2,
                    dhv0, stream);
            kernels.softmaxBackward.launch(new int[] {(int) ((rows + 7) / 8), 1, 1}, new int[] {256, 1, 1}, 0, stream,
                    saved.p().buffer(), dp.buffer(), da.buffer(), rows, M);
            gla.backward(Decay.VALUE, q, k, s, g, null, scale, saved.aStrict(), da, dhkT, saved.keyStates(), dq, dk, ds, dg,
                    dhk0, stream);
            CudaGla.launch1d(kernels.addInto, n, stream, ds.buffer(), dsPass2.buffer(), n);
            CudaGla.launch1d(kernels.addIntoF32, n, stream, dg.buffer(), dgPass2.buffer(), n);
        }
    }

    /**
     * One decoding step of GSA for every (batch, head): q, k [B,H,K], v, o [B,H,V], s [B,H,M] in the call's
     * precision, g [B,H,M] float32; hk [B,H,K,M] and hv [B,H,M,V] float32 updated in place.
     */
    public void step(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor s, DeviceTensor g, float scale,
                     DeviceTensor hk, DeviceTensor hv, DeviceTensor o, CudaStream stream) {
        int bh = q.dim(0) * q.dim(1), K = q.dim(2), V = v.dim(2), M = s.dim(2);
        int cols = Math.min(M, 256), slices = 256 / cols;
        int shared = 4 * (3 * M + slices * M);
        kernels.gsaStep.launch(new int[] {bh, 1, 1}, new int[] {256, 1, 1}, shared, stream,
                q.buffer(), k.buffer(), v.buffer(), s.buffer(), g.buffer(), hk.buffer(), hv.buffer(), o.buffer(), K, V, M, scale);
    }

    /** The slot gate: g = logsigmoid(f)/τ (float32) and s = 1 − e^{g} (call's precision), element-wise. */
    public void slotGate(DeviceTensor f, float tau, DeviceTensor g, DeviceTensor s, CudaStream stream) {
        long n = f.size();
        CudaGla.launch1d(kernels.slotGate, n, stream, f.buffer(), g.buffer(), s.buffer(), n, 1f / tau);
    }

    /** Its backward: df from dg (float32) and ds. */
    public void slotGateBackward(DeviceTensor f, float tau, DeviceTensor dg, DeviceTensor ds, DeviceTensor df, CudaStream stream) {
        long n = f.size();
        CudaGla.launch1d(kernels.slotGateBackward, n, stream, f.buffer(), dg.buffer(), ds.buffer(), df.buffer(), n, 1f / tau);
    }
}
