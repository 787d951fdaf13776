package org.gsa4j.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.gsa4j.tensor.Parallel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * STREAM's triad a = b + s·c over 3 × 128 MB, split across all cores: the DRAM bandwidth roofline
 * decoding is compared with (GB/s = 402.7 MB ÷ time per op).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
public class TriadBench {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int N = 32 << 20;
    final float[] a = new float[N], b = new float[N], c = new float[N];

    @Benchmark
    public void triad() {
        run(a, b, c, 3f);
    }

    /** Bytes moved by one {@link #run} over arrays of n floats (two read, one written). */
    static double bytes(int n) {
        return 3.0 * 4 * n;
    }

    static void run(float[] a, float[] b, float[] c, float s) {
        int parts = Parallel.threads(), n = a.length, per = (n / parts) & -S.length();
        Parallel.forRange(parts, p -> {
            int lo = p * per, hi = p == parts - 1 ? n : lo + per, i = lo;
            for (; i <= hi - S.length(); i += S.length())
                FloatVector.fromArray(S, c, i).mul(s).add(FloatVector.fromArray(S, b, i)).intoArray(a, i);
            for (; i < hi; i++) a[i] = b[i] + s * c[i];
        });
    }
}
