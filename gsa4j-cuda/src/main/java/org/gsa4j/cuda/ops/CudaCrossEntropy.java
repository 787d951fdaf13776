package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CublasLt;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.DeviceBuffer;

/**
 * Cross-entropy over a large vocabulary on the GPU (docs/MATH.md, "Cross-entropy"), the device twin of
 * {@code org.gsa4j.ops.CrossEntropy} fused with the output projection: the mean over labelled rows of
 * {@code logsumexp(z) − z[target]} with {@code z = hidden · weightᵀ}, and its gradients.
 *
 * <p>Float32 logits never exist for the whole batch. {@link #run} walks the rows in blocks of
 * {@code rowsPerBlock}: the block's logits come from one cuBLASLt product into a buffer that every block reuses
 * (float32, R × V), one kernel turns them into the rows' losses and, in place, into the gradient of the logits
 * ({@code (softmax − onehot) · scale / labelled}, stored in the call's precision), and two more products give the
 * block's {@code dHidden = dz · weight} and {@code dWeight += dzᵀ · hidden}. The products stay on cuBLASLt at the
 * tensor cores' rate (bf16 in, float32 accumulation); the memory is bounded by R × V × 6 bytes in bf16 mode. The
 * mean over rows is a fixed-order reduction in double: the loss is the same bits in every run.
 *
 * <p>hidden [N, D], weight [V, D] (the lm_head, or the tied embedding) and dHidden in the call's precision; dWeight
 * float32 [V, D], accumulated; loss float32 [1]. Asynchronous on {@code stream}; call on the device's thread.
 */
public final class CudaCrossEntropy {
    /** Targets equal to this are skipped (no loss, no gradient), as the CPU engine's labels mark them. */
    public static final int IGNORE_INDEX = -100;

    private final CudaDevice device;
    private final ModelKernels kernels;
    private final CublasLt blas;
    private final int rowsPerBlock;

    /** {@code rowsPerBlock}: rows of logits computed at once (the workspace is rowsPerBlock × V floats). */
    public CudaCrossEntropy(CudaDevice device, Precision precision, CublasLt blas, int rowsPerBlock) {
        if (rowsPerBlock < 1) throw new IllegalArgumentException("rowsPerBlock " + rowsPerBlock);
        this.device = device;
        this.kernels = ModelKernels.of(device, precision);
        this.blas = blas;
        this.rowsPerBlock = rowsPerBlock;
    }

    public Precision precision() {
        return kernels.precision;
    }

    /** Targets on the device (int32 [rows]) and how many are labelled (not {@link #IGNORE_INDEX}). */
    public record Targets(DeviceBuffer ids, int rows, int labelled) implements AutoCloseable {
        @Override
        public void close() {
            ids.close();
        }
    }

    /** Checks every target against the vocabulary (an error names the first bad one) and uploads them. */
    public Targets upload(int[] targets, int vocab) {
        int labelled = 0;
        for (int i = 0; i < targets.length; i++) {
            if (targets[i] == IGNORE_INDEX) continue;
            if (targets[i] < 0 || targets[i] >= vocab) {
                throw new IllegalArgumentException("target " + targets[i] + " at row " + i + " outside the vocabulary [0, " + vocab + ")");
            }
            labelled++;
        }
        DeviceBuffer ids = device.allocate(4L * Math.max(1, targets.length));
        ids.copyFrom(targets);
        return new Targets(ids, targets.length, labelled);
    }

    /**
     * loss = the mean cross-entropy of {@code hidden · weightᵀ} against the targets. Where dHidden or dWeight is not
     * null, also the gradients of {@code lossScale · loss}: dHidden written, dWeight accumulated (either may be null).
     */
    public void run(DeviceTensor hidden, DeviceTensor weight, Targets targets, float lossScale, DeviceTensor loss,
                    DeviceTensor dHidden, DeviceTensor dWeight, CudaStream stream) {
        int n = hidden.dim(0), d = hidden.dim(1), vocab = weight.dim(0);
        kernels.requireStorage(hidden, "hidden");
        kernels.requireStorage(weight, "the output weight");
        kernels.requireStorage(dHidden, "dHidden");
        ModelKernels.requireSize(dHidden, (long) n * d, "dHidden");
        ModelKernels.requireF32(dWeight, "dWeight");
        ModelKernels.requireSize(dWeight, weight.size(), "dWeight");
        checkRows(targets, n, loss);
        if (weight.dim(1) != d) throw new IllegalArgumentException("weight " + weight + " does not match hidden " + hidden);
        boolean grads = dHidden != null || dWeight != null;
        boolean f32 = kernels.precision == Precision.F32;
        CublasLt.Precision logitsGemm = f32 ? CublasLt.Precision.FLOAT32 : CublasLt.Precision.BF16_FLOAT32_OUT;
        CublasLt.Precision dHiddenGemm = f32 ? CublasLt.Precision.FLOAT32 : CublasLt.Precision.BF16;
        int rows = Math.min(rowsPerBlock, n), bytes = kernels.precision.bytes;
        try (DeviceTensor logits = DeviceTensor.allocate(device, Precision.F32, rows, vocab);
             DeviceTensor dz = grads && !f32 ? DeviceTensor.allocate(device, kernels.precision, rows, vocab) : null;
             DeviceTensor rowLoss = DeviceTensor.allocate(device, Precision.F32, n)) {
            DeviceTensor dlogits = !grads ? null : f32 ? logits : dz;
            float gradScale = targets.labelled() == 0 ? 0f : lossScale / targets.labelled();
            for (int r0 = 0; r0 < n; r0 += rows) {
                int m = Math.min(rows, n - r0);
                long h = hidden.buffer().address() + (long) r0 * d * bytes;
                blas.gemmStridedBatched(logitsGemm, false, true, m, vocab, d, 1f, h, d, 0, weight.buffer().address(), d, 0,
                        0f, logits.buffer().address(), vocab, 0, 1, stream);
                kernels.crossEntropyRows.launch(new int[] {m, 1, 1}, new int[] {ModelKernels.ROW_THREADS, 1, 1}, 2 * 32 * 4, stream,
                        logits.buffer(), targets.ids().address() + 4L * r0, rowLoss.buffer().address() + 4L * r0,
                        ModelKernels.ptr(dlogits), vocab, gradScale, IGNORE_INDEX);
                if (dHidden != null) {
                    blas.gemmStridedBatched(dHiddenGemm, false, false, m, d, vocab, 1f, dlogits.buffer().address(), vocab, 0,
                            weight.buffer().address(), d, 0, 0f, dHidden.buffer().address() + (long) r0 * d * bytes, d, 0, 1, stream);
                }
                if (dWeight != null) {
                    blas.gemmStridedBatched(logitsGemm, true, false, vocab, d, m, 1f, dlogits.buffer().address(), vocab, 0,
                            h, d, 0, 1f, dWeight.buffer().address(), d, 0, 1, stream);
                }
            }
            meanLoss(rowLoss, n, targets.labelled(), loss, stream);
        }
    }

    /**
     * The loss kernel alone, on logits the caller made (float32 [N, V]): loss = the mean over labelled rows, and where
     * dlogits is not null, dlogits = (softmax − onehot) · gradScale, the gradient of {@code gradScale · labelled ·
     * loss} (written, in the call's precision; in float32 mode it may be the logits' own tensor).
     */
    public void rows(DeviceTensor logits, Targets targets, float gradScale, DeviceTensor loss, DeviceTensor dlogits, CudaStream stream) {
        int n = logits.dim(0), vocab = logits.dim(1);
        ModelKernels.requireF32(logits, "logits");
        kernels.requireStorage(dlogits, "dlogits");
        ModelKernels.requireSize(dlogits, logits.size(), "dlogits");
        checkRows(targets, n, loss);
        try (DeviceTensor rowLoss = DeviceTensor.allocate(device, Precision.F32, n)) {
            ModelKernels.launchRows(kernels.crossEntropyRows, n, 2 * 32 * 4, stream, logits.buffer(), targets.ids(), rowLoss.buffer(),
                    ModelKernels.ptr(dlogits), vocab, gradScale, IGNORE_INDEX);
            meanLoss(rowLoss, n, targets.labelled(), loss, stream);
        }
    }

    private void meanLoss(DeviceTensor rowLoss, int n, int labelled, DeviceTensor loss, CudaStream stream) {
        kernels.meanLoss.launch(new int[] {1, 1, 1}, new int[] {ModelKernels.THREADS, 1, 1}, 8 * ModelKernels.THREADS, stream,
                rowLoss.buffer(), (long) n, labelled == 0 ? 0.0 : 1.0 / labelled, loss.buffer());
    }

    private static void checkRows(Targets targets, int n, DeviceTensor loss) {
        if (targets.rows() != n) throw new IllegalArgumentException(targets.rows() + " targets for " + n + " rows");
        ModelKernels.requireF32(loss, "loss");
        ModelKernels.requireSize(loss, 1, "loss");
    }
}
