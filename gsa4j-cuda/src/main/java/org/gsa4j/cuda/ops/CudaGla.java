package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaKernel;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;

/**
 * The gated-linear-attention primitive on the GPU (docs/MATH.md, "Chunk form"), the device twin
 * of {@code org.gsa4j.ops.GatedLinearAttention}: per batch element and head a state
 * {@code S ∈ R^{Dk×Dv}}, {@code S_t = decay_t(S_{t-1}) + k_t v_tᵀ}, {@code o_t = S_tᵀ (scale·q_t)},
 * with the decay on the key axis, the value axis, or one log γ per head.
 *
 * <p>Tensors: q, k [B,T,H,Dk], v, o [B,T,H,Dv] in the call's precision; g [B,T,H,Dk or Dv] float32
 * log-decays (null for SCALAR, which takes logGamma [H]); states s0, sT [B,H,Dk,Dv] float32 (null
 * = zero / not wanted). The forward computes the chunk states (phase A: every chunk's contribution in
 * parallel, then a scan across chunks) and then every chunk's output in parallel; the backward
 * recomputes the states, computes the state gradients the same way backwards (phase B) and then every
 * chunk's gradients in parallel (phase C). Every call is asynchronous on {@code stream} and
 * takes its workspace from the device's caching allocator, returning it at the end of the call: the
 * allocator hands a returned block out again only to work that the same stream orders after it, so
 * use one stream per device. Call on the device's thread.
 */
public final class CudaGla {
    private static final int[] BLOCK = {256, 1, 1};

    private final CudaDevice device;
    private final GlaKernels kernels;

    public CudaGla(CudaDevice device, Precision precision) {
        this.device = device;
        this.kernels = GlaKernels.of(device, precision);
    }

    public Precision precision() {
        return kernels.precision;
    }

    /** Shapes of one call. */
    public record Dims(int B, int T, int H, int Dk, int Dv) {
        static Dims of(DeviceTensor q, DeviceTensor v) {
            return new Dims(q.dim(0), q.dim(1), q.dim(2), q.dim(3), v.dim(3));
        }

        int chunks() {
            return (T + 63) / 64;
        }
    }

    /**
     * o = the primitive's output; for VALUE decay {@code oStrict} (float32, [B,T,H,Dv]) receives O°, the
     * output without its j = t term, which the backward needs; sT (or null) the final state.
     */
    public void forward(Decay decay, DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor g, DeviceTensor logGamma,
                        DeviceTensor s0, float scale, DeviceTensor o, DeviceTensor oStrict, DeviceTensor sT, CudaStream stream) {
        try (DeviceTensor states = stateBuffer(Dims.of(q, v))) {
            forward(decay, q, k, v, g, logGamma, s0, scale, o, oStrict, sT, states, stream);
        }
    }

    /**
     * The forward that leaves the chunk states in {@code states} ({@link #stateBuffer}: [B,H,Nc,Dk,Dv] float32), so
     * that a backward given them need not compute them again: it trades that memory for one pass over the inputs.
     */
    public void forward(Decay decay, DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor g, DeviceTensor logGamma,
                        DeviceTensor s0, float scale, DeviceTensor o, DeviceTensor oStrict, DeviceTensor sT, DeviceTensor states,
                        CudaStream stream) {
        Dims d = Dims.of(q, v);
        runStates(decay, k, v, g, logGamma, false, s0, states, sT, d, 1f, stream);
        int[] grid = {tiles(d.Dv()), d.chunks(), d.B() * d.H()};
        if (decay == Decay.VALUE) {
            kernels.fwdValue.launch(grid, BLOCK, kernels.shared[2], stream,
                    q.buffer(), k.buffer(), v.buffer(), g.buffer(), states.buffer(), o.buffer(), oStrict.buffer(),
                    d.B(), d.T(), d.H(), d.Dk(), d.Dv(), scale);
        } else {
            kernels.fwdKey.launch(grid, BLOCK, kernels.shared[1], stream,
                    q.buffer(), k.buffer(), v.buffer(), ptr(g), ptr(logGamma), states.buffer(), o.buffer(),
                    d.B(), d.T(), d.H(), d.Dk(), d.Dv(), scale);
        }
    }

    /**
     * The gradients of {@code Σ o·dO + Σ sT·dST}: dq, dk, dv in the call's precision, dg float32 (null for
     * SCALAR), ds0 float32 [B,H,Dk,Dv] (or null). dST may be null (= 0). oStrict is the forward's O°
     * (VALUE decay only).
     */
    public void backward(Decay decay, DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor g, DeviceTensor logGamma,
                         DeviceTensor s0, float scale, DeviceTensor oStrict, DeviceTensor dO, DeviceTensor dST,
                         DeviceTensor dq, DeviceTensor dk, DeviceTensor dv, DeviceTensor dg, DeviceTensor ds0, CudaStream stream) {
        try (DeviceTensor states = stateBuffer(Dims.of(q, v))) {
            runStates(decay, k, v, g, logGamma, false, s0, states, null, Dims.of(q, v), 1f, stream);
            backward(decay, q, k, v, g, logGamma, scale, oStrict, dO, dST, states, dq, dk, dv, dg, ds0, stream);
        }
    }

    /**
     * The backward given the chunk states that the forward left in {@code states} (they already hold the initial
     * state's contribution, hence no s0 here).
     */
    public void backward(Decay decay, DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor g, DeviceTensor logGamma,
                         float scale, DeviceTensor oStrict, DeviceTensor dO, DeviceTensor dST, DeviceTensor states,
                         DeviceTensor dq, DeviceTensor dk, DeviceTensor dv, DeviceTensor dg, DeviceTensor ds0, CudaStream stream) {
        Dims d = Dims.of(q, v);
        try (DeviceTensor dstates = stateBuffer(d)) {
            runStates(decay, q, dO, g, logGamma, true, dST, dstates, ds0, d, scale, stream);
            int[] keyGrid = {tiles(d.Dk()), d.chunks(), d.B() * d.H()};
            int[] valueGrid = {tiles(d.Dv()), d.chunks(), d.B() * d.H()};
            if (decay == Decay.VALUE) {
                kernels.bwdValueDqk.launch(keyGrid, BLOCK, kernels.shared[5], stream,
                        q.buffer(), k.buffer(), v.buffer(), g.buffer(), dO.buffer(), states.buffer(), dstates.buffer(),
                        dq.buffer(), dk.buffer(), d.B(), d.T(), d.H(), d.Dk(), d.Dv(), scale);
                kernels.bwdValueDvg.launch(valueGrid, BLOCK, kernels.shared[6], stream,
                        q.buffer(), k.buffer(), v.buffer(), g.buffer(), dO.buffer(), oStrict.buffer(), states.buffer(),
                        dstates.buffer(), dv.buffer(), dg.buffer(), d.B(), d.T(), d.H(), d.Dk(), d.Dv(), scale);
            } else {
                kernels.bwdKeyDqk.launch(keyGrid, BLOCK, kernels.shared[3], stream,
                        q.buffer(), k.buffer(), v.buffer(), ptr(g), ptr(logGamma), dO.buffer(), states.buffer(), dstates.buffer(),
                        dq.buffer(), dk.buffer(), ptr(dg), d.B(), d.T(), d.H(), d.Dk(), d.Dv(), scale);
                kernels.bwdKeyDv.launch(valueGrid, BLOCK, kernels.shared[4], stream,
                        q.buffer(), k.buffer(), ptr(g), ptr(logGamma), dO.buffer(), dstates.buffer(), dv.buffer(),
                        d.B(), d.T(), d.H(), d.Dk(), d.Dv(), scale);
            }
        }
    }

    /**
     * One recurrent step for every (batch, head): q, k [B,H,Dk], v, o [B,H,Dv], g [B,H,Dk or Dv] float32 (or
     * logGamma), S [B,H,Dk,Dv] float32 updated in place. q carries the scale already.
     */
    public void step(Decay decay, DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor g, DeviceTensor logGamma,
                     DeviceTensor s, DeviceTensor o, CudaStream stream) {
        int bh = q.dim(0) * q.dim(1), dk = q.dim(2), dv = v.dim(2);
        kernels.glaStep.launch(new int[] {(dv + 127) / 128, bh, 1}, new int[] {128, 1, 1}, 0, stream,
                q.buffer(), k.buffer(), v.buffer(), ptr(g), ptr(logGamma), code(decay), s.buffer(), o.buffer(), q.dim(1), dk, dv);
    }

    /**
     * The chunk states (or, with {@code reverse}, the state gradients) into {@code states} [B,H,Nc,Dk,Dv]: every
     * chunk's own contribution in parallel, then one pass over the chunks per state element.
     */
    private void runStates(Decay decay, DeviceTensor x, DeviceTensor y, DeviceTensor g, DeviceTensor logGamma, boolean reverse,
                           DeviceTensor init, DeviceTensor states, DeviceTensor last, Dims d, float xScale, CudaStream stream) {
        int decayed = decay == Decay.VALUE ? d.Dv() : d.Dk();
        try (DeviceTensor chunkDecay = DeviceTensor.allocate(device, Precision.F32, d.B(), d.H(), d.chunks(), decayed)) {
            kernels.chunkLocal.launch(new int[] {tiles(d.Dk()) * tiles(d.Dv()), d.chunks(), d.B() * d.H()}, BLOCK, kernels.shared[0],
                    stream, x.buffer(), y.buffer(), ptr(g), ptr(logGamma), code(decay), reverse ? 1 : 0, states.buffer(),
                    chunkDecay.buffer(), d.B(), d.T(), d.H(), d.Dk(), d.Dv(), xScale);
            long elements = (long) d.B() * d.H() * d.Dk() * d.Dv();
            kernels.chunkScan.launch(new int[] {(int) ((elements + 255) / 256), 1, 1}, new int[] {256, 1, 1}, 0, stream,
                    ptr(init), states.buffer(), ptr(last), chunkDecay.buffer(), code(decay), reverse ? 1 : 0,
                    d.B(), d.H(), d.chunks(), d.Dk(), d.Dv());
        }
    }

    /** A buffer for the chunk states of a call with these q [B,T,H,Dk] and v [B,T,H,Dv]. */
    public DeviceTensor stateBuffer(DeviceTensor q, DeviceTensor v) {
        return stateBuffer(Dims.of(q, v));
    }

    private DeviceTensor stateBuffer(Dims d) {
        return DeviceTensor.allocate(device, Precision.F32, d.B(), d.H(), d.chunks(), d.Dk(), d.Dv());
    }

    static int tiles(int n) {
        return (n + 63) / 64;
    }

    static int code(Decay decay) {
        return switch (decay) {
            case KEY -> 0;
            case VALUE -> 1;
            case SCALAR -> 2;
        };
    }

    /** A kernel argument for an optional tensor: its buffer, or a null device pointer. */
    static Object ptr(DeviceTensor t) {
        return t == null ? (Object) 0L : t.buffer();
    }

    static void launch1d(CudaKernel kernel, long n, CudaStream stream, Object... args) {
        int blocks = (int) Math.min(65535, (n + 255) / 256);
        kernel.launch(new int[] {Math.max(1, blocks), 1, 1}, new int[] {256, 1, 1}, 0, stream, args);
    }
}
