package org.gsa4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The process environment NCCL reads when it starts: NVLink multicast (NVLS) stays off in every gsa4j
 * process ({@code NCCL_NVLS_ENABLE=0}), set in the C library's environment before NCCL is loaded, because
 * the machines gsa4j trains on must not set up multicast objects. ({@link System#getenv} is a copy taken
 * when the JVM started; NCCL reads the C library's, which {@code setenv} changes.)
 */
final class NcclEnvironment {

    static final String NVLS = "NCCL_NVLS_ENABLE";

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle SETENV = LINKER.downcallHandle(LINKER.defaultLookup().find("setenv").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle GETENV = LINKER.downcallHandle(LINKER.defaultLookup().find("getenv").orElseThrow(),
            FunctionDescriptor.of(ADDRESS, ADDRESS));

    private NcclEnvironment() {
    }

    /** Sets {@code NCCL_NVLS_ENABLE=0} (overriding any other value) in this process's environment. */
    static synchronized void disableNvls() {
        set(NVLS, "0");
    }

    static void set(String name, String value) {
        try (Arena arena = Arena.ofConfined()) {
            int rc = (int) SETENV.invokeExact(arena.allocateFrom(name), arena.allocateFrom(value), 1);
            if (rc != 0) {
                throw new CudaException("setenv(" + name + ") failed: could not set " + name + "=" + value + " for NCCL");
            }
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    /** The C library's value of {@code name}, or null. */
    static String get(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = (MemorySegment) GETENV.invokeExact(arena.allocateFrom(name));
            return v.equals(MemorySegment.NULL) ? null : v.reinterpret(65536).getString(0);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }
}
