package org.gsa4j.cuda.models;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaKernel;
import org.gsa4j.cuda.CudaModule;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.KernelCompiler;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.KernelSources;
import org.gsa4j.cuda.ops.Precision;

/**
 * The element-wise kernels of {@code model_glue.cu} for one device and precision: silu and relu with their
 * backward, and the grouped-query expansion of heads with its reduction (the CPU engine's
 * {@code repeatHeads}: query head h·groups + j reads kv head h). Compiled once per device and precision.
 */
final class GlueKernels {
    private static final String[] SOURCES = {"common.cu", "model_glue.cu"};
    private static final Map<String, GlueKernels> LOADED = new ConcurrentHashMap<>();

    private final CudaKernel siluForward, siluBackward, reluForward, reluBackward;
    private final CudaKernel repeatHeadsIo, repeatHeadsF32, repeatHeadsBackwardIo, repeatHeadsBackwardF32;

    private GlueKernels(CudaDevice device, Precision precision) {
        CudaModule module = new KernelCompiler(device).load("gsa4j-model-glue-" + precision.name().toLowerCase(), KernelSources.concat(SOURCES),
                "-DGSA4J_BF16=" + (precision == Precision.BF16 ? 1 : 0));
        siluForward = module.function("silu_forward");
        siluBackward = module.function("silu_backward");
        reluForward = module.function("relu_forward");
        reluBackward = module.function("relu_backward");
        repeatHeadsIo = module.function("repeat_heads_io");
        repeatHeadsF32 = module.function("repeat_heads_f32");
        repeatHeadsBackwardIo = module.function("repeat_heads_backward_io");
        repeatHeadsBackwardF32 = module.function("repeat_heads_backward_f32");
    }

    /** The kernels of {@code precision} on {@code device}, compiled on first use. Call on the device's thread. */
    static GlueKernels of(CudaDevice device, Precision precision) {
        return LOADED.computeIfAbsent(device.ordinal() + "/" + precision, key -> new GlueKernels(device, precision));
    }

    void silu(DeviceTensor x, DeviceTensor y, CudaStream stream) {
        launch(siluForward, x.size(), stream, x.buffer(), y.buffer(), x.size());
    }

    void siluBackward(DeviceTensor x, DeviceTensor dy, DeviceTensor dx, CudaStream stream) {
        launch(siluBackward, x.size(), stream, x.buffer(), dy.buffer(), dx.buffer(), x.size());
    }

    void relu(DeviceTensor x, DeviceTensor y, CudaStream stream) {
        launch(reluForward, x.size(), stream, x.buffer(), y.buffer(), x.size());
    }

    void reluBackward(DeviceTensor x, DeviceTensor dy, DeviceTensor dx, CudaStream stream) {
        launch(reluBackward, x.size(), stream, x.buffer(), dy.buffer(), dx.buffer(), x.size());
    }

    /** y [rows, hkv·groups, d] from x [rows, hkv, d]; float32 tensors take the float32 kernel whatever the mode. */
    void repeatHeads(DeviceTensor x, DeviceTensor y, long rows, int hkv, int d, int groups, CudaStream stream) {
        CudaKernel k = x.precision() == Precision.F32 ? repeatHeadsF32 : repeatHeadsIo;
        launch(k, y.size(), stream, x.buffer(), y.buffer(), rows, hkv, d, groups);
    }

    /** dx [rows, hkv, d] = Σ over each group's heads of dy [rows, hkv·groups, d]. */
    void repeatHeadsBackward(DeviceTensor dy, DeviceTensor dx, long rows, int hkv, int d, int groups, CudaStream stream) {
        CudaKernel k = dy.precision() == Precision.F32 ? repeatHeadsBackwardF32 : repeatHeadsBackwardIo;
        launch(k, dx.size(), stream, dy.buffer(), dx.buffer(), rows, hkv, d, groups);
    }

    private static void launch(CudaKernel kernel, long n, CudaStream stream, Object... args) {
        int blocks = (int) Math.max(1, Math.min(65535, (n + 255) / 256));
        kernel.launch(new int[] {blocks, 1, 1}, new int[] {256, 1, 1}, 0, stream, args);
    }
}
