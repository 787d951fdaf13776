package org.gsa4j.cuda.ops;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaKernel;
import org.gsa4j.cuda.CudaModule;
import org.gsa4j.cuda.KernelCompiler;

/**
 * The compiled kernels the GLA, RetNet, HGRN2 and softmax-attention mixers add to a model's: {@code mixers.cu}
 * (row bias, rotary embedding) and {@code attention.cu} (causal softmax attention) after {@code common.cu}, compiled
 * once per device and precision by NVRTC. {@link CudaBias}, {@link CudaRotary} and {@link CudaAttention} launch them.
 */
final class MixerKernels {
    static final String[] SOURCES = {"common.cu", "mixers.cu", "attention.cu"};
    /** Query (or key) rows per attention block, one warp each (attention.cu's ATT_ROWS). */
    static final int ATTENTION_ROWS = 8;
    /** Rows per shared tile of the attention kernels (ATT_TILE). */
    static final int ATTENTION_TILE = 32;
    /** The widest head the attention kernels hold in registers (32 · ATT_MAXC). */
    static final int ATTENTION_MAX_HEAD_DIM = 256;
    private static final Map<String, MixerKernels> LOADED = new ConcurrentHashMap<>();

    final Precision precision;
    final CudaKernel addRowBias, biasGradient, rotary;
    final CudaKernel attentionForward, attentionDelta, attentionBackwardDq, attentionBackwardDkv, copyRows;

    private MixerKernels(CudaDevice device, Precision precision) {
        this.precision = precision;
        CudaModule module = new KernelCompiler(device).load("gsa4j-mixers-" + precision.name().toLowerCase(), source(),
                "-DGSA4J_BF16=" + (precision == Precision.BF16 ? 1 : 0));
        addRowBias = module.function("add_row_bias");
        biasGradient = module.function("bias_gradient");
        rotary = module.function("rotary");
        attentionForward = module.function("attention_forward");
        attentionDelta = module.function("attention_delta");
        attentionBackwardDq = module.function("attention_backward_dq");
        attentionBackwardDkv = module.function("attention_backward_dkv");
        copyRows = module.function("copy_rows");
        int most = attentionSharedBytes(ATTENTION_MAX_HEAD_DIM);
        for (CudaKernel k : new CudaKernel[] {attentionForward, attentionBackwardDq, attentionBackwardDkv}) k.setMaxDynamicSharedMemory(most);
    }

    /** The kernels of {@code precision} on {@code device}, compiled on first use. Call on the device's thread. */
    static MixerKernels of(CudaDevice device, Precision precision) {
        return LOADED.computeIfAbsent(device.ordinal() + "/" + precision, key -> new MixerKernels(device, precision));
    }

    /** The concatenated kernel sources (one translation unit). */
    static String source() {
        return KernelSources.concat(SOURCES);
    }

    /**
     * Dynamic shared memory of the attention kernels for heads of {@code d}: the largest of the three (the dk/dv
     * kernel's: two rows of ATTENTION_ROWS × d, two tiles of ATTENTION_TILE × (d + 1), lse and δ of a tile).
     */
    static int attentionSharedBytes(int d) {
        return Float.BYTES * (2 * ATTENTION_ROWS * d + 2 * ATTENTION_TILE * (d + 1) + 2 * ATTENTION_TILE);
    }
}
