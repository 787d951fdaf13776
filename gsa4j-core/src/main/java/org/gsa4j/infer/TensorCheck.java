package org.gsa4j.infer;

import org.gsa4j.models.CausalLM;
import org.gsa4j.tensor.Tensor;

import java.util.Map;
import java.util.TreeMap;

/** Scans a model's weights for NaN and infinity ({@code generate --check-tensors}, as in llama.cpp). */
public final class TensorCheck {
    private TensorCheck() {}

    /** The first tensor (in name order) holding a non-finite value, and where: null when all are finite. */
    public record Problem(String tensor, long index, double value) {
        @Override
        public String toString() {
            return "tensor " + tensor + " holds " + value + " at flat index " + index;
        }
    }

    public static Problem firstNonFinite(CausalLM model) {
        for (Map.Entry<String, Tensor> e : new TreeMap<>(model.params()).entrySet()) {
            Tensor t = e.getValue();
            if (t.f != null) {
                for (int i = 0; i < t.f.length; i++) if (!Float.isFinite(t.f[i])) return new Problem(e.getKey(), i, t.f[i]);
            } else if (t.d != null) {
                for (int i = 0; i < t.d.length; i++) if (!Double.isFinite(t.d[i])) return new Problem(e.getKey(), i, t.d[i]);
            } else if (t.h != null) {
                for (int i = 0; i < t.h.length; i++) {
                    // bfloat16: exponent bits all ones is infinity or NaN
                    if ((t.h[i] & 0x7F80) == 0x7F80) return new Problem(e.getKey(), i, Float.intBitsToFloat(t.h[i] << 16));
                }
            }
        }
        return null;
    }

    /** Throws a {@link NonFiniteException} naming the first bad tensor. */
    public static void requireFinite(CausalLM model, String where) {
        Problem p = firstNonFinite(model);
        if (p != null) throw new NonFiniteException(where + ": " + p);
    }
}
