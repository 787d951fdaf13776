package org.gsa4j.cuda.models;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.CudaRmsNorm;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;

/**
 * The token mixer of one layer on the GPU: what differs between the models of the family (the CPU engine's
 * org.gsa4j.layers.TokenMixer), while {@link CudaCausalLM} runs the block skeleton around it. One instance per
 * layer, made by {@link CudaMixers#of}; it reads its weights from {@link Context#params()} under the CPU names.
 *
 * <p>Tensors: h and out are [B·T, D] rows in the model's storage precision; gradients likewise. Every call runs
 * on the device's thread and queues its work on {@link Context#stream()}.
 */
interface CudaMixer {

    /** What every mixer of a model shares: the device, the storage precision, the weights and the common kernels. */
    record Context(CudaDevice device, Precision precision, DeviceParams params, Products products, GlueKernels glue,
                   CudaRmsNorm norm, CudaStream stream) {

        /** The weight {@code name} as the products read it (the bf16 copy in bf16 mode). */
        DeviceTensor w(String name) {
            return params.weight(name);
        }

        /** {@link #w}, or null for a name the config leaves out. */
        DeviceTensor optional(String name) {
            return name == null ? null : params.weight(name);
        }

        /** The float32 gradient of {@code name} (accumulated by the backward). */
        DeviceTensor g(String name) {
            return params.grad(name);
        }
    }

    /**
     * One layer's activations for one batch shape, kept from its forward for its backward. Allocated once per shape
     * (the arena lives as long as the shape does) and written again by every forward.
     */
    interface Saved {
        /** Frees what the forward kept outside the arena (an operator's saved tensors) when no backward follows. */
        void release();
    }

    /** One layer's decoding state, moved on by each {@link #forward} that is given it. */
    interface State {
    }

    /**
     * This layer's activations for batch × seqLen, from {@code arena}: what the backward reads per layer with
     * {@link TensorArena#io}/{@link TensorArena#f32}, work space the layers can share with {@link TensorArena#scratch}.
     */
    Saved activations(int batch, int seqLen, TensorArena arena);

    /**
     * out (written) = the mixer of h, its normed input; with a state (decoding, prefill), from that state, which it
     * then moves on; with null, from zeros (training, evaluation).
     */
    void forward(Saved saved, DeviceTensor h, DeviceTensor out, State state);

    /**
     * dh (written) = the gradient of h for dOut, the gradient of out, after {@link #forward} filled {@code saved} from
     * the same h (no state); adds its parameters' gradients. dOut is left as it is (the residual stream's gradient).
     */
    void backward(Saved saved, DeviceTensor h, DeviceTensor dOut, DeviceTensor dh);

    /** A zero decoding state for {@code batch} sequences, from {@code arena}. */
    State newState(int batch, TensorArena arena);
}
