package org.gsa4j.cuda;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One {@code __global__} function of a {@link CudaModule}. Launch it with boxed arguments
 * ({@link #launch(int[], int[], int, CudaStream, Object...)}) or, without garbage, by filling its
 * {@link #params()} and calling {@link #launch(int, int, int, int, int, int, int, CudaStream, KernelParams)}.
 * Where the driver reports the kernel's parameter sizes (CUDA 12.4+), every launch checks the arguments
 * against them: a wrong count or an int where a pointer belongs is an error, not a crash.
 */
public final class CudaKernel {

    private final CudaModule module;
    private final String name;
    private final MemorySegment function;
    private final int[] parameterSizes;
    private final KernelParams params;

    CudaKernel(CudaModule module, String name, MemorySegment function, int[] parameterSizes, KernelParams params) {
        this.module = module;
        this.name = name;
        this.function = function;
        this.parameterSizes = parameterSizes;
        this.params = params;
    }

    public String name() {
        return name;
    }

    /** Lets a launch use up to {@code bytes} of dynamic shared memory (above the default 48 KiB needs this). */
    public void setMaxDynamicSharedMemory(int bytes) {
        checkUse("setMaxDynamicSharedMemory");
        Driver.funcSetAttribute(function, Driver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes, describe());
    }

    /** Any {@code CUfunction_attribute} (see cuda.h). */
    public int attribute(int cuFunctionAttribute) {
        checkUse("attribute");
        return Driver.funcGetAttribute(function, cuFunctionAttribute, describe());
    }

    /** Registers per thread. */
    public int registers() {
        return attribute(Driver.CU_FUNC_ATTRIBUTE_NUM_REGS);
    }

    /** Static shared memory per block, in bytes. */
    public int staticSharedBytes() {
        return attribute(Driver.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
    }

    /** The most threads a block of this kernel may have. */
    public int maxThreadsPerBlock() {
        return attribute(Driver.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
    }

    /** The parameters' sizes in bytes, or null where the driver cannot tell. */
    public int[] parameterSizes() {
        return parameterSizes == null ? null : parameterSizes.clone();
    }

    /** This kernel's reusable argument block, emptied (on the device's thread: it is confined there). */
    public KernelParams params() {
        checkUse("params");
        return params.clear();
    }

    /**
     * Launches on {@code stream}: {@code grid} and {@code block} have 1 to 3 entries (missing ones are 1);
     * {@code args} are {@link DeviceBuffer}s (passed as their address), {@link Long}, {@link Integer},
     * {@link Float} or {@link Double}.
     */
    public void launch(int[] grid, int[] block, int sharedBytes, CudaStream stream, Object... args) {
        KernelParams p = params();
        for (Object arg : args) {
            p.add(arg);
        }
        launch(dim(grid, 0, "grid"), dim(grid, 1, "grid"), dim(grid, 2, "grid"), dim(block, 0, "block"),
                dim(block, 1, "block"), dim(block, 2, "block"), sharedBytes, stream, p);
    }

    /** Launches with the arguments in {@code args} (this kernel's {@link #params()}, filled). */
    public void launch(int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes,
                       CudaStream stream, KernelParams args) {
        checkUse("launch");
        stream.checkUse("launch of " + describe());
        if (parameterSizes != null) {
            checkArguments(args);
        }
        int status = Driver.launchKernel(function, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes,
                stream.handle(), args.pointerArray());
        if (status != Driver.CUDA_SUCCESS) {
            throw Driver.error(status, "cuLaunchKernel(" + describe() + ", grid [" + gridX + ", " + gridY + ", " + gridZ
                    + "], block [" + blockX + ", " + blockY + ", " + blockZ + "], " + sharedBytes + " bytes of shared memory)");
        }
    }

    private void checkArguments(KernelParams args) {
        boolean ok = args.count() == parameterSizes.length;
        for (int i = 0; ok && i < parameterSizes.length; i++) {
            ok = args.size(i) == parameterSizes[i];
        }
        if (!ok) {
            throw new IllegalArgumentException(describe() + " takes parameters of " + Arrays.toString(parameterSizes)
                    + " bytes; the launch passed " + args.describeSizes());
        }
    }

    private static int dim(int[] dims, int i, String what) {
        if (dims.length < 1 || dims.length > 3) {
            throw new IllegalArgumentException(what + " has " + dims.length + " dimensions; 1 to 3 expected");
        }
        int d = i < dims.length ? dims[i] : 1;
        if (d < 1) {
            throw new IllegalArgumentException(what + " dimension " + i + " is " + d);
        }
        return d;
    }

    private void checkUse(String what) {
        module.device().checkThread("CudaKernel." + what);
        module.checkOpen();
    }

    private String describe() {
        return "kernel '" + name + "' of " + module.name();
    }
}
