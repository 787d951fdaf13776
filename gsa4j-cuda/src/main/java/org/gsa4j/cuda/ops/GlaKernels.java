package org.gsa4j.cuda.ops;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaKernel;
import org.gsa4j.cuda.CudaModule;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.DeviceBuffer;
import org.gsa4j.cuda.KernelCompiler;

/**
 * The compiled kernels of the primitive and of GSA for one device and precision: the CUDA C sources
 * under {@code org/gsa4j/cuda/kernels} ({@code common.cu}, {@code gla_chunk.cu}, {@code gsa.cu}),
 * compiled once by NVRTC for the device's architecture (and cached on disk by {@link KernelCompiler}),
 * with each chunk kernel's dynamic shared memory read from the module itself.
 */
final class GlaKernels {
    static final String[] SOURCES = {"common.cu", "gla_chunk.cu", "gsa.cu"};
    private static final Map<String, GlaKernels> LOADED = new ConcurrentHashMap<>();

    final Precision precision;
    final CudaKernel chunkLocal, chunkScan, fwdKey, fwdValue, bwdKeyDqk, bwdKeyDv, bwdValueDqk, bwdValueDvg;
    final CudaKernel slotGate, slotGateBackward, softmax, softmaxBackward, addInto, addIntoF32, glaStep, gsaStep;
    /** Dynamic shared memory (bytes) of chunkLocal, fwdKey, fwdValue, bwdKeyDqk, bwdKeyDv, bwdValueDqk, bwdValueDvg. */
    final int[] shared = new int[7];

    private GlaKernels(CudaDevice device, Precision precision) {
        this.precision = precision;
        CudaModule module = new KernelCompiler(device).load("gsa4j-gla-" + precision.name().toLowerCase(), source(),
                "-DGSA4J_BF16=" + (precision == Precision.BF16 ? 1 : 0));
        chunkLocal = module.function("gla_chunk_local");
        chunkScan = module.function("gla_chunk_scan");
        fwdKey = module.function("gla_fwd_key");
        fwdValue = module.function("gla_fwd_value");
        bwdKeyDqk = module.function("gla_bwd_key_dqk");
        bwdKeyDv = module.function("gla_bwd_key_dv");
        bwdValueDqk = module.function("gla_bwd_value_dqk");
        bwdValueDvg = module.function("gla_bwd_value_dvg");
        slotGate = module.function("gsa_slot_gate");
        slotGateBackward = module.function("gsa_slot_gate_backward");
        softmax = module.function("gsa_softmax");
        softmaxBackward = module.function("gsa_softmax_backward");
        addInto = module.function("add_into");
        addIntoF32 = module.function("add_into_f32");
        glaStep = module.function("gla_step");
        gsaStep = module.function("gsa_step");
        CudaStream stream = device.stream();
        try (DeviceBuffer sizes = device.allocate(4L * shared.length)) {
            module.function("gla_smem_bytes").launch(new int[] {1, 1, 1}, new int[] {1, 1, 1}, 0, stream, sizes);
            stream.synchronize();
            sizes.copyTo(shared);
        }
        CudaKernel[] chunk = {chunkLocal, fwdKey, fwdValue, bwdKeyDqk, bwdKeyDv, bwdValueDqk, bwdValueDvg};
        for (int i = 0; i < chunk.length; i++) chunk[i].setMaxDynamicSharedMemory(shared[i]);
    }

    /** The kernels of {@code precision} on {@code device}, compiled on first use. Call on the device's thread. */
    static GlaKernels of(CudaDevice device, Precision precision) {
        return LOADED.computeIfAbsent(device.ordinal() + "/" + precision, key -> new GlaKernels(device, precision));
    }

    /** The concatenated kernel sources (one translation unit). */
    static String source() {
        return KernelSources.concat(SOURCES);
    }
}
