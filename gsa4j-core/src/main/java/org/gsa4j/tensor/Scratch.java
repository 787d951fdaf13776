package org.gsa4j.tensor;

/** Per-thread scratch arrays for the recurrent steps, so that decoding allocates nothing in the steady state. */
public final class Scratch {
    private static final int SLOTS = 2;
    private static final ThreadLocal<float[][]> ARRAYS = ThreadLocal.withInitial(() -> new float[SLOTS][0]);

    private Scratch() {}

    /** A float array of at least n elements (contents undefined), private to this thread and slot. */
    public static float[] floats(int slot, int n) {
        float[][] arrays = ARRAYS.get();
        if (arrays[slot].length < n) arrays[slot] = new float[n];
        return arrays[slot];
    }
}
