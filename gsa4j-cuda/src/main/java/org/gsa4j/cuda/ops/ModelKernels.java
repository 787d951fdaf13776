package org.gsa4j.cuda.ops;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaKernel;
import org.gsa4j.cuda.CudaModule;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.KernelCompiler;

/**
 * The compiled kernels of a whole model around the token mixers, for one device and precision: {@code model.cu}
 * after {@code common.cu} and {@code gsa.cu} (whose warp reductions and slot gate it uses), compiled once by NVRTC
 * (and cached on disk by {@link KernelCompiler}). The ops classes beside it ({@link CudaRmsNorm}, {@link CudaSwiglu},
 * {@link CudaEmbedding}, {@link CudaGates}, {@link CudaShortConv}, {@link CudaCrossEntropy}, {@link CudaAdamW},
 * {@link CudaGradNorm}) launch them.
 */
final class ModelKernels {
    static final String[] SOURCES = {"common.cu", "gsa.cu", "model.cu"};
    /** Threads per block of the kernels that give one block to each row. */
    static final int ROW_THREADS = 128;
    /** Threads per block of the element-wise and per-column kernels. */
    static final int THREADS = 256;
    /** Widest short-convolution kernel the kernels take (model.cu's MAX_CONV_WIDTH). */
    static final int MAX_CONV_WIDTH = 8;
    private static final Map<String, ModelKernels> LOADED = new ConcurrentHashMap<>();

    final Precision precision;
    final CudaKernel rmsNorm, rmsNormBackward, rmsNormDwPartial, addColumnSums;
    final CudaKernel swiglu, swigluBackward, embedding, embeddingBackward;
    final CudaKernel slotGate, slotGateBackward, logSigmoidGate, logSigmoidGateBackward;
    final CudaKernel hgrn2Gate, hgrn2GateBackward, hgrn2DlbPartial, hgrn2LowerBound, hgrn2LowerBoundBackward;
    final CudaKernel shortConv, shortConvNextCache, shortConvBackwardDu, shortConvBackwardDx, shortConvDwPartial;
    final CudaKernel crossEntropyRows, meanLoss, sumOfSquaresPartial, gradNormFinish, adamw;

    private ModelKernels(CudaDevice device, Precision precision) {
        this.precision = precision;
        CudaModule module = new KernelCompiler(device).load("gsa4j-model-" + precision.name().toLowerCase(), source(),
                "-DGSA4J_BF16=" + (precision == Precision.BF16 ? 1 : 0));
        rmsNorm = module.function("rmsnorm_residual");
        rmsNormBackward = module.function("rmsnorm_residual_backward");
        rmsNormDwPartial = module.function("rmsnorm_dw_partial");
        addColumnSums = module.function("add_column_sums");
        swiglu = module.function("swiglu");
        swigluBackward = module.function("swiglu_backward");
        embedding = module.function("embedding");
        embeddingBackward = module.function("embedding_backward");
        slotGate = module.function("gsa_slot_gate");
        slotGateBackward = module.function("gsa_slot_gate_backward");
        logSigmoidGate = module.function("log_sigmoid_gate");
        logSigmoidGateBackward = module.function("log_sigmoid_gate_backward");
        hgrn2Gate = module.function("hgrn2_gate");
        hgrn2GateBackward = module.function("hgrn2_gate_backward");
        hgrn2DlbPartial = module.function("hgrn2_dlb_partial");
        hgrn2LowerBound = module.function("hgrn2_lower_bound");
        hgrn2LowerBoundBackward = module.function("hgrn2_lower_bound_backward");
        shortConv = module.function("short_conv");
        shortConvNextCache = module.function("short_conv_next_cache");
        shortConvBackwardDu = module.function("short_conv_backward_du");
        shortConvBackwardDx = module.function("short_conv_backward_dx");
        shortConvDwPartial = module.function("short_conv_dw_partial");
        crossEntropyRows = module.function("cross_entropy_rows");
        meanLoss = module.function("mean_loss");
        sumOfSquaresPartial = module.function("sum_of_squares_partial");
        gradNormFinish = module.function("grad_norm_finish");
        adamw = module.function("adamw");
    }

    /** The kernels of {@code precision} on {@code device}, compiled on first use. Call on the device's thread. */
    static ModelKernels of(CudaDevice device, Precision precision) {
        return LOADED.computeIfAbsent(device.ordinal() + "/" + precision, key -> new ModelKernels(device, precision));
    }

    /** The concatenated kernel sources (one translation unit). */
    static String source() {
        return KernelSources.concat(SOURCES);
    }

    /** A grid-stride element-wise launch over {@code n} elements. */
    static void launch1d(CudaKernel kernel, long n, CudaStream stream, Object... args) {
        int blocks = (int) Math.min(65535, (n + THREADS - 1) / THREADS);
        kernel.launch(new int[] {Math.max(1, blocks), 1, 1}, new int[] {THREADS, 1, 1}, 0, stream, args);
    }

    /** One block of {@link #ROW_THREADS} per row, with {@code sharedBytes} of dynamic shared memory. */
    static void launchRows(CudaKernel kernel, long rows, int sharedBytes, CudaStream stream, Object... args) {
        if (rows > Integer.MAX_VALUE) throw new IllegalArgumentException(rows + " rows: at most " + Integer.MAX_VALUE + " per launch");
        kernel.launch(new int[] {(int) rows, 1, 1}, new int[] {ROW_THREADS, 1, 1}, sharedBytes, stream, args);
    }

    static int blocks(long n, int per) {
        return (int) ((n + per - 1) / per);
    }

    /** {@code t} must be stored in the kernels' precision (activations, their gradients, bf16 weight copies). */
    void requireStorage(DeviceTensor t, String name) {
        if (t != null && t.precision() != precision) {
            throw new IllegalArgumentException(name + " is " + t + "; the " + precision + " kernels take it in " + precision);
        }
    }

    /** {@code t} must be float32 (gates, parameter gradients, master weights, moments, statistics). */
    static void requireF32(DeviceTensor t, String name) {
        if (t != null && t.precision() != Precision.F32) {
            throw new IllegalArgumentException(name + " is " + t + "; it must be float32");
        }
    }

    static void requireSize(DeviceTensor t, long size, String name) {
        if (t != null && t.size() != size) {
            throw new IllegalArgumentException(name + " is " + t + "; " + size + " elements expected");
        }
    }

    /** A kernel argument for an optional tensor: its buffer, or a null device pointer. */
    static Object ptr(DeviceTensor t) {
        return t == null ? (Object) 0L : t.buffer();
    }
}
