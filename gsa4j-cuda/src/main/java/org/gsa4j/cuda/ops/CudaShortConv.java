package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;

/**
 * The short convolution on the GPU (docs/MATH.md, "Short convolution"), the device twin of
 * {@code org.gsa4j.ops.ShortConv} with the activation that follows it in the layers (silu, or none):
 * {@code y[t, c] = act(Σ_{i<W} w[c, i] · x[t − (W−1) + i, c])}, causal and depthwise.
 *
 * <p>x, y [B, T, C], the kernel w [C, 1, W] (or [C, W]) and the decoding cache [B, W−1, C] in the call's precision;
 * the kernel's gradient float32, accumulated. The forward takes a cache (the W−1 inputs before x; null = zeros) and
 * can write the next one, so one call serves training, prefill and a decoding step (T = 1). The backward is the
 * training one (from zeros): dx, and dw summed in a fixed order (partial sums over fixed time segments, then the
 * segments in order), the same bits in every run. Asynchronous on {@code stream}; call on the device's thread.
 */
public final class CudaShortConv {
    /** Time steps per partial sum of the kernel's gradient. */
    static final int STEPS_PER_SEGMENT = 64;

    private final CudaDevice device;
    private final ModelKernels kernels;

    public CudaShortConv(CudaDevice device, Precision precision) {
        this.device = device;
        this.kernels = ModelKernels.of(device, precision);
    }

    public Precision precision() {
        return kernels.precision;
    }

    /**
     * y = act(conv(x)) (y must not be x); where nextCache is not null it receives the last W−1 inputs (from the old
     * cache where T &lt; W−1); it may be {@code cache} itself, updated in place.
     */
    public void forward(DeviceTensor x, DeviceTensor w, DeviceTensor cache, boolean silu, DeviceTensor y, DeviceTensor nextCache,
                        CudaStream stream) {
        int b = x.dim(0), t = x.dim(1), c = x.dim(2), width = width(w, c);
        kernels.requireStorage(x, "x");
        kernels.requireStorage(y, "y");
        ModelKernels.requireSize(y, x.size(), "y");
        for (DeviceTensor k : new DeviceTensor[] {cache, nextCache}) {
            kernels.requireStorage(k, "a convolution cache");
            ModelKernels.requireSize(k, (long) b * (width - 1) * c, "a convolution cache");
        }
        ModelKernels.launch1d(kernels.shortConv, x.size(), stream, x.buffer(), w.buffer(), ModelKernels.ptr(cache), y.buffer(),
                b, t, c, width, silu ? 1 : 0);
        if (nextCache != null && width > 1) {
            ModelKernels.launch1d(kernels.shortConvNextCache, (long) b * c, stream, x.buffer(), ModelKernels.ptr(cache),
                    nextCache.buffer(), b, t, c, width);
        }
    }

    /** The gradients for a forward from zeros: dx (written) and, where dw is not null, dw += (float32, w's shape). */
    public void backward(DeviceTensor x, DeviceTensor w, DeviceTensor dy, boolean silu, DeviceTensor dx, DeviceTensor dw,
                         CudaStream stream) {
        int b = x.dim(0), t = x.dim(1), c = x.dim(2), width = width(w, c);
        for (DeviceTensor k : new DeviceTensor[] {x, dy, dx}) {
            kernels.requireStorage(k, "x, dy or dx");
            ModelKernels.requireSize(k, x.size(), "x, dy or dx");
        }
        ModelKernels.requireF32(dw, "dw");
        ModelKernels.requireSize(dw, w.size(), "dw");
        try (DeviceTensor du = DeviceTensor.allocate(device, Precision.F32, b, t, c)) {
            ModelKernels.launch1d(kernels.shortConvBackwardDu, x.size(), stream, x.buffer(), w.buffer(), dy.buffer(), du.buffer(),
                    b, t, c, width, silu ? 1 : 0);
            ModelKernels.launch1d(kernels.shortConvBackwardDx, x.size(), stream, du.buffer(), w.buffer(), dx.buffer(), b, t, c, width);
            if (dw == null) return;
            int segments = ModelKernels.blocks(t, STEPS_PER_SEGMENT);
            try (DeviceTensor partial = DeviceTensor.allocate(device, Precision.F32, b * segments, c * width)) {
                kernels.shortConvDwPartial.launch(new int[] {ModelKernels.blocks(c, ModelKernels.THREADS), segments, b},
                        new int[] {ModelKernels.THREADS, 1, 1}, 0, stream, x.buffer(), du.buffer(), partial.buffer(), t, c, width,
                        STEPS_PER_SEGMENT);
                kernels.addColumnSums.launch(new int[] {ModelKernels.blocks((long) c * width, ModelKernels.THREADS), 1, 1},
                        new int[] {ModelKernels.THREADS, 1, 1}, 0, stream, partial.buffer(), b * segments, c * width, dw.buffer());
            }
        }
    }

    /** The kernel width W of w [C, 1, W] or [C, W], checked. */
    private int width(DeviceTensor w, int channels) {
        kernels.requireStorage(w, "the convolution kernel");
        int width = w.dim(w.shape().length - 1);
        if (w.dim(0) != channels || w.size() != (long) channels * width) {
            throw new IllegalArgumentException("the convolution kernel " + w + " must be [" + channels + ", 1, W]");
        }
        if (width < 1 || width > ModelKernels.MAX_CONV_WIDTH) {
            throw new IllegalArgumentException("convolution width " + width + " outside [1, " + ModelKernels.MAX_CONV_WIDTH + "]");
        }
        return width;
    }
}
