package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;

/**
 * Causal softmax attention on the GPU (docs/MATH.md#causal-softmax-attention), the device twin of
 * {@code org.gsa4j.ops.attention.CausalAttention}: grouped-query heads (query head h reads kv head h / (H / Hkv)),
 * logits scaled by {@code scale}, an optional sliding window (0 = full causal), forward and backward, and the
 * decoding form over a key/value cache. Flash-style (attention.cu): an online softmax over tiles of keys, the
 * row log-sum-exp kept for the backward instead of any T×T matrix; dq, and dk with dv, in two kernels that need no
 * atomics, so the bits do not change from run to run.
 *
 * <p>q, o [B, T, H, D] and k, v [B, T, Hkv, D] in the call's precision, D ≤ 256; lse [B, H, T] float32. A cache is
 * [B, capacity, Hkv, D]. Asynchronous on {@code stream}; call on the device's thread.
 */
public final class CudaAttention {
    private static final int[] BLOCK = {32 * MixerKernels.ATTENTION_ROWS, 1, 1};

    private final CudaDevice device;
    private final MixerKernels kernels;

    public CudaAttention(CudaDevice device, Precision precision) {
        this.device = device;
        this.kernels = MixerKernels.of(device, precision);
    }

    /** The widest head the kernels take. */
    public static int maxHeadDim() {
        return MixerKernels.ATTENTION_MAX_HEAD_DIM;
    }

    /** o and lse of a pass from no earlier tokens: q [B,T,H,D], k, v [B,T,Hkv,D]. */
    public void forward(DeviceTensor q, DeviceTensor k, DeviceTensor v, float scale, int window, DeviceTensor o, DeviceTensor lse,
                        CudaStream stream) {
        check(q, k, o, lse);
        run(q, k, v, q.dim(1), k.dim(1), 0, scale, window, o, lse, stream);
    }

    /**
     * The decoding form: q [B,Tq,H,D] at positions {@code offset} to {@code offset + Tq − 1} against caches
     * [B, capacity, Hkv, D] whose first {@code offset + Tq} rows hold every token's keys and values (this pass's
     * appended with {@link #copyRows} first).
     */
    public void forwardCached(DeviceTensor q, DeviceTensor kCache, DeviceTensor vCache, int offset, float scale, int window,
                              DeviceTensor o, DeviceTensor lse, CudaStream stream) {
        check(q, kCache, o, lse);
        int keys = offset + q.dim(1);
        if (keys > kCache.dim(1)) throw new IllegalArgumentException(keys + " keys in a cache of capacity " + kCache.dim(1));
        run(q, kCache, vCache, keys, kCache.dim(1), offset, scale, window, o, lse, stream);
    }

    private void run(DeviceTensor q, DeviceTensor k, DeviceTensor v, int keys, int kvStride, int offset, float scale, int window,
                     DeviceTensor o, DeviceTensor lse, CudaStream stream) {
        int b = q.dim(0), tq = q.dim(1), h = q.dim(2), hkv = k.dim(2), d = q.dim(3);
        kernels.attentionForward.launch(new int[] {rowBlocks(tq), b * h, 1}, BLOCK, MixerKernels.attentionSharedBytes(d), stream,
                q.buffer(), k.buffer(), v.buffer(), o.buffer(), lse.buffer(), tq, keys, kvStride, h, hkv, d, offset, window, scale);
    }

    /** dq, dk, dv (written) of a pass from no earlier tokens, from the forward's o and lse and the output's gradient dO. */
    public void backward(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor o, DeviceTensor lse, DeviceTensor dO,
                         float scale, int window, DeviceTensor dq, DeviceTensor dk, DeviceTensor dv, CudaStream stream) {
        check(q, k, o, lse);
        int b = q.dim(0), t = q.dim(1), h = q.dim(2), hkv = k.dim(2), d = q.dim(3);
        int shared = MixerKernels.attentionSharedBytes(d);
        try (DeviceTensor delta = DeviceTensor.allocate(device, Precision.F32, b, h, t)) {
            ModelKernels.launch1d(kernels.attentionDelta, (long) b * t * h, stream, o.buffer(), dO.buffer(), delta.buffer(), b, t, h, d);
            kernels.attentionBackwardDq.launch(new int[] {rowBlocks(t), b * h, 1}, BLOCK, shared, stream, q.buffer(), k.buffer(),
                    v.buffer(), dO.buffer(), lse.buffer(), delta.buffer(), dq.buffer(), t, h, hkv, d, window, scale);
            kernels.attentionBackwardDkv.launch(new int[] {rowBlocks(t), b * hkv, 1}, BLOCK, shared, stream, q.buffer(), k.buffer(),
                    v.buffer(), dO.buffer(), lse.buffer(), delta.buffer(), dk.buffer(), dv.buffer(), t, h, hkv, d, window, scale);
        }
    }

    /**
     * Rows {@code offset .. offset + count − 1} of each batch element of {@code dst} [B, capacity, ...] = the first
     * {@code count} rows of {@code src} [B, S, ...] (same row width): appends a pass's keys or values to a cache, or
     * moves a cache into a larger one.
     */
    public void copyRows(DeviceTensor src, int count, DeviceTensor dst, int offset, CudaStream stream) {
        int b = src.dim(0), width = (int) (src.size() / ((long) b * src.dim(1)));
        if (dst.dim(0) != b || dst.size() / ((long) b * dst.dim(1)) != width || offset + count > dst.dim(1) || count > src.dim(1)) {
            throw new IllegalArgumentException("cannot copy " + count + " rows of " + src + " to rows " + offset + ".. of " + dst);
        }
        ModelKernels.launch1d(kernels.copyRows, (long) b * count * width, stream, src.buffer(), (long) src.dim(1), dst.buffer(),
                (long) dst.dim(1), b, count, width, offset);
    }

    private void check(DeviceTensor q, DeviceTensor k, DeviceTensor o, DeviceTensor lse) {
        int d = q.dim(3), h = q.dim(2), hkv = k.dim(2);
        if (d > MixerKernels.ATTENTION_MAX_HEAD_DIM) throw new IllegalArgumentException("head_dim " + d + " exceeds the attention kernels' "
                + MixerKernels.ATTENTION_MAX_HEAD_DIM);
        if (k.dim(3) != d || h % hkv != 0) throw new IllegalArgumentException("q " + q + " and k " + k + " do not fit");
        if (q.precision() != kernels.precision || k.precision() != kernels.precision) {
            throw new IllegalArgumentException("q and k must be " + kernels.precision);
        }
        ModelKernels.requireSize(o, q.size(), "o");
        ModelKernels.requireF32(lse, "lse");
        ModelKernels.requireSize(lse, (long) q.dim(0) * h * q.dim(1), "lse");
    }

    private static int rowBlocks(int rows) {
        return (rows + MixerKernels.ATTENTION_ROWS - 1) / MixerKernels.ATTENTION_ROWS;
    }
}
