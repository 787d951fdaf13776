package org.gsa4j.cuda.ops;

/**
 * How activations are stored on the device. {@link #BF16} is the training and inference mode:
 * bfloat16 storage, tensor-core products, float32 accumulation, float32 states and gates. {@link #F32}
 * keeps everything in float32 with plain FMA products and float64 cumulative decays: the conformance
 * mode, compared with the CPU engine to 1e-5.
 */
public enum Precision {
    F32(4),
    BF16(2);

    /** Bytes per stored element. */
    public final int bytes;

    Precision(int bytes) {
        this.bytes = bytes;
    }
}
