package org.gsa4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.HashMap;
import java.util.Map;

/**
 * Matrix products on the GPU through cuBLASLt, for row-major matrices.
 *
 * <p>{@code C = alpha * op(A) * op(B) + beta * C} with {@code op(A)} m×k, {@code op(B)} k×n and C m×n, all
 * row-major with leading dimensions (row strides) lda, ldb, ldc in elements. cuBLASLt counts in
 * column-major terms; a row-major matrix is the column-major view of its transpose, so the product is
 * handed over as {@code C^T = op(B)^T op(A)^T}: B's memory in cuBLASLt's place of A and the other way round.
 *
 * <p>Precision: {@link Precision#BF16} multiplies bfloat16 on the tensor cores with float32 accumulation;
 * {@link Precision#FLOAT32} is float32 throughout for conformance (pedantic compute type: no TF32 or other
 * reduced-precision shortcut). Each shape's algorithm comes from cuBLASLt's heuristic once and is cached,
 * with a workspace of {@value #WORKSPACE_BYTES} bytes.
 */
public final class CublasLt implements AutoCloseable {

    /** Element types of the operands and the accumulation. */
    public enum Precision {
        /** float32 A, B, C; float32 arithmetic, never TF32. */
        FLOAT32(CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_PEDANTIC),
        /** bfloat16 A, B, C; float32 accumulation. */
        BF16(CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F),
        /** bfloat16 A, B; float32 C; float32 accumulation. */
        BF16_FLOAT32_OUT(CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F);

        final int inputType;
        final int outputType;
        final int computeType;

        Precision(int inputType, int outputType, int computeType) {
            this.inputType = inputType;
            this.outputType = outputType;
            this.computeType = computeType;
        }

        int inputBytes() {
            return inputType == CUDA_R_32F ? 4 : 2;
        }

        int outputBytes() {
            return outputType == CUDA_R_32F ? 4 : 2;
        }
    }

    /** cuBLASLt's workspace: 32 MiB, what NVIDIA suggests for Hopper. */
    public static final long WORKSPACE_BYTES = 32L << 20;

    // cudaDataType_t (library_types.h)
    static final int CUDA_R_32F = 0;
    static final int CUDA_R_16BF = 14;
    // cublasComputeType_t
    static final int CUBLAS_COMPUTE_32F = 68;
    static final int CUBLAS_COMPUTE_32F_PEDANTIC = 69;
    // cublasOperation_t
    static final int CUBLAS_OP_N = 0;
    static final int CUBLAS_OP_T = 1;
    // cublasLtMatmulDescAttributes_t
    static final int CUBLASLT_MATMUL_DESC_TRANSA = 3;
    static final int CUBLASLT_MATMUL_DESC_TRANSB = 4;
    // cublasLtMatrixLayoutAttribute_t
    static final int CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5;
    static final int CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6;
    // cublasLtMatmulPreferenceAttributes_t
    static final int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;
    static final int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5;
    static final int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6;
    static final int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7;
    static final int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8;
    static final int CUBLAS_STATUS_SUCCESS = 0;
    static final int CUBLAS_STATUS_NOT_SUPPORTED = 15;

    /**
     * {@code cublasLtMatmulHeuristicResult_t}: algo (64 bytes), workspaceSize (size_t), state (int), waves
     * (float), reserved int[4] — 96 bytes; room for a larger future layout.
     */
    private static final long HEURISTIC_RESULT_BYTES = 1024;

    /** The cuBLASLt functions, bound on first use. Device pointers travel as 64-bit integers (same ABI). */
    private static final class Api {
        static final NativeLibrary LIB = CudaLibraries.cublasLt();
        static final MethodHandle create = fn("cublasLtCreate", ADDRESS);
        static final MethodHandle destroy = fn("cublasLtDestroy", ADDRESS);
        static final MethodHandle descCreate = fn("cublasLtMatmulDescCreate", ADDRESS, JAVA_INT, JAVA_INT);
        static final MethodHandle descDestroy = fn("cublasLtMatmulDescDestroy", ADDRESS);
        static final MethodHandle descSetAttribute = fn("cublasLtMatmulDescSetAttribute", ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
        static final MethodHandle layoutCreate = fn("cublasLtMatrixLayoutCreate", ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG);
        static final MethodHandle layoutDestroy = fn("cublasLtMatrixLayoutDestroy", ADDRESS);
        static final MethodHandle layoutSetAttribute = fn("cublasLtMatrixLayoutSetAttribute", ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
        static final MethodHandle preferenceCreate = fn("cublasLtMatmulPreferenceCreate", ADDRESS);
        static final MethodHandle preferenceDestroy = fn("cublasLtMatmulPreferenceDestroy", ADDRESS);
        static final MethodHandle preferenceSetAttribute = fn("cublasLtMatmulPreferenceSetAttribute", ADDRESS, JAVA_INT,
                ADDRESS, JAVA_LONG);
        static final MethodHandle algoGetHeuristic = fn("cublasLtMatmulAlgoGetHeuristic", ADDRESS, ADDRESS, ADDRESS,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
        static final MethodHandle matmul = fn("cublasLtMatmul", ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG,
                ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
        static final MethodHandle statusName = LIB.optionalFunction("cublasLtGetStatusName", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        static final MethodHandle statusString = LIB.optionalFunction("cublasLtGetStatusString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        static final MethodHandle version = LIB.function("cublasLtGetVersion", FunctionDescriptor.of(JAVA_LONG));

        private static MethodHandle fn(String name, MemoryLayout... args) {
            return LIB.function(name, FunctionDescriptor.of(JAVA_INT, args));
        }
    }

    /** What decides the algorithm: the problem, the layouts and the pointers' alignment. */
    private record PlanKey(Precision precision, boolean transA, boolean transB, int m, int n, int k, int lda, int ldb,
                           int ldc, int batch, long strideA, long strideB, long strideC, int alignA, int alignB, int alignC) {
    }

    /** The descriptors and the chosen algorithm for one {@link PlanKey}. */
    private record Plan(MemorySegment desc, MemorySegment layoutOfB, MemorySegment layoutOfA, MemorySegment layoutOfC,
                        MemorySegment algo, int computeType) {
    }

    private final CudaDevice device;
    private final Arena arena; // confined to the device's thread
    private final MemorySegment handle;
    private final DeviceBuffer workspace;
    private final MemorySegment scalars; // alpha, beta
    private final Map<PlanKey, Plan> plans = new HashMap<>();
    private boolean closed;

    /** A cuBLASLt handle for {@code device} (call on any thread; it works on the device's thread). */
    public CublasLt(CudaDevice device) {
        this.device = device;
        CudaLibraries.cublasLt(); // a missing library: one clear line, not a class-initialisation error
        this.arena = device.call(Arena::ofConfined);
        this.handle = device.call(() -> created(out -> (int) Api.create.invokeExact(out), "cublasLtCreate"));
        this.workspace = device.allocate(WORKSPACE_BYTES);
        this.scalars = device.call(() -> arena.allocate(JAVA_FLOAT, 2));
        device.run(() -> device.register(this));
    }

    /** cuBLASLt's version, e.g. 130100 for 13.1.0. */
    public long version() {
        return invokeLong(() -> (long) Api.version.invokeExact());
    }

    /** {@link #gemm(Precision, boolean, boolean, int, int, int, float, DeviceBuffer, int, DeviceBuffer, int, float, DeviceBuffer, int, CudaStream)} on the device's stream. */
    public void gemm(Precision precision, boolean transA, boolean transB, int m, int n, int k, float alpha,
                     DeviceBuffer a, int lda, DeviceBuffer b, int ldb, float beta, DeviceBuffer c, int ldc) {
        gemm(precision, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, device.stream());
    }

    /**
     * Row-major {@code C = alpha * op(A) op(B) + beta * C}; A is stored m×k (k×m when {@code transA}), B k×n
     * (n×k when {@code transB}), C m×n. The buffers must hold the matrices their leading dimensions describe.
     */
    public void gemm(Precision precision, boolean transA, boolean transB, int m, int n, int k, float alpha,
                     DeviceBuffer a, int lda, DeviceBuffer b, int ldb, float beta, DeviceBuffer c, int ldc, CudaStream stream) {
        checkShape(transA, transB, m, n, k, lda, ldb, ldc);
        checkFits(a, transA ? k : m, transA ? m : k, lda, precision.inputBytes(), "A");
        checkFits(b, transB ? n : k, transB ? k : n, ldb, precision.inputBytes(), "B");
        checkFits(c, m, n, ldc, precision.outputBytes(), "C");
        run(precision, transA, transB, m, n, k, alpha, a.address(), lda, 0, b.address(), ldb, 0, beta, c.address(),
                ldc, 0, 1, stream);
    }

    /**
     * {@code batch} independent products; matrix i of A starts {@code i * strideA} elements after {@code a}
     * (likewise B and C). Addresses are raw device addresses (e.g. {@code buffer.address() + offset}), unchecked.
     */
    public void gemmStridedBatched(Precision precision, boolean transA, boolean transB, int m, int n, int k, float alpha,
                                   long a, int lda, long strideA, long b, int ldb, long strideB, float beta,
                                   long c, int ldc, long strideC, int batch, CudaStream stream) {
        checkShape(transA, transB, m, n, k, lda, ldb, ldc);
        if (batch < 1) {
            throw new IllegalArgumentException("batch " + batch);
        }
        run(precision, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch, stream);
    }

    private void run(Precision precision, boolean transA, boolean transB, int m, int n, int k, float alpha,
                     long a, int lda, long strideA, long b, int ldb, long strideB, float beta,
                     long c, int ldc, long strideC, int batch, CudaStream stream) {
        stream.checkUse("CublasLt.gemm");
        if (closed) {
            throw new IllegalStateException("CublasLt is closed");
        }
        PlanKey key = new PlanKey(precision, transA, transB, m, n, k, lda, ldb, ldc, batch, strideA, strideB, strideC,
                alignment(a), alignment(b), alignment(c));
        Plan plan = plans.get(key);
        if (plan == null) {
            plan = plan(key);
            plans.put(key, plan);
        }
        scalars.setAtIndex(JAVA_FLOAT, 0, alpha);
        scalars.setAtIndex(JAVA_FLOAT, 1, beta);
        MemorySegment alphaPtr = scalars;
        MemorySegment betaPtr = scalars.asSlice(4);
        Plan p = plan;
        int status = invoke(() -> (int) Api.matmul.invokeExact(handle, p.desc(), alphaPtr, b, p.layoutOfB(), a,
                p.layoutOfA(), betaPtr, c, p.layoutOfC(), c, p.layoutOfC(), p.algo(), workspace.address(),
                WORKSPACE_BYTES, stream.handle()));
        check(status, "cublasLtMatmul(" + key + ")");
    }

    /** The computeType the plans of {@code precision} use (FLOAT32 falls back to plain 32F if pedantic is refused). */
    int computeTypeUsed(Precision precision) {
        return plans.entrySet().stream().filter(e -> e.getKey().precision() == precision)
                .mapToInt(e -> e.getValue().computeType()).findFirst().orElse(-1);
    }

    private Plan plan(PlanKey key) {
        try {
            return plan(key, key.precision().computeType);
        } catch (CudaException e) {
            if (key.precision() != Precision.FLOAT32) {
                throw e;
            }
            return plan(key, CUBLAS_COMPUTE_32F); // still float32 arithmetic: cuBLASLt uses TF32 only when asked
        }
    }

    private Plan plan(PlanKey key, int computeType) {
        Precision p = key.precision();
        MemorySegment desc = created(out -> (int) Api.descCreate.invokeExact(out, computeType, CUDA_R_32F), "cublasLtMatmulDescCreate");
        setDescInt(desc, CUBLASLT_MATMUL_DESC_TRANSA, key.transB() ? CUBLAS_OP_T : CUBLAS_OP_N);
        setDescInt(desc, CUBLASLT_MATMUL_DESC_TRANSB, key.transA() ? CUBLAS_OP_T : CUBLAS_OP_N);
        // cuBLASLt's A is our B (column-major view: n×k, or k×n when transposed), its B our A, its C our C^T.
        MemorySegment layoutOfB = layout(p.inputType, key.transB() ? key.k() : key.n(), key.transB() ? key.n() : key.k(),
                key.ldb(), key.batch(), key.strideB());
        MemorySegment layoutOfA = layout(p.inputType, key.transA() ? key.m() : key.k(), key.transA() ? key.k() : key.m(),
                key.lda(), key.batch(), key.strideA());
        MemorySegment layoutOfC = layout(p.outputType, key.n(), key.m(), key.ldc(), key.batch(), key.strideC());
        MemorySegment preference = created(out -> (int) Api.preferenceCreate.invokeExact(out), "cublasLtMatmulPreferenceCreate");
        try (Arena scratch = Arena.ofConfined()) {
            setPreference(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, scratch.allocateFrom(JAVA_LONG, WORKSPACE_BYTES));
            setPreference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, scratch.allocateFrom(JAVA_INT, key.alignB()));
            setPreference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, scratch.allocateFrom(JAVA_INT, key.alignA()));
            setPreference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, scratch.allocateFrom(JAVA_INT, key.alignC()));
            setPreference(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, scratch.allocateFrom(JAVA_INT, key.alignC()));
            MemorySegment result = arena.allocate(HEURISTIC_RESULT_BYTES, 16);
            MemorySegment found = scratch.allocate(JAVA_INT);
            check(invoke(() -> (int) Api.algoGetHeuristic.invokeExact(handle, desc, layoutOfB, layoutOfA, layoutOfC,
                    layoutOfC, preference, 1, result, found)), "cublasLtMatmulAlgoGetHeuristic(" + key + ")");
            if (found.get(JAVA_INT, 0) < 1) {
                destroyPlan(new Plan(desc, layoutOfB, layoutOfA, layoutOfC, result, computeType));
                throw new CudaException("cuBLASLt has no algorithm for " + key + " (computeType " + computeType + ")");
            }
            return new Plan(desc, layoutOfB, layoutOfA, layoutOfC, result, computeType);
        } finally {
            check(invoke(() -> (int) Api.preferenceDestroy.invokeExact(preference)), "cublasLtMatmulPreferenceDestroy");
        }
    }

    private MemorySegment layout(int type, long rows, long cols, long ld, int batch, long stride) {
        MemorySegment layout = created(out -> (int) Api.layoutCreate.invokeExact(out, type, rows, cols, ld), "cublasLtMatrixLayoutCreate");
        if (batch > 1) {
            try (Arena scratch = Arena.ofConfined()) {
                setLayout(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, scratch.allocateFrom(JAVA_INT, batch));
                setLayout(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, scratch.allocateFrom(JAVA_LONG, stride));
            }
        }
        return layout;
    }

    private void setDescInt(MemorySegment desc, int attribute, int value) {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment v = scratch.allocateFrom(JAVA_INT, value);
            check(invoke(() -> (int) Api.descSetAttribute.invokeExact(desc, attribute, v, 4L)),
                    "cublasLtMatmulDescSetAttribute(" + attribute + ")");
        }
    }

    private static void setLayout(MemorySegment layout, int attribute, MemorySegment value) {
        check(invoke(() -> (int) Api.layoutSetAttribute.invokeExact(layout, attribute, value, value.byteSize())),
                "cublasLtMatrixLayoutSetAttribute(" + attribute + ")");
    }

    private static void setPreference(MemorySegment preference, int attribute, MemorySegment value) {
        check(invoke(() -> (int) Api.preferenceSetAttribute.invokeExact(preference, attribute, value, value.byteSize())),
                "cublasLtMatmulPreferenceSetAttribute(" + attribute + ")");
    }

    /** The largest power of two (up to 256) that divides {@code address}: cuBLASLt's alignment classes. */
    static int alignment(long address) {
        return address == 0 ? 256 : (int) Math.min(256, Long.lowestOneBit(address));
    }

    private static void checkShape(boolean transA, boolean transB, int m, int n, int k, int lda, int ldb, int ldc) {
        if (m < 1 || n < 1 || k < 1) {
            throw new IllegalArgumentException("gemm of m=" + m + " n=" + n + " k=" + k);
        }
        requireLd("lda", lda, transA ? m : k);
        requireLd("ldb", ldb, transB ? k : n);
        requireLd("ldc", ldc, n);
    }

    private static void requireLd(String name, int ld, int columns) {
        if (ld < columns) {
            throw new IllegalArgumentException(name + " = " + ld + " is less than the row length " + columns);
        }
    }

    /** A row-major rows×cols matrix with row stride ld must fit in the buffer. */
    private static void checkFits(DeviceBuffer buffer, int rows, int cols, int ld, int elementBytes, String what) {
        long elements = (long) (rows - 1) * ld + cols;
        if (elements * elementBytes > buffer.bytes()) {
            throw new IndexOutOfBoundsException("gemm: matrix " + what + " (" + rows + " rows of stride " + ld + ", "
                    + elementBytes + "-byte elements) needs " + elements * elementBytes + " bytes; its buffer has " + buffer.bytes());
        }
    }

    // ---- native calls and their status ----

    private interface Call {
        int call() throws Throwable;
    }

    private interface LongCall {
        long call() throws Throwable;
    }

    private interface Create {
        int call(MemorySegment out) throws Throwable;
    }

    private static int invoke(Call call) {
        try {
            return call.call();
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    private static long invokeLong(LongCall call) {
        try {
            return call.call();
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    private static MemorySegment created(Create create, String what) {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment out = scratch.allocate(ADDRESS);
            check(invoke(() -> create.call(out)), what);
            return out.get(ADDRESS, 0);
        }
    }

    static void check(int status, String call) {
        if (status != CUBLAS_STATUS_SUCCESS) {
            throw new CudaException(call + " failed: " + statusText(Api.statusName, status) + " ("
                    + statusText(Api.statusString, status) + ")");
        }
    }

    private static String statusText(MethodHandle fn, int status) {
        if (fn == null) {
            return "cublasStatus_t " + status;
        }
        try {
            MemorySegment text = (MemorySegment) fn.invokeExact(status);
            return text.equals(MemorySegment.NULL) ? "cublasStatus_t " + status : text.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    private void destroyPlan(Plan plan) {
        check(invoke(() -> (int) Api.layoutDestroy.invokeExact(plan.layoutOfB())), "cublasLtMatrixLayoutDestroy");
        check(invoke(() -> (int) Api.layoutDestroy.invokeExact(plan.layoutOfA())), "cublasLtMatrixLayoutDestroy");
        check(invoke(() -> (int) Api.layoutDestroy.invokeExact(plan.layoutOfC())), "cublasLtMatrixLayoutDestroy");
        check(invoke(() -> (int) Api.descDestroy.invokeExact(plan.desc())), "cublasLtMatmulDescDestroy");
    }

    /** Frees the plans, the workspace and the handle. */
    @Override
    public void close() {
        if (device.isClosed()) {
            return; // freed when the device closed
        }
        device.run(() -> {
            if (closed) {
                return;
            }
            closed = true;
            device.unregister(this);
            for (Plan plan : plans.values()) {
                destroyPlan(plan);
            }
            plans.clear();
            workspace.close();
            check(invoke(() -> (int) Api.destroy.invokeExact(handle)), "cublasLtDestroy");
            arena.close();
        });
    }
}
