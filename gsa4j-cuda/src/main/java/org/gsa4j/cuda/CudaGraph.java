package org.gsa4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A CUDA graph: the work one stream received during {@link #capture}, replayed by {@link #launch} with
 * one call instead of one per kernel. Capture records launches and asynchronous copies; synchronous
 * calls (a synchronous copy, a synchronize) during capture make it fail, and so does a device allocation
 * the allocator's cache cannot serve — run the work once before capturing it.
 */
public final class CudaGraph implements AutoCloseable {

    private final CudaDevice device;
    private final MemorySegment graph;
    private final MemorySegment exec;
    private boolean closed;

    private CudaGraph(CudaDevice device, MemorySegment graph, MemorySegment exec) {
        this.device = device;
        this.graph = graph;
        this.exec = exec;
        device.register(this);
    }

    /** Captures what {@code work} queues on {@code stream} and instantiates it. */
    public static CudaGraph capture(CudaStream stream, Runnable work) {
        stream.checkUse("CudaGraph.capture");
        Driver.streamBeginCapture(stream.handle());
        RuntimeException failure = null;
        try {
            work.run();
        } catch (RuntimeException e) {
            failure = e;
        } catch (Error e) {
            endCaptureQuietly(stream);
            throw e;
        }
        MemorySegment graph;
        int status;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            status = Driver.streamEndCapture(stream.handle(), out);
            graph = out.get(ADDRESS, 0);
        }
        if (failure != null || status != Driver.CUDA_SUCCESS) {
            if (!graph.equals(MemorySegment.NULL)) {
                Driver.graphDestroy(graph);
            }
            CudaException ended = status == Driver.CUDA_SUCCESS ? null : Driver.error(status,
                    "cuStreamEndCapture (the captured work made a call that capture does not allow, such as a "
                            + "synchronous copy, a synchronize or a device allocation)");
            if (failure != null) {
                if (ended != null) {
                    failure.addSuppressed(ended);
                }
                throw failure;
            }
            throw ended;
        }
        MemorySegment exec;
        try {
            exec = Driver.graphInstantiate(graph);
        } catch (CudaException e) {
            Driver.graphDestroy(graph);
            throw e;
        }
        return new CudaGraph(stream.device(), graph, exec);
    }

    private static void endCaptureQuietly(CudaStream stream) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            Driver.streamEndCapture(stream.handle(), out);
            MemorySegment graph = out.get(ADDRESS, 0);
            if (!graph.equals(MemorySegment.NULL)) {
                Driver.graphDestroy(graph);
            }
        }
    }

    /** Queues the whole captured work on {@code stream}. */
    public void launch(CudaStream stream) {
        stream.checkUse("CudaGraph.launch");
        if (closed) {
            throw new IllegalStateException("launch of a closed graph");
        }
        Driver.graphLaunch(exec, stream.handle());
    }

    @Override
    public void close() {
        if (device.isClosed()) {
            return; // freed when the device closed
        }
        device.run(() -> {
            if (!closed) {
                closed = true;
                device.unregister(this);
                Driver.graphExecDestroy(exec);
                Driver.graphDestroy(graph);
            }
        });
    }
}
