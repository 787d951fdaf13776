package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.MatVec;
import org.gsa4j.tensor.Tensor;

import java.util.function.Function;

/**
 * The layers' input projections. The matrices a single-token stepper applies to the same input, multiplied in one dispatch: the
 * weights are looked up once by the names the layer's {@code params()} declares, and each gets an
 * output buffer of {@code rows × out-features} sized from its shape, so the parameter list stays
 * the one definition of the layer's shapes.
 */
final class Projections {
    private final Tensor[] weights;
    private final float[][] outputs;
    /** Output buffer by the position of its name in the constructor's list (null for a null name). */
    private final float[][] byName;

    /** {@code names} may hold nulls: a matrix this configuration does not have (its buffer is null). */
    Projections(Function<String, Tensor> params, int rows, String... names) {
        int count = 0;
        for (String n : names) if (n != null) count++;
        weights = new Tensor[count];
        outputs = new float[count][];
        byName = new float[names.length][];
        for (int i = 0, j = 0; i < names.length; i++) {
            if (names[i] == null) continue;
            weights[j] = params.apply(names[i]);
            outputs[j] = new float[rows * weights[j].dim(0)];
            byName[i] = outputs[j++];
        }
    }

    /** The output buffer of the i-th name (null when that name was null). */
    float[] out(int i) {
        return byName[i];
    }

    /**
     * The tape form of GSA's, GLA's and RetNet's first step: {@code q, k, v = x W_{q,k,v}ᵀ} from
     * x [B,T,d], each then convolved and passed through silu when the layer has short convolutions
     * (from and into a decoding state's caches when given).
     */
    static Var[] qkv(Tape tape, ParamScope p, Var x, boolean shortConv, Tensor[] caches) {
        Var q = Functions.linear(tape, x, p.get("q_proj.weight"));
        Var k = Functions.linear(tape, x, p.get("k_proj.weight"));
        Var v = Functions.linear(tape, x, p.get("v_proj.weight"));
        return shortConv ? ShortConvs.apply(tape, p, ShortConvs.QKV, caches, true, q, k, v) : new Var[] {q, k, v};
    }

    /** Every output = x [rows, in] · Wᵀ, in one parallel dispatch. */
    void multiply(float[] x, int rows) {
        MatVec.multiply(x, 0, rows, weights, outputs, 0);
    }
}
