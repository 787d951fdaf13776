package org.gsa4j.tensor;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A dense row-major tensor of float32 (the product), float64 (the simple reference path and
 * finite-difference checks) or bfloat16 bits (weights held for inference only). Exactly one of
 * {@link #f}, {@link #d} and {@link #h} is non-null. Kernels take the fast Vector-API path for
 * float32 and a plain, obviously-correct loop for float64; tests compare the two.
 */
public final class Tensor {
    public final int[] shape;
    public final float[] f;
    public final double[] d;
    /** bfloat16 bits (weights held for inference only; {@link #f} and {@link #d} are then null). */
    public final short[] h;

    private Tensor(int[] shape, float[] f, double[] d) {
        this(shape, f, d, null);
    }

    private Tensor(int[] shape, float[] f, double[] d, short[] h) {
        this.shape = shape;
        this.f = f;
        this.d = d;
        this.h = h;
        int n = sizeOf(shape);
        int len = f != null ? f.length : d != null ? d.length : h.length;
        if (len != n) {
            throw new IllegalArgumentException("data length " + len + " != shape " + Arrays.toString(shape));
        }
    }

    public static int sizeOf(int... shape) {
        long n = 1;
        for (int s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n *= s;
            if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("tensor too large: " + Arrays.toString(shape));
        }
        return (int) n;
    }

    public static Tensor of(float[] data, int... shape) {
        return new Tensor(shape.clone(), data, null);
    }

    public static Tensor of(double[] data, int... shape) {
        return new Tensor(shape.clone(), null, data);
    }

    /** bfloat16 bits as a tensor (for inference weights: matmul and embedding read it; other kernels need {@link #toF32}). */
    public static Tensor ofBf16(short[] bits, int... shape) {
        return new Tensor(shape.clone(), null, null, bits);
    }

    /** This tensor rounded to bfloat16 (round to nearest even), or itself if it already is. */
    public Tensor toBf16() {
        if (h != null) return this;
        short[] out = new short[size()];
        for (int i = 0; i < out.length; i++) {
            float x = (float) get(i);
            int bits = Float.floatToRawIntBits(x);
            out[i] = Float.isNaN(x) ? (short) 0x7FC0 : (short) ((bits + ((bits >>> 16) & 1) + 0x7FFF) >>> 16);
        }
        return ofBf16(out, shape);
    }

    public boolean isBf16() {
        return h != null;
    }

    public static Tensor zeros(int... shape) {
        return new Tensor(shape.clone(), new float[sizeOf(shape)], null);
    }

    public static Tensor zerosF64(int... shape) {
        return new Tensor(shape.clone(), null, new double[sizeOf(shape)]);
    }

    /** Zeros with the same precision as {@code like}. */
    public static Tensor zerosLike(Tensor like, int... shape) {
        return like.isF64() ? zerosF64(shape) : zeros(shape);
    }

    public static Tensor zerosLike(Tensor like) {
        return zerosLike(like, like.shape);
    }

    /** N(0, std²) float32 entries. */
    public static Tensor randn(SplittableRandom rng, double std, int... shape) {
        Tensor t = zeros(shape);
        for (int i = 0; i < t.f.length; i++) t.f[i] = (float) (std * gaussian(rng));
        return t;
    }

    /** Box-Muller on a SplittableRandom: reproducible across JDKs, unlike Random.nextGaussian's algorithm choice. */
    public static double gaussian(SplittableRandom rng) {
        double u1 = rng.nextDouble();
        double u2 = rng.nextDouble();
        return Math.sqrt(-2.0 * Math.log(1.0 - u1)) * Math.cos(2 * Math.PI * u2);
    }

    public boolean isF64() {
        return d != null;
    }

    public int size() {
        return f != null ? f.length : d != null ? d.length : h.length;
    }

    public int rank() {
        return shape.length;
    }

    public int dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public double get(int i) {
        return f != null ? f[i] : d != null ? d[i] : Float.intBitsToFloat((h[i] & 0xFFFF) << 16);
    }

    public void set(int i, double v) {
        if (f != null) f[i] = (float) v;
        else d[i] = v;
    }

    /** A view with another shape over the same data. */
    public Tensor reshape(int... newShape) {
        if (h != null) return new Tensor(newShape.clone(), null, null, h);
        return f != null ? new Tensor(newShape.clone(), f, null) : new Tensor(newShape.clone(), null, d);
    }

    public Tensor copy() {
        if (h != null) return new Tensor(shape.clone(), null, null, h.clone());
        return f != null ? new Tensor(shape.clone(), f.clone(), null) : new Tensor(shape.clone(), null, d.clone());
    }

    public Tensor toF32() {
        if (f != null) return this;
        float[] out = new float[size()];
        if (h != null) for (int i = 0; i < out.length; i++) out[i] = Float.intBitsToFloat(h[i] << 16);
        else for (int i = 0; i < out.length; i++) out[i] = (float) d[i];
        return new Tensor(shape.clone(), out, null);
    }

    public Tensor toF64() {
        if (d != null) return this;
        double[] out = new double[size()];
        for (int i = 0; i < out.length; i++) out[i] = get(i);
        return new Tensor(shape.clone(), null, out);
    }

    /** Same precision as {@code like}. */
    public Tensor toPrecisionOf(Tensor like) {
        return like.isF64() ? toF64() : toF32();
    }

    public void fill(double v) {
        if (f != null) Arrays.fill(f, (float) v);
        else Arrays.fill(d, v);
    }

    /** this += other, element-wise (same size). */
    public void addInPlace(Tensor other) {
        if (other.size() != size()) throw new IllegalArgumentException("size mismatch " + this + " += " + other);
        if (f != null) {
            float[] o = other.toF32().f;
            Parallel.forBlocks(f.length, 1 << 16, (a, b) -> VectorOps.add(f, a, o, a, f, a, b - a));
        } else {
            double[] o = other.toF64().d;
            for (int i = 0; i < d.length; i++) d[i] += o[i];
        }
    }

    public boolean sameShape(Tensor o) {
        return Arrays.equals(shape, o.shape);
    }

    /** ‖a − b‖ / ‖b‖ in double (the conformance metric); ‖a − b‖ when b is zero. */
    public static double relErr(Tensor a, Tensor b) {
        if (a.size() != b.size()) {
            throw new IllegalArgumentException("size mismatch " + a + " vs " + b);
        }
        double num = 0, den = 0;
        for (int i = 0; i < a.size(); i++) {
            double x = a.get(i), y = b.get(i);
            num += (x - y) * (x - y);
            den += y * y;
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    @Override
    public String toString() {
        return (isF64() ? "F64" : h != null ? "BF16" : "F32") + Arrays.toString(shape);
    }
}
