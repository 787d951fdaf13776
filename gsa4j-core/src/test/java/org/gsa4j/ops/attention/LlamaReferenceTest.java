package org.gsa4j.ops.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.tensor.Gemm;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Checks the attention tier's conventions (rotary layout and fp32 angles, GQA head mapping, scale,
 * KV-cache positions) against the reference library's output: a throw-away, test-only float64
 * Llama forward (SPEC §4.5) built around {@link Rotary}, {@link CausalAttention} and {@link KvCache}
 * reproduces {@code reference/models/llama} logits and per-step decoding logits. The real model
 * lives in the models tier; this is only a harness for the operators.
 */
class LlamaReferenceTest {
    private final Path dir;
    private final JsonNode cfg;
    private final int d, L, HQ, HKV, hd, vocab, inter;
    private final double eps, theta;

    LlamaReferenceTest() throws Exception {
        dir = Path.of(LlamaReferenceTest.class.getResource("/reference/models/llama/config.json").toURI()).getParent();
        cfg = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        d = cfg.get("hidden_size").asInt();
        L = cfg.get("num_hidden_layers").asInt();
        HQ = cfg.get("num_attention_heads").asInt();
        HKV = cfg.get("num_key_value_heads").asInt();
        hd = cfg.has("head_dim") ? cfg.get("head_dim").asInt() : d / HQ;
        vocab = cfg.get("vocab_size").asInt();
        inter = cfg.get("intermediate_size").asInt();
        eps = cfg.get("rms_norm_eps").asDouble();
        theta = cfg.has("rope_parameters") ? cfg.get("rope_parameters").get("rope_theta").asDouble() : cfg.get("rope_theta").asDouble();
    }

    /** y [n, out] = x [n, in] · Wᵀ, W [out, in]. */
    private static double[] linear(double[] x, int n, Tensor w) {
        int out = w.dim(0), in = w.dim(1);
        double[] y = new double[n * out];
        Gemm.dgemm(false, true, n, out, in, 1, x, 0, in, w.d, 0, in, 0, y, 0, out);
        return y;
    }

    private double[] rmsNorm(double[] x, int n, Tensor w) {
        double[] y = new double[x.length];
        for (int r = 0; r < n; r++) {
            double ss = 0;
            for (int c = 0; c < d; c++) ss += x[r * d + c] * x[r * d + c];
            double inv = 1 / Math.sqrt(ss / d + eps);
            for (int c = 0; c < d; c++) y[r * d + c] = x[r * d + c] * inv * w.d[c];
        }
        return y;
    }

    private static Tensor prec(double[] a, boolean f32, int... shape) {
        Tensor t = Tensor.of(a, shape);
        return f32 ? t.toF32() : t;
    }

    /**
     * Runs the model over ids [B,T] at positions pos0.. (caches non-null: decode/prefill through the
     * caches, else one full causal forward); returns logits [B,T,vocab].
     */
    private double[] run(SafeTensors w, long[] ids, int B, int T, int pos0, KvCache[] caches, boolean f32) {
        Rotary rot = new Rotary(hd, theta);
        int n = B * T;
        double[] x = new double[n * d];
        Tensor emb = w.f64("model.embed_tokens.weight");
        for (int r = 0; r < n; r++) System.arraycopy(emb.d, (int) ids[r] * d, x, r * d, d);
        for (int l = 0; l < L; l++) {
            String p = "model.layers." + l + ".";
            double[] h = rmsNorm(x, n, w.f64(p + "input_layernorm.weight"));
            Tensor q = prec(linear(h, n, w.f64(p + "self_attn.q_proj.weight")), f32, B, T, HQ, hd);
            Tensor k = prec(linear(h, n, w.f64(p + "self_attn.k_proj.weight")), f32, B, T, HKV, hd);
            Tensor v = prec(linear(h, n, w.f64(p + "self_attn.v_proj.weight")), f32, B, T, HKV, hd);
            rot.apply(q, pos0, false);
            rot.apply(k, pos0, false);
            double scale = 1 / Math.sqrt(hd);
            Tensor o;
            if (caches == null) {
                o = CausalAttention.forward(q, k, v, scale, 0).o();
            } else if (T > 1) {
                o = CausalAttention.forward(q, k, v, scale, 0).o();
                caches[l].append(k, v);
            } else {
                o = Tensor.zerosLike(q, B, HQ, hd);
                caches[l].step(q.reshape(B, HQ, hd), k.reshape(B, HKV, hd), v.reshape(B, HKV, hd), scale, o);
            }
            double[] a = linear(o.toF64().d, n, w.f64(p + "self_attn.o_proj.weight"));
            for (int i = 0; i < x.length; i++) x[i] += a[i];
            double[] h2 = rmsNorm(x, n, w.f64(p + "post_attention_layernorm.weight"));
            double[] g = linear(h2, n, w.f64(p + "mlp.gate_proj.weight"));
            double[] u = linear(h2, n, w.f64(p + "mlp.up_proj.weight"));
            for (int i = 0; i < g.length; i++) g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
            double[] m = linear(g, n, w.f64(p + "mlp.down_proj.weight"));
            assertEquals(n * inter, u.length);
            for (int i = 0; i < x.length; i++) x[i] += m[i];
        }
        return linear(rmsNorm(x, n, w.f64("model.norm.weight")), n, w.f64("lm_head.weight"));
    }

    @Test
    void logitsAndDecodingMatchReference() {
        try (SafeTensors w = SafeTensors.open(dir.resolve("model.safetensors"));
             SafeTensors ex = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            long[] ids = ex.i64("input_ids");
            int B = ex.entry("input_ids").shape()[0], T = ex.entry("input_ids").shape()[1];
            Tensor ref = ex.f64("logits");
            long[] prompt = ex.i64("generate.prompt"), tokens = ex.i64("generate.tokens");
            Tensor stepRef = ex.f64("generate.step_logits");
            for (boolean f32 : new boolean[] {false, true}) {
                String label = f32 ? "f32 attention" : "f64 attention";
                double e = Tensor.relErr(Tensor.of(run(w, ids, B, T, 0, null, f32), B, T, vocab), ref);
                // decoding: prefill the prompt, then feed the reference's greedy tokens one by one
                KvCache[] caches = new KvCache[L];
                for (int l = 0; l < L; l++) caches[l] = new KvCache(1, HKV, hd, 0);
                double[] pre = run(w, prompt, 1, prompt.length, 0, caches, f32);
                double[] steps = new double[stepRef.size()];
                System.arraycopy(pre, (prompt.length - 1) * vocab, steps, 0, vocab);
                int agree = argmax(steps, 0) == tokens[0] ? 1 : 0;
                for (int s = 0; s + 1 < stepRef.dim(0); s++) {
                    int pos = caches[0].length();
                    double[] lg = run(w, new long[] {tokens[s]}, 1, 1, pos, caches, f32);
                    System.arraycopy(lg, 0, steps, (s + 1) * vocab, vocab);
                    if (s + 1 < tokens.length && argmax(lg, 0) == tokens[s + 1]) agree++;
                }
                double es = Tensor.relErr(Tensor.of(steps, stepRef.shape), stepRef);
                System.out.printf("llama reference (%s): logits rel err %.2e, step logits rel err %.2e, greedy tokens %d/%d%n",
                        label, e, es, agree, tokens.length);
                assertTrue(e <= 1e-4, label + " logits " + e);
                assertTrue(es <= 1e-4, label + " step logits " + es);
                assertEquals(tokens.length, agree, label + " greedy tokens");
            }
        }
    }

    private int argmax(double[] a, int off) {
        int best = 0;
        for (int i = 1; i < vocab; i++) if (a[off + i] > a[off + best]) best = i;
        return best;
    }
}
