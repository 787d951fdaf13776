package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.DeviceBuffer;

/**
 * The embedding lookup on the GPU (docs/MATH.md, "The block skeleton": {@code x₀ = E[ids]}), the device twin of
 * {@code org.gsa4j.autograd.Functions.embedding}. The table [V, D] and x [n, D] are stored in the call's precision;
 * the table's gradient is float32 [V, D].
 *
 * <p>The backward is deterministic without atomics: {@link Tokens} holds, besides the ids, the positions sorted by
 * token (a counting sort on the host, where the ids come from), so that each distinct token's gradient row is summed
 * by one thread per column, in position order, and added once. Gradients are bit-identical from run to run.
 */
public final class CudaEmbedding {
    private final CudaDevice device;
    private final ModelKernels kernels;

    public CudaEmbedding(CudaDevice device, Precision precision) {
        this.device = device;
        this.kernels = ModelKernels.of(device, precision);
    }

    public Precision precision() {
        return kernels.precision;
    }

    /**
     * Token ids on the device [n] (int32) and their grouping for the backward: {@code order} [n] (positions sorted
     * by token, then position), {@code starts} [distinct + 1] (token u's positions are order[starts[u] ..
     * starts[u+1])), {@code tokens} [distinct] (token u's id).
     */
    public record Tokens(DeviceBuffer ids, DeviceBuffer order, DeviceBuffer starts, DeviceBuffer tokens, int count, int distinct)
            implements AutoCloseable {
        @Override
        public void close() {
            ids.close();
            order.close();
            starts.close();
            tokens.close();
        }
    }

    /** Checks every id against the vocabulary (an error names the first bad one) and uploads them with their grouping. */
    public Tokens upload(int[] ids, int vocab) {
        if (ids.length == 0) throw new IllegalArgumentException("no token ids");
        int[] count = new int[vocab + 1];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " outside the vocabulary [0, " + vocab + ")");
            }
            count[ids[i] + 1]++;
        }
        int distinct = 0;
        for (int v = 0; v < vocab; v++) if (count[v + 1] > 0) distinct++;
        for (int v = 0; v < vocab; v++) count[v + 1] += count[v];   // count[v] = first slot of token v
        int[] order = new int[ids.length], next = count.clone();
        for (int i = 0; i < ids.length; i++) order[next[ids[i]]++] = i;
        int[] starts = new int[distinct + 1], tokens = new int[distinct];
        int u = 0;
        for (int v = 0; v < vocab; v++) {
            if (count[v + 1] == count[v]) continue;
            tokens[u] = v;
            starts[u++] = count[v];
        }
        starts[distinct] = ids.length;
        return new Tokens(upload(ids), upload(order), upload(starts), upload(tokens), ids.length, distinct);
    }

    private DeviceBuffer upload(int[] values) {
        DeviceBuffer b = device.allocate(4L * values.length);
        b.copyFrom(values);
        return b;
    }

    /** x [n, D] = table[ids]. */
    public void forward(Tokens ids, DeviceTensor table, DeviceTensor x, CudaStream stream) {
        int d = table.dim(1);
        kernels.requireStorage(table, "the embedding table");
        kernels.requireStorage(x, "the embeddings");
        ModelKernels.requireSize(x, (long) ids.count() * d, "the embeddings");
        ModelKernels.launch1d(kernels.embedding, x.size(), stream, ids.ids(), table.buffer(), x.buffer(), (long) ids.count(), d);
    }

    /** dtable [V, D] (float32) += the rows of dx [n, D] summed per token. */
    public void backward(Tokens ids, DeviceTensor dx, DeviceTensor dtable, CudaStream stream) {
        int d = dtable.dim(1);
        kernels.requireStorage(dx, "the embeddings' gradient");
        ModelKernels.requireSize(dx, (long) ids.count() * d, "the embeddings' gradient");
        ModelKernels.requireF32(dtable, "the table's gradient");
        kernels.embeddingBackward.launch(new int[] {ids.distinct(), ModelKernels.blocks(d, ModelKernels.THREADS), 1},
                new int[] {ModelKernels.THREADS, 1, 1}, 0, stream, ids.order(), ids.starts(), ids.tokens(), dx.buffer(), dtable.buffer(), d);
    }
}
