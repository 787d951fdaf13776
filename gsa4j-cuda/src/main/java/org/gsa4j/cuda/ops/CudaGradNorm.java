package org.gsa4j.cuda.ops;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.DeviceBuffer;

/**
 * The global gradient norm and the clipping factor on the GPU (docs/MATH.md, "AdamW and clipping"), as
 * {@code org.gsa4j.train.Trainer} forms them: {@code norm = √(Σ g²) / accumulationSteps} over every gradient, and
 * the factor {@link CudaAdamW} multiplies the gradients by, {@code (1/accumulationSteps) · (maxNorm / (norm + 1e-6)
 * when 0 < maxNorm < norm, else 1)}. The sum is deterministic: double partial sums over fixed spans of each tensor,
 * then the partials in order, in one block. The result stays on the device ({@link #result()}: two doubles, norm
 * then factor) until {@link #read()} asks for it. Call on the device's thread.
 */
public final class CudaGradNorm implements AutoCloseable {
    /** Elements per partial sum. */
    static final long SPAN = 1 << 16;

    private final CudaDevice device;
    private final ModelKernels kernels;
    private final DeviceBuffer result;

    public CudaGradNorm(CudaDevice device) {
        this.device = device;
        this.kernels = ModelKernels.of(device, Precision.F32);
        this.result = device.allocate(16);
    }

    /** Launches the norm of {@code grads} (float32) into {@link #result()}; maxNorm ≤ 0: no clipping (factor invAccum). */
    public void compute(List<DeviceTensor> grads, double invAccum, double maxNorm, CudaStream stream) {
        int partials = 0;
        for (DeviceTensor g : grads) {
            ModelKernels.requireF32(g, "a gradient");
            partials += ModelKernels.blocks(g.size(), (int) SPAN);
        }
        try (DeviceBuffer partial = device.allocate(8L * Math.max(1, partials))) {
            int at = 0;
            for (DeviceTensor g : grads) {
                int blocks = ModelKernels.blocks(g.size(), (int) SPAN);
                if (blocks == 0) continue;
                kernels.sumOfSquaresPartial.launch(new int[] {blocks, 1, 1}, new int[] {ModelKernels.THREADS, 1, 1},
                        8 * ModelKernels.THREADS, stream, g.buffer(), g.size(), SPAN, partial.address() + 8L * at);
                at += blocks;
            }
            kernels.gradNormFinish.launch(new int[] {1, 1, 1}, new int[] {ModelKernels.THREADS, 1, 1}, 8 * ModelKernels.THREADS,
                    stream, partial, partials, invAccum, maxNorm, result);
        }
    }

    /** {norm, factor} on the device, for {@link CudaAdamW#update}. */
    public DeviceBuffer result() {
        return result;
    }

    /** {norm, factor}, after the work queued before (waits for the device). */
    public double[] read() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(16, 8);
            result.copyTo(host);
            return new double[] {host.getAtIndex(ValueLayout.JAVA_DOUBLE, 0), host.getAtIndex(ValueLayout.JAVA_DOUBLE, 1)};
        }
    }

    @Override
    public void close() {
        result.close();
    }
}
