package org.gsa4j.cuda.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;

/**
 * Shared by the GPU operator tests: the device (opened once; the tests are skipped with the reason
 * where there is none), random inputs as the CPU tests draw them, the relative error they use, and a
 * JSON-lines log of every comparison for docs/GPU.md ({@code GSA4J_GPU_REPORT} names the file).
 */
final class GpuTestSupport {
    private static CudaDevice device;

    private GpuTestSupport() {}

    static synchronized CudaDevice device() {
        Assumptions.assumeTrue(CudaDevice.available(), () -> "no GPU: " + CudaDevice.unavailableReason());
        if (device == null) device = CudaDevice.open(0);
        return device;
    }

    /** Runs {@code work} on the device's thread. */
    static <T> T onDevice(Callable<T> work) {
        return device().call(work);
    }

    static Tensor randn(SplittableRandom rng, int... shape) {
        Tensor t = Tensor.zeros(shape);
        for (int i = 0; i < t.f.length; i++) t.f[i] = (float) Tensor.gaussian(rng);
        return t;
    }

    enum Strength { WEAK, STRONG }

    /** Log-decays: weak = logsigmoid(N(0,1))/8 (GSA's gate), strong = −softplus(3 + 0.5·N(0,1)) ≈ −3 per step. */
    static Tensor logDecay(SplittableRandom rng, Strength strength, int... shape) {
        Tensor g = Tensor.zeros(shape);
        for (int i = 0; i < g.f.length; i++) {
            double x = Tensor.gaussian(rng);
            g.f[i] = (float) (strength == Strength.WEAK ? -softplus(-x) / 8 : -softplus(3 + 0.5 * x));
        }
        return g;
    }

    static double softplus(double x) {
        return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
    }

    /** GSA's slot write weights s = 1 − e^{g} in float32. */
    static Tensor oneMinusExp(Tensor g) {
        Tensor s = Tensor.zeros(g.shape);
        for (int i = 0; i < g.f.length; i++) s.f[i] = (float) -Math.expm1(g.f[i]);
        return s;
    }

    static Tensor f64(Tensor t) {
        return t == null ? null : t.toF64();
    }

    static Tensor scaled(Tensor t, double c) {
        Tensor out = t.isF64() ? Tensor.zerosF64(t.shape) : Tensor.zeros(t.shape);
        for (int i = 0; i < t.size(); i++) out.set(i, c * t.get(i));
        return out;
    }

    /**
     * One random problem of the primitive and its float64 answer: the CPU engine's recurrence with back-propagation
     * through time, on the same float32-representable inputs (q, k, v, g, s0, dST, dO drawn in that order).
     */
    record PrimitiveCase(Decay decay, Tensor q, Tensor k, Tensor v, Tensor g, double[] logGamma, Tensor s0, Tensor dST,
                         Tensor dO, double scale, GatedLinearAttention.Result exact, GatedLinearAttention.Grads grads) {
        static PrimitiveCase random(SplittableRandom rng, Decay decay, int B, int T, int H, int Dk, int Dv, Strength strength,
                                    boolean states) {
            Tensor q = randn(rng, B, T, H, Dk), k = randn(rng, B, T, H, Dk), v = randn(rng, B, T, H, Dv);
            Tensor g = decay == Decay.SCALAR ? null : logDecay(rng, strength, B, T, H, decay == Decay.VALUE ? Dv : Dk);
            double[] logGamma = new double[H];
            for (int h = 0; h < H; h++) logGamma[h] = Math.log(1 - Math.pow(2, -5 - h));   // RetNet's γ_h
            Tensor s0 = states ? randn(rng, B, H, Dk, Dv) : null, dST = states ? randn(rng, B, H, Dk, Dv) : null;
            Tensor dO = randn(rng, B, T, H, Dv);
            double scale = 1 / Math.sqrt(Dk);
            Gate gate = switch (decay) {
                case KEY -> Gate.key(f64(g));
                case VALUE -> Gate.value(f64(g));
                case SCALAR -> Gate.scalar(logGamma);
            };
            GatedLinearAttention.Result exact = GatedLinearAttention.forward(gate, scaled(f64(q), scale), f64(k), f64(v), f64(s0));
            GatedLinearAttention.Grads grads = GatedLinearAttention.backward(exact.saved(), f64(dO), f64(dST));
            return new PrimitiveCase(decay, q, k, v, g, logGamma, s0, dST, dO, scale, exact, grads);
        }

        /** log γ per head as a float32 tensor [H]. */
        Tensor logGammaTensor() {
            Tensor t = Tensor.zeros(logGamma.length);
            for (int h = 0; h < logGamma.length; h++) t.f[h] = (float) logGamma[h];
            return t;
        }

        /** The gradient with respect to q itself (the primitive ran on scale·q). */
        Tensor exactDq() {
            return scaled(grads.dq(), scale);
        }
    }

    /** Asserts relErr(actual, expected) ≤ tol, prints it and logs it under {@code suite/case}. */
    static double check(String suite, String label, String what, Tensor actual, Tensor expected, double tol) {
        double err = Tensor.relErr(actual, expected);
        boolean finite = allFinite(actual);
        System.out.printf(Locale.ROOT, "  %-60s %-10s rel err %.3e (tol %.0e)%s%n", label, what, err, tol, finite ? "" : " NON-FINITE");
        log(suite, label, what, err, tol);
        assertTrue(finite && err <= tol, label + " " + what + ": relative error " + err + " > " + tol);
        return err;
    }

    static boolean allFinite(Tensor t) {
        for (int i = 0; i < t.size(); i++) if (!Double.isFinite(t.get(i))) return false;
        return true;
    }

    private static synchronized void log(String suite, String label, String what, double err, double tol) {
        String file = System.getenv("GSA4J_GPU_REPORT");
        if (file == null) return;
        String line = String.format(Locale.ROOT, "{\"suite\":\"%s\",\"case\":\"%s\",\"tensor\":\"%s\",\"rel_err\":%.4e,\"tol\":%.0e}%n",
                suite, label, what, err, tol);
        try {
            Files.writeString(Path.of(file), line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The reference folder: GSA4J_REFERENCE_DIR, or the core module's test resources seen from the repository or this module. */
    static Path referenceDir() {
        String env = System.getenv("GSA4J_REFERENCE_DIR");
        if (env != null) return Path.of(env);
        for (String candidate : new String[] {"gsa4j-core/src/test/resources/reference", "../gsa4j-core/src/test/resources/reference"}) {
            if (Files.isDirectory(Path.of(candidate))) return Path.of(candidate);
        }
        throw new IllegalStateException("reference folder not found; set GSA4J_REFERENCE_DIR");
    }
}
