package org.gsa4j.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.gsa4j.tensor.Parallel;

/** STREAM's triad a = b + s·c, split across all cores: the bandwidth ceiling decoding is compared with. */
final class Triad {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private Triad() {}

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
