package org.gsa4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * NVRTC, the CUDA C++ compiler as a library, bound by hand through the FFM API: compiles one source to a
 * CUBIN for one architecture. Thread-agnostic (it needs no CUDA context).
 */
final class Nvrtc {

    private static final int NVRTC_SUCCESS = 0;

    private static final NativeLibrary LIB = CudaLibraries.nvrtc();

    private static final MethodHandle nvrtcVersion = fn("nvrtcVersion", ADDRESS, ADDRESS);
    private static final MethodHandle nvrtcCreateProgram = fn("nvrtcCreateProgram", ADDRESS, ADDRESS, ADDRESS, JAVA_INT,
            ADDRESS, ADDRESS);
    private static final MethodHandle nvrtcCompileProgram = fn("nvrtcCompileProgram", ADDRESS, JAVA_INT, ADDRESS);
    private static final MethodHandle nvrtcGetProgramLogSize = fn("nvrtcGetProgramLogSize", ADDRESS, ADDRESS);
    private static final MethodHandle nvrtcGetProgramLog = fn("nvrtcGetProgramLog", ADDRESS, ADDRESS);
    private static final MethodHandle nvrtcGetCUBINSize = fn("nvrtcGetCUBINSize", ADDRESS, ADDRESS);
    private static final MethodHandle nvrtcGetCUBIN = fn("nvrtcGetCUBIN", ADDRESS, ADDRESS);
    private static final MethodHandle nvrtcDestroyProgram = fn("nvrtcDestroyProgram", ADDRESS);
    private static final MethodHandle nvrtcGetErrorString = LIB.function("nvrtcGetErrorString",
            FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private Nvrtc() {
    }

    private static MethodHandle fn(String name, MemoryLayout... args) {
        return LIB.function(name, FunctionDescriptor.of(JAVA_INT, args));
    }

    /** "13.0". */
    static String version() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment major = arena.allocate(JAVA_INT);
            MemorySegment minor = arena.allocate(JAVA_INT);
            check((int) nvrtcVersion.invokeExact(major, minor), "nvrtcVersion");
            return major.get(JAVA_INT, 0) + "." + minor.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    /** Compiles {@code source} (named {@code name} in messages) with {@code options}; the CUBIN. */
    static byte[] compile(String name, String source, List<String> options) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment programOut = arena.allocate(ADDRESS);
            check((int) nvrtcCreateProgram.invokeExact(programOut, arena.allocateFrom(source), arena.allocateFrom(name), 0,
                    MemorySegment.NULL, MemorySegment.NULL), "nvrtcCreateProgram(" + name + ")");
            MemorySegment program = programOut.get(ADDRESS, 0);
            try {
                MemorySegment optionArray = arena.allocate(ADDRESS, Math.max(1, options.size()));
                for (int i = 0; i < options.size(); i++) {
                    optionArray.setAtIndex(ADDRESS, i, arena.allocateFrom(options.get(i)));
                }
                int rc = (int) nvrtcCompileProgram.invokeExact(program, options.size(), optionArray);
                if (rc != NVRTC_SUCCESS) {
                    throw new CudaException("NVRTC could not compile " + name + " (options " + options + "): "
                            + errorString(rc) + "\n" + log(program, arena));
                }
                MemorySegment size = arena.allocate(JAVA_LONG);
                check((int) nvrtcGetCUBINSize.invokeExact(program, size), "nvrtcGetCUBINSize(" + name + ")");
                long n = size.get(JAVA_LONG, 0);
                if (n == 0) {
                    throw new CudaException("NVRTC made no CUBIN for " + name + ": options " + options
                            + " must name a real architecture (sm_XY), not a virtual one (compute_XY)");
                }
                MemorySegment cubin = arena.allocate(n);
                check((int) nvrtcGetCUBIN.invokeExact(program, cubin), "nvrtcGetCUBIN(" + name + ")");
                return cubin.toArray(JAVA_BYTE);
            } finally {
                check((int) nvrtcDestroyProgram.invokeExact(programOut), "nvrtcDestroyProgram");
            }
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    private static String log(MemorySegment program, Arena arena) throws Throwable {
        MemorySegment size = arena.allocate(JAVA_LONG);
        check((int) nvrtcGetProgramLogSize.invokeExact(program, size), "nvrtcGetProgramLogSize");
        long n = size.get(JAVA_LONG, 0);
        if (n <= 1) {
            return "(NVRTC wrote no log)";
        }
        MemorySegment text = arena.allocate(n);
        check((int) nvrtcGetProgramLog.invokeExact(program, text), "nvrtcGetProgramLog");
        return text.getString(0).strip();
    }

    private static void check(int status, String call) {
        if (status != NVRTC_SUCCESS) {
            throw new CudaException(call + " failed: " + errorString(status));
        }
    }

    /** NVRTC's name for a status, e.g. NVRTC_ERROR_COMPILATION. */
    static String errorString(int status) {
        try {
            MemorySegment text = (MemorySegment) nvrtcGetErrorString.invokeExact(status);
            return text.equals(MemorySegment.NULL) ? "nvrtcResult " + status : text.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }
}
