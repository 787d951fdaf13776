package org.gsa4j.ops.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Small float32 Vector-API helpers (dot, axpy, scale) on array slices; package-private. */
final class Vec {
    private Vec() {}

    static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;

    /** Σ a[ao+i]·b[bo+i], i < n. */
    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int i = 0;
        float s = 0f;
        int bound = SP.loopBound(n);
        if (bound > 0) {
            FloatVector acc = FloatVector.zero(SP);
            for (; i < bound; i += SP.length()) {
                acc = FloatVector.fromArray(SP, a, ao + i).fma(FloatVector.fromArray(SP, b, bo + i), acc);
            }
            s = org.gsa4j.tensor.VectorOps.sumLanes(acc);
        }
        for (; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    /** y[yo+i] += alpha·x[xo+i], i < n. */
    static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        int i = 0;
        int bound = SP.loopBound(n);
        if (bound > 0) {
            FloatVector va = FloatVector.broadcast(SP, alpha);
            for (; i < bound; i += SP.length()) {
                FloatVector.fromArray(SP, x, xo + i).fma(va, FloatVector.fromArray(SP, y, yo + i)).intoArray(y, yo + i);
            }
        }
        for (; i < n; i++) y[yo + i] += alpha * x[xo + i];
    }

    /** y[yo+i] *= alpha, i < n. */
    static void scale(float alpha, float[] y, int yo, int n) {
        int i = 0;
        int bound = SP.loopBound(n);
        if (bound > 0) {
            FloatVector va = FloatVector.broadcast(SP, alpha);
            for (; i < bound; i += SP.length()) {
                FloatVector.fromArray(SP, y, yo + i).mul(va).intoArray(y, yo + i);
            }
        }
        for (; i < n; i++) y[yo + i] *= alpha;
    }

    /** dst[do+i] = alpha·src[so+i], i < n. */
    static void scaleTo(float alpha, float[] src, int so, float[] dst, int dOff, int n) {
        int i = 0;
        int bound = SP.loopBound(n);
        if (bound > 0) {
            FloatVector va = FloatVector.broadcast(SP, alpha);
            for (; i < bound; i += SP.length()) {
                FloatVector.fromArray(SP, src, so + i).mul(va).intoArray(dst, dOff + i);
            }
        }
        for (; i < n; i++) dst[dOff + i] = alpha * src[so + i];
    }
}
