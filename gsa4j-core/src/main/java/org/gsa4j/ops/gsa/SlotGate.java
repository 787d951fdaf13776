package org.gsa4j.ops.gsa;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

/**
 * GSA's slot gate (docs/MATH.md#the-slot-gate) from the forget logits f: the log-decay
 * {@code g = logsigmoid(f)/τ} and the write weight {@code s = 1 − exp(g)}, so that a slot forgets
 * exactly as much as it is written. Backward: {@code df = (dg − ds ⊙ α) ⊙ (1 − σ(f)) / τ} with
 * {@code α = exp(g)}. float32 runs Vector-API loops, float64 the plain formula (the twin the tests
 * check by finite differences); decoding calls {@link #step} on one token's logits.
 */
public final class SlotGate {
    private SlotGate() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final FloatVector ONE = FloatVector.broadcast(S, 1f);
    /** Elements per task of the parallel loops (fixed: results never depend on threads). */
    private static final int BLOCK = 1 << 14;
    /** Below this |g|, {@code 1 − e^g} is formed from the series of expm1 (no cancellation near 0). */
    private static final float EXPM1_SERIES_BELOW = 0.35f;

    /** The differentiable gate on a tape: f [..., M] → {g, s}, both shaped like f. */
    public static Var[] apply(Tape tape, Var f, double tau) {
        Tensor fv = f.value;
        Tensor g = Tensor.zerosLike(fv), s = Tensor.zerosLike(fv);
        if (!fv.isF64()) {
            float invTau = (float) (1 / tau);
            Parallel.forBlocks(fv.f.length, BLOCK, (i, j) -> forward(fv.f, g.f, s.f, i, j - i, invTau));
        } else {
            for (int i = 0; i < fv.size(); i++) {
                double x = fv.get(i);
                double gi = (Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)))) / tau;
                g.set(i, gi);
                s.set(i, 1 - Math.exp(g.get(i)));
            }
        }
        Var gv = tape.result(g, f), sv = tape.result(s, f);
        tape.record(gv.requiresGrad ? gv : sv, () -> {
            Tensor dg = gv.grad(), ds = sv.grad();
            if (dg == null && ds == null) return;
            Tensor df = Tensor.zerosLike(fv);
            if (!fv.isF64() && (dg == null || !dg.isF64()) && (ds == null || !ds.isF64())) {
                float invTau = (float) (1 / tau);
                float[] dgf = dg == null ? null : dg.f, dsf = ds == null ? null : ds.f;
                Parallel.forBlocks(fv.f.length, BLOCK, (i, j) -> backward(fv.f, g.f, dgf, dsf, df.f, i, j - i, invTau));
                f.accumulate(df);
                return;
            }
            for (int i = 0; i < fv.size(); i++) {
                double x = fv.get(i);
                double alpha = Math.exp(g.get(i));
                double total = (dg == null ? 0 : dg.get(i)) - (ds == null ? 0 : ds.get(i) * alpha);
                double oneMinusSig = 1 / (1 + Math.exp(x)); // 1 − σ(x), stable for large |x|
                df.set(i, total * oneMinusSig / tau);
            }
            f.accumulate(df);
        });
        return new Var[] {gv, sv};
    }

    /**
     * The decode step's gate in place on {@code rows} rows of {@code dim}: f becomes g, s is written.
     * Row by row: the vector loop leaves a row's last {@code dim mod L} elements to its scalar tail,
     * so a row's values do not depend on how many rows a decoding pass holds.
     */
    public static void step(float[] f, float[] s, int rows, int dim, double tau) {
        for (int r = 0; r < rows; r++) forward(f, f, s, r * dim, dim, (float) (1 / tau));
    }

    /**
     * float32 forward over [off, off + n): {@code g = logsigmoid(f)/τ} ({@link VectorOps#logSigmoid}) and
     * {@code s = 1 − e^{g} = −expm1(g)}: for |g| below 0.35 the Taylor series to g⁷ (within float
     * rounding there), else 1 − e^g, which no longer cancels. g may be written over f. e^g is formed
     * in s by {@link VectorOps#expInPlace} first (no vector exp in this loop, see
     * {@link VectorOps#logSigmoid}).
     */
    public static void forward(float[] f, float[] g, float[] s, int off, int n, float invTau) {
        VectorOps.logSigmoid(f, off, g, off, n, invTau);
        int nv = n - n % L;
        System.arraycopy(g, off, s, off, nv);
        VectorOps.expInPlace(s, off, nv);
        for (int i = 0; i < nv; i += L) {
            FloatVector gv = FloatVector.fromArray(S, g, off + i);
            FloatVector series = gv.fma(1f / 5040, 1f / 720).fma(gv, FloatVector.broadcast(S, 1f / 120)).fma(gv, FloatVector.broadcast(S, 1f / 24))
                    .fma(gv, FloatVector.broadcast(S, 1f / 6)).fma(gv, FloatVector.broadcast(S, 0.5f)).fma(gv, ONE).mul(gv);
            FloatVector viaExp = ONE.sub(FloatVector.fromArray(S, s, off + i));
            viaExp.blend(series.neg(), gv.abs().compare(VectorOperators.LT, EXPM1_SERIES_BELOW)).intoArray(s, off + i);
        }
        for (int i = nv; i < n; i++) s[off + i] = (float) -Math.expm1(g[off + i]);
    }

    /** float32 backward over [off, off + n): df = (dg − ds ⊙ e^{g}) ⊙ (1 − σ(f)) / τ; dg or ds may be null (= 0). */
    public static void backward(float[] f, float[] g, float[] dg, float[] ds, float[] df, int off, int n, float invTau) {
        int i = 0;
        for (; i <= n - L; i += L) {
            int o = off + i;
            FloatVector total = dg == null ? FloatVector.zero(S) : FloatVector.fromArray(S, dg, o);
            if (ds != null) {
                FloatVector alpha = VectorOps.exp(FloatVector.fromArray(S, g, o));
                total = total.sub(FloatVector.fromArray(S, ds, o).mul(alpha));
            }
            FloatVector oneMinusSig = ONE.div(VectorOps.exp(FloatVector.fromArray(S, f, o)).add(1f));
            total.mul(oneMinusSig).mul(invTau).intoArray(df, o);
        }
        for (; i < n; i++) {
            int o = off + i;
            double total = (dg == null ? 0 : dg[o]) - (ds == null ? 0 : ds[o] * Math.exp(g[o]));
            df[o] = (float) (total * (1 / (1 + Math.exp(f[o]))) * invTau);
        }
    }
}
