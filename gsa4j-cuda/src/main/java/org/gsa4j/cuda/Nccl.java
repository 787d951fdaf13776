package org.gsa4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * NCCL, bound by hand through the FFM API with the signatures of {@code nccl.h} (2.x). Communicators
 * ({@code ncclComm_t}) and streams travel as {@link MemorySegment} addresses, buffers as device addresses.
 * Every {@code ncclResult_t} is checked: a failure is a {@link CudaException} naming the call, the result's
 * name, {@code ncclGetErrorString}'s text and, where NCCL has one, its last error message.
 *
 * <p>Loading this class first sets {@code NCCL_NVLS_ENABLE=0} in the process's environment
 * ({@link NcclEnvironment}), then loads {@code libnccl.so.2} ({@link CudaLibraries#nccl()}).
 */
final class Nccl {

    static final int SUM = 0;

    private static final NativeLibrary LIB = load();

    private static final MethodHandle ncclGetVersion = fn("ncclGetVersion", ADDRESS);
    private static final MethodHandle ncclGetUniqueId = fn("ncclGetUniqueId", ADDRESS);
    private static final MethodHandle ncclCommInitRank = fn("ncclCommInitRank", ADDRESS, JAVA_INT, NcclUniqueId.LAYOUT, JAVA_INT);
    private static final MethodHandle ncclAllReduce = fn("ncclAllReduce", ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle ncclGroupStart = fn("ncclGroupStart");
    private static final MethodHandle ncclGroupEnd = fn("ncclGroupEnd");
    private static final MethodHandle ncclCommAbort = fn("ncclCommAbort", ADDRESS);
    private static final MethodHandle ncclCommDestroy = fn("ncclCommDestroy", ADDRESS);
    private static final MethodHandle ncclCommGetAsyncError = fn("ncclCommGetAsyncError", ADDRESS, ADDRESS);
    private static final MethodHandle ncclGetErrorString = LIB.function("ncclGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    /** NCCL 2.13+: the last error's own message. */
    private static final MethodHandle ncclGetLastError = LIB.optionalFunction("ncclGetLastError", FunctionDescriptor.of(ADDRESS, ADDRESS));

    private Nccl() {
    }

    private static NativeLibrary load() {
        NcclEnvironment.disableNvls();
        return CudaLibraries.nccl();
    }

    /** A {@code ncclResult_t f(args...)} function. */
    private static MethodHandle fn(String name, MemoryLayout... args) {
        return LIB.function(name, FunctionDescriptor.of(JAVA_INT, args));
    }

    // ---- errors ----

    static void check(int status, String call, MemorySegment comm) {
        if (status != NcclResult.SUCCESS) {
            throw NcclResult.error(call, status, errorString(status), lastError(comm));
        }
    }

    static String errorString(int status) {
        try {
            MemorySegment text = (MemorySegment) ncclGetErrorString.invokeExact(status);
            return text.equals(MemorySegment.NULL) ? "no description" : text.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    private static String lastError(MemorySegment comm) {
        if (ncclGetLastError == null) {
            return null;
        }
        try {
            MemorySegment text = (MemorySegment) ncclGetLastError.invokeExact(comm == null ? MemorySegment.NULL : comm);
            return text.equals(MemorySegment.NULL) ? null : text.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    // ---- calls ----

    static int version() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check((int) ncclGetVersion.invokeExact(out), "ncclGetVersion", null);
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    static NcclUniqueId uniqueId() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(NcclUniqueId.LAYOUT);
            check((int) ncclGetUniqueId.invokeExact(out), "ncclGetUniqueId", null);
            return NcclUniqueId.fromNative(out);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    /** Joins the communicator of {@code id} as {@code rank} of {@code ranks}; blocks until every rank has joined. */
    static MemorySegment commInitRank(int ranks, NcclUniqueId id, int rank) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) ncclCommInitRank.invokeExact(out, ranks, id.toNative(arena), rank),
                    "ncclCommInitRank(rank " + rank + " of " + ranks + ")", null);
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    static void allReduce(long send, long recv, long count, int dataType, int op, MemorySegment comm, MemorySegment stream) {
        try {
            check((int) ncclAllReduce.invokeExact(MemorySegment.ofAddress(send), MemorySegment.ofAddress(recv), count, dataType, op, comm, stream),
                    "ncclAllReduce", comm);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    static void groupStart() {
        try {
            check((int) ncclGroupStart.invokeExact(), "ncclGroupStart", null);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    static void groupEnd() {
        try {
            check((int) ncclGroupEnd.invokeExact(), "ncclGroupEnd", null);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    static void commAbort(MemorySegment comm) {
        try {
            check((int) ncclCommAbort.invokeExact(comm), "ncclCommAbort", null);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    static void commDestroy(MemorySegment comm) {
        try {
            check((int) ncclCommDestroy.invokeExact(comm), "ncclCommDestroy", null);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    /** The communicator's asynchronous error ({@code ncclSuccess}, {@code ncclInProgress} or a failure). */
    static int commAsyncError(MemorySegment comm) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check((int) ncclCommGetAsyncError.invokeExact(comm, out), "ncclCommGetAsyncError", comm);
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }
}
