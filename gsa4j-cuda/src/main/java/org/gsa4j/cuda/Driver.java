package org.gsa4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The CUDA driver API, bound by hand through the FFM API. Only the versioned entry points are bound
 * ({@code cuMemAlloc_v2}, not the 32-bit {@code cuMemAlloc} of old), with the signatures of CUDA 13's
 * {@code cuda.h}. Handles (contexts, streams, events, modules, functions, graphs) travel as
 * {@link MemorySegment} addresses, device pointers ({@code CUdeviceptr}) as {@code long}.
 *
 * <p>Every status is checked: {@link #check} turns a non-zero {@code CUresult} into a
 * {@link CudaException} naming the call, the error's name and the driver's text for it. Loading this class
 * loads {@code libcuda}; callers first ask {@link CudaLibraries#driver()}, which fails with a clear line.
 */
final class Driver {

    static final int CUDA_SUCCESS = 0;
    static final int CUDA_ERROR_INVALID_VALUE = 1;
    static final int CUDA_ERROR_OUT_OF_MEMORY = 2;
    static final int CUDA_ERROR_NO_DEVICE = 100;
    static final int CUDA_ERROR_NOT_READY = 600;

    static final int CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1;
    static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8;
    static final int CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10;
    static final int CU_DEVICE_ATTRIBUTE_CLOCK_RATE = 13;
    static final int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    static final int CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36;
    static final int CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37;
    static final int CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38;
    static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81;
    static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;

    static final int CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0;
    static final int CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1;
    static final int CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3;
    static final int CU_FUNC_ATTRIBUTE_NUM_REGS = 4;
    static final int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

    static final int CU_STREAM_NON_BLOCKING = 0x1;
    static final int CU_EVENT_DEFAULT = 0x0;
    static final int CU_EVENT_DISABLE_TIMING = 0x2;
    /** Capture mode: only this thread's potentially unsafe calls are prohibited during capture. */
    static final int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

    private static final NativeLibrary LIB = CudaLibraries.driver();

    private static final MethodHandle cuInit = fn("cuInit", JAVA_INT);
    private static final MethodHandle cuDriverGetVersion = fn("cuDriverGetVersion", ADDRESS);
    private static final MethodHandle cuDeviceGetCount = fn("cuDeviceGetCount", ADDRESS);
    private static final MethodHandle cuDeviceGet = fn("cuDeviceGet", ADDRESS, JAVA_INT);
    private static final MethodHandle cuDeviceGetName = fn("cuDeviceGetName", ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle cuDeviceGetAttribute = fn("cuDeviceGetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle cuDeviceTotalMem = fn("cuDeviceTotalMem_v2", ADDRESS, JAVA_INT);
    private static final MethodHandle cuDevicePrimaryCtxRetain = fn("cuDevicePrimaryCtxRetain", ADDRESS, JAVA_INT);
    private static final MethodHandle cuDevicePrimaryCtxRelease = fn("cuDevicePrimaryCtxRelease_v2", JAVA_INT);
    private static final MethodHandle cuCtxSetCurrent = fn("cuCtxSetCurrent", ADDRESS);
    private static final MethodHandle cuCtxSynchronize = fn("cuCtxSynchronize");
    private static final MethodHandle cuMemGetInfo = fn("cuMemGetInfo_v2", ADDRESS, ADDRESS);
    private static final MethodHandle cuMemAlloc = fn("cuMemAlloc_v2", ADDRESS, JAVA_LONG);
    private static final MethodHandle cuMemFree = fn("cuMemFree_v2", JAVA_LONG);
    private static final MethodHandle cuMemAllocHost = fn("cuMemAllocHost_v2", ADDRESS, JAVA_LONG);
    private static final MethodHandle cuMemFreeHost = fn("cuMemFreeHost", ADDRESS);
    private static final MethodHandle cuMemcpyHtoDAsync = fn("cuMemcpyHtoDAsync_v2", JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS);
    private static final MethodHandle cuMemcpyDtoHAsync = fn("cuMemcpyDtoHAsync_v2", ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
    private static final MethodHandle cuMemcpyDtoDAsync = fn("cuMemcpyDtoDAsync_v2", JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS);
    private static final MethodHandle cuMemsetD8Async = fn("cuMemsetD8Async", JAVA_LONG, JAVA_BYTE, JAVA_LONG, ADDRESS);
    private static final MethodHandle cuMemsetD32Async = fn("cuMemsetD32Async", JAVA_LONG, JAVA_INT, JAVA_LONG, ADDRESS);
    private static final MethodHandle cuStreamCreate = fn("cuStreamCreate", ADDRESS, JAVA_INT);
    private static final MethodHandle cuStreamDestroy = fn("cuStreamDestroy_v2", ADDRESS);
    private static final MethodHandle cuStreamSynchronize = fn("cuStreamSynchronize", ADDRESS);
    private static final MethodHandle cuStreamWaitEvent = fn("cuStreamWaitEvent", ADDRESS, ADDRESS, JAVA_INT);
    private static final MethodHandle cuEventCreate = fn("cuEventCreate", ADDRESS, JAVA_INT);
    private static final MethodHandle cuEventRecord = fn("cuEventRecord", ADDRESS, ADDRESS);
    private static final MethodHandle cuEventSynchronize = fn("cuEventSynchronize", ADDRESS);
    private static final MethodHandle cuEventQuery = fn("cuEventQuery", ADDRESS);
    private static final MethodHandle cuEventDestroy = fn("cuEventDestroy_v2", ADDRESS);
    /** CUDA 12.8 added {@code cuEventElapsedTime_v2} (cuda.h maps the plain name to it since 13.0). */
    private static final String ELAPSED_TIME = LIB.has("cuEventElapsedTime_v2") ? "cuEventElapsedTime_v2" : "cuEventElapsedTime";
    private static final MethodHandle cuEventElapsedTime = fn(ELAPSED_TIME, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle cuModuleLoadData = fn("cuModuleLoadData", ADDRESS, ADDRESS);
    private static final MethodHandle cuModuleUnload = fn("cuModuleUnload", ADDRESS);
    private static final MethodHandle cuModuleGetFunction = fn("cuModuleGetFunction", ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle cuFuncSetAttribute = fn("cuFuncSetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle cuFuncGetAttribute = fn("cuFuncGetAttribute", ADDRESS, JAVA_INT, ADDRESS);
    /** CUDA 12.4+; older drivers launch without checking the arguments' sizes. */
    private static final MethodHandle cuFuncGetParamInfo = LIB.optionalFunction("cuFuncGetParamInfo",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));
    private static final MethodHandle cuLaunchKernel = fn("cuLaunchKernel", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle cuGetErrorName = fn("cuGetErrorName", JAVA_INT, ADDRESS);
    private static final MethodHandle cuGetErrorString = fn("cuGetErrorString", JAVA_INT, ADDRESS);
    private static final MethodHandle cuStreamBeginCapture = fn("cuStreamBeginCapture_v2", ADDRESS, JAVA_INT);
    private static final MethodHandle cuStreamEndCapture = fn("cuStreamEndCapture", ADDRESS, ADDRESS);
    private static final MethodHandle cuGraphInstantiateWithFlags = fn("cuGraphInstantiateWithFlags", ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle cuGraphLaunch = fn("cuGraphLaunch", ADDRESS, ADDRESS);
    private static final MethodHandle cuGraphExecDestroy = fn("cuGraphExecDestroy", ADDRESS);
    private static final MethodHandle cuGraphDestroy = fn("cuGraphDestroy", ADDRESS);

    private Driver() {
    }

    /** A {@code CUresult f(args...)} function. */
    private static MethodHandle fn(String name, MemoryLayout... args) {
        return LIB.function(name, FunctionDescriptor.of(JAVA_INT, args));
    }

    // ---- errors ----

    static void check(int status, String call) {
        if (status != CUDA_SUCCESS) {
            throw error(status, call);
        }
    }

    static CudaException error(int status, String call) {
        return new CudaException(call + " failed: " + errorName(status) + " (" + errorString(status) + ")");
    }

    /** {@code CUDA_ERROR_OUT_OF_MEMORY} etc.; "CUresult N" for a code this driver does not know. */
    static String errorName(int status) {
        return describe(cuGetErrorName, status);
    }

    static String errorString(int status) {
        return describe(cuGetErrorString, status);
    }

    private static String describe(MethodHandle fn, int status) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            int rc = (int) fn.invokeExact(status, out);
            MemorySegment text = out.get(ADDRESS, 0);
            if (rc != CUDA_SUCCESS || text.equals(MemorySegment.NULL)) {
                return "CUresult " + status;
            }
            return text.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new CudaException("native call failed: " + t, t);
    }

    // ---- initialisation, devices, contexts ----

    static void init() {
        try {
            check((int) cuInit.invokeExact(0), "cuInit");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int driverVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check((int) cuDriverGetVersion.invokeExact(out), "cuDriverGetVersion");
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int deviceCount() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            int rc = (int) cuDeviceGetCount.invokeExact(out);
            if (rc == CUDA_ERROR_NO_DEVICE) {
                return 0;
            }
            check(rc, "cuDeviceGetCount");
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int device(int ordinal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check((int) cuDeviceGet.invokeExact(out, ordinal), "cuDeviceGet(" + ordinal + ")");
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static String deviceName(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(256);
            check((int) cuDeviceGetName.invokeExact(out, 256, device), "cuDeviceGetName");
            return out.getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int deviceAttribute(int device, int attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check((int) cuDeviceGetAttribute.invokeExact(out, attribute, device), "cuDeviceGetAttribute(" + attribute + ")");
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long deviceTotalMemory(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            check((int) cuDeviceTotalMem.invokeExact(out, device), "cuDeviceTotalMem_v2");
            return out.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment primaryContextRetain(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuDevicePrimaryCtxRetain.invokeExact(out, device), "cuDevicePrimaryCtxRetain");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void primaryContextRelease(int device) {
        try {
            check((int) cuDevicePrimaryCtxRelease.invokeExact(device), "cuDevicePrimaryCtxRelease_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void setCurrentContext(MemorySegment context) {
        try {
            check((int) cuCtxSetCurrent.invokeExact(context), "cuCtxSetCurrent");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void contextSynchronize() {
        try {
            check((int) cuCtxSynchronize.invokeExact(), "cuCtxSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {free, total} bytes of the current context's device. */
    static long[] memoryInfo() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(JAVA_LONG);
            MemorySegment total = arena.allocate(JAVA_LONG);
            check((int) cuMemGetInfo.invokeExact(free, total), "cuMemGetInfo_v2");
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- memory ----

    /** The new allocation's address, or 0 when the device is out of memory (any other error throws). */
    static long memAllocOrZero(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            int rc = (int) cuMemAlloc.invokeExact(out, bytes);
            if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
                return 0;
            }
            check(rc, "cuMemAlloc_v2(" + bytes + " bytes)");
            return out.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void memFree(long address) {
        try {
            check((int) cuMemFree.invokeExact(address), "cuMemFree_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Page-locked host memory of {@code bytes}, as a segment of that size. */
    static MemorySegment memAllocHost(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuMemAllocHost.invokeExact(out, bytes), "cuMemAllocHost_v2(" + bytes + " bytes)");
            return out.get(ADDRESS, 0).reinterpret(bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void memFreeHost(MemorySegment host) {
        try {
            check((int) cuMemFreeHost.invokeExact(host), "cuMemFreeHost");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void memcpyHtoDAsync(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        try {
            check((int) cuMemcpyHtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyHtoDAsync_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void memcpyDtoHAsync(MemorySegment dst, long src, long bytes, MemorySegment stream) {
        try {
            check((int) cuMemcpyDtoHAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoHAsync_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void memcpyDtoDAsync(long dst, long src, long bytes, MemorySegment stream) {
        try {
            check((int) cuMemcpyDtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoDAsync_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void memsetD8Async(long dst, byte value, long count, MemorySegment stream) {
        try {
            check((int) cuMemsetD8Async.invokeExact(dst, value, count, stream), "cuMemsetD8Async");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void memsetD32Async(long dst, int value, long count, MemorySegment stream) {
        try {
            check((int) cuMemsetD32Async.invokeExact(dst, value, count, stream), "cuMemsetD32Async");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- streams and events ----

    static MemorySegment streamCreate(int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuStreamCreate.invokeExact(out, flags), "cuStreamCreate");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void streamDestroy(MemorySegment stream) {
        try {
            check((int) cuStreamDestroy.invokeExact(stream), "cuStreamDestroy_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void streamSynchronize(MemorySegment stream) {
        try {
            check((int) cuStreamSynchronize.invokeExact(stream), "cuStreamSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void streamWaitEvent(MemorySegment stream, MemorySegment event) {
        try {
            check((int) cuStreamWaitEvent.invokeExact(stream, event, 0), "cuStreamWaitEvent");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment eventCreate(int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuEventCreate.invokeExact(out, flags), "cuEventCreate");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void eventRecord(MemorySegment event, MemorySegment stream) {
        try {
            check((int) cuEventRecord.invokeExact(event, stream), "cuEventRecord");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void eventSynchronize(MemorySegment event) {
        try {
            check((int) cuEventSynchronize.invokeExact(event), "cuEventSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Whether all work before the event's record has completed. */
    static boolean eventQuery(MemorySegment event) {
        try {
            int rc = (int) cuEventQuery.invokeExact(event);
            if (rc == CUDA_ERROR_NOT_READY) {
                return false;
            }
            check(rc, "cuEventQuery");
            return true;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void eventDestroy(MemorySegment event) {
        try {
            check((int) cuEventDestroy.invokeExact(event), "cuEventDestroy_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static float eventElapsedMillis(MemorySegment start, MemorySegment end) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_FLOAT);
            check((int) cuEventElapsedTime.invokeExact(out, start, end), ELAPSED_TIME);
            return out.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- modules and kernels ----

    static MemorySegment moduleLoadData(MemorySegment image, String what) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuModuleLoadData.invokeExact(out, image), "cuModuleLoadData(" + what + ")");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void moduleUnload(MemorySegment module) {
        try {
            check((int) cuModuleUnload.invokeExact(module), "cuModuleUnload");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment moduleGetFunction(MemorySegment module, String name, String moduleName) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuModuleGetFunction.invokeExact(out, module, arena.allocateFrom(name)),
                    "cuModuleGetFunction(kernel '" + name + "' in " + moduleName + ")");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void funcSetAttribute(MemorySegment function, int attribute, int value, String what) {
        try {
            check((int) cuFuncSetAttribute.invokeExact(function, attribute, value),
                    "cuFuncSetAttribute(" + what + ", attribute " + attribute + " = " + value + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int funcGetAttribute(MemorySegment function, int attribute, String what) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check((int) cuFuncGetAttribute.invokeExact(out, attribute, function),
                    "cuFuncGetAttribute(" + what + ", attribute " + attribute + ")");
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The sizes in bytes of the kernel's parameters, in order, or null where the driver cannot tell
     * ({@code cuFuncGetParamInfo} is CUDA 12.4+).
     */
    static int[] kernelParameterSizes(MemorySegment function) {
        if (cuFuncGetParamInfo == null) {
            return null;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment offset = arena.allocate(JAVA_LONG);
            MemorySegment size = arena.allocate(JAVA_LONG);
            int[] sizes = new int[0];
            for (long i = 0; ; i++) {
                int rc = (int) cuFuncGetParamInfo.invokeExact(function, i, offset, size);
                if (rc == CUDA_ERROR_INVALID_VALUE) {
                    return sizes; // past the last parameter
                }
                check(rc, "cuFuncGetParamInfo");
                sizes = java.util.Arrays.copyOf(sizes, sizes.length + 1);
                sizes[sizes.length - 1] = (int) size.get(JAVA_LONG, 0);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Returns the raw status: the caller names the kernel in the error. */
    static int launchKernel(MemorySegment function, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                            MemorySegment stream, MemorySegment params) {
        try {
            return (int) cuLaunchKernel.invokeExact(function, gx, gy, gz, bx, by, bz, sharedBytes, stream, params,
                    MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- graphs ----

    static void streamBeginCapture(MemorySegment stream) {
        try {
            check((int) cuStreamBeginCapture.invokeExact(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture_v2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Ends the capture; the raw status, and the graph (possibly NULL) in {@code graphOut}. */
    static int streamEndCapture(MemorySegment stream, MemorySegment graphOut) {
        try {
            return (int) cuStreamEndCapture.invokeExact(stream, graphOut);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment graphInstantiate(MemorySegment graph) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) cuGraphInstantiateWithFlags.invokeExact(out, graph, 0L), "cuGraphInstantiateWithFlags");
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void graphLaunch(MemorySegment exec, MemorySegment stream) {
        try {
            check((int) cuGraphLaunch.invokeExact(exec, stream), "cuGraphLaunch");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void graphExecDestroy(MemorySegment exec) {
        try {
            check((int) cuGraphExecDestroy.invokeExact(exec), "cuGraphExecDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void graphDestroy(MemorySegment graph) {
        try {
            check((int) cuGraphDestroy.invokeExact(graph), "cuGraphDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
