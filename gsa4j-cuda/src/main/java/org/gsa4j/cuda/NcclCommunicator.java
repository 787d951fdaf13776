package org.gsa4j.cuda;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One rank's NCCL communicator on one GPU: sums buffers over all ranks ({@link #allReduceSum}) on a stream
 * of the device. Created collectively: every rank calls {@link #create} with the same {@link NcclUniqueId}
 * (made by rank 0 with {@link #createUniqueId}), and the call returns when all have.
 *
 * <p>Calls run on the device's thread ({@link CudaDevice#call}), where its context is current, except
 * {@link #abort}, which any thread may call: it is how a rank that learns another rank died (gsa4j's
 * process group watches them) frees a collective that waits for it. {@link #close} destroys the
 * communicator; after an abort it does nothing more.
 *
 * <p>NVLink multicast (NVLS) stays off: the first use of NCCL sets {@code NCCL_NVLS_ENABLE=0} in the
 * process's environment, and gsa4j's launcher sets it for every rank.
 */
public final class NcclCommunicator implements AutoCloseable {

    /** The element types the gradients travel in. */
    public enum DataType {
        FLOAT32(7, 4), BFLOAT16(9, 2);

        final int code;
        final int bytes;

        DataType(int code, int bytes) {
            this.code = code;
            this.bytes = bytes;
        }

        public int bytes() {
            return bytes;
        }
    }

    private final CudaDevice device;
    private final int rank;
    private final int size;
    private final MemorySegment comm;
    private final AtomicBoolean released = new AtomicBoolean();

    private NcclCommunicator(CudaDevice device, int rank, int size, MemorySegment comm) {
        this.device = device;
        this.rank = rank;
        this.size = size;
        this.comm = comm;
    }

    /** NCCL's version code ({@code ncclGetVersion}), e.g. 22703 for 2.27.3. */
    public static int version() {
        return Nccl.version();
    }

    /** "2.27.3" for 22703 (and "2.8.4" for the older encoding 2804, {@code NCCL_VERSION} in nccl.h). */
    public static String versionString(int code) {
        return code >= 10000 ? code / 10000 + "." + code / 100 % 100 + "." + code % 100
                : code / 1000 + "." + code / 100 % 10 + "." + code % 100;
    }

    /** A new id for a communicator ({@code ncclGetUniqueId}); rank 0 makes it and sends it to the other ranks. */
    public static NcclUniqueId createUniqueId() {
        return Nccl.uniqueId();
    }

    /**
     * Joins the communicator of {@code id} as {@code rank} of {@code ranks} on {@code device}
     * ({@code ncclCommInitRank}); returns when every rank has joined.
     */
    public static NcclCommunicator create(CudaDevice device, NcclUniqueId id, int rank, int ranks) {
        if (ranks < 1 || rank < 0 || rank >= ranks) {
            throw new IllegalArgumentException("rank " + rank + " of " + ranks);
        }
        return device.call(() -> new NcclCommunicator(device, rank, ranks, Nccl.commInitRank(ranks, id, rank)));
    }

    public int rank() {
        return rank;
    }

    public int size() {
        return size;
    }

    public CudaDevice device() {
        return device;
    }

    /**
     * Queues {@code recv[i] = Σ over ranks of send[i]} for {@code count} elements of {@code type} on {@code stream}
     * ({@code ncclAllReduce} with {@code ncclSum}); {@code send} and {@code recv} may be the same buffer.
     */
    public void allReduceSum(DeviceBuffer send, DeviceBuffer recv, long count, DataType type, CudaStream stream) {
        stream.checkUse("NcclCommunicator.allReduceSum");
        checkOpen();
        long bytes = count * type.bytes;
        if (count < 0 || bytes > send.bytes() || bytes > recv.bytes()) {
            throw new IllegalArgumentException("all-reduce of " + count + " " + type + " elements (" + bytes + " bytes) over buffers of "
                    + send.bytes() + " and " + recv.bytes() + " bytes");
        }
        if (send.device() != device || recv.device() != device || stream.device() != device) {
            throw new IllegalArgumentException("the buffers and the stream of an all-reduce must be on the communicator's " + device);
        }
        Nccl.allReduce(send.address(), recv.address(), count, type.code, Nccl.SUM, comm, stream.handle());
    }

    /**
     * Runs {@code collectives} between {@code ncclGroupStart} and {@code ncclGroupEnd}, so that NCCL launches
     * them together (e.g. the all-reduces of several gradient buckets). Call it on the device's thread.
     */
    public static void group(Runnable collectives) {
        Nccl.groupStart();
        try {
            collectives.run();
        } finally {
            Nccl.groupEnd();
        }
    }

    /** Throws the communicator's asynchronous error ({@code ncclCommGetAsyncError}) if it has one. */
    public void checkAsyncError() {
        checkOpen();
        int status = device.call(() -> Nccl.commAsyncError(comm));
        if (status != NcclResult.SUCCESS && status != NcclResult.IN_PROGRESS) {
            throw NcclResult.error("an NCCL operation of rank " + rank + " of " + size, status, Nccl.errorString(status), null);
        }
    }

    /**
     * Ends the communicator at once ({@code ncclCommAbort}), from any thread: collectives in flight stop,
     * and calls waiting for them return. Then the communicator is gone.
     */
    public void abort() {
        if (released.compareAndSet(false, true)) {
            Nccl.commAbort(comm);
        }
    }

    /** Destroys the communicator ({@code ncclCommDestroy}); nothing more after an abort. */
    @Override
    public void close() {
        if (released.compareAndSet(false, true)) {
            device.run(() -> Nccl.commDestroy(comm));
        }
    }

    private void checkOpen() {
        if (released.get()) {
            throw new IllegalStateException("the NCCL communicator of rank " + rank + " was closed or aborted");
        }
    }

    @Override
    public String toString() {
        return "NCCL rank " + rank + " of " + size + " on " + device;
    }
}
