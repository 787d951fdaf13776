package org.gsa4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Two training steps of a float32 GSA language model (forward, loss, backward, AdamW) give the same
 * bits whatever the thread count the work is cut for: 1, 2, 3 and 16 threads (on a two-core
 * machine the last ones only change the cut). The model is large enough that its products take
 * the parallel GEMM and its operator has several chunks per sequence.
 */
class ThreadCountDeterminismTest {
    @AfterEach
    void restore() {
        Parallel.useThreads(Parallel.machineThreads());
    }

    static ObjectNode config() {
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("model_type", "gsa");
        c.put("vocab_size", 512);
        c.put("hidden_size", 128);
        c.put("num_hidden_layers", 2);
        c.put("num_heads", 2);
        c.put("num_slots", 16);
        c.put("intermediate_size", 256);
        c.put("feature_map", "swish");
        c.put("use_short_conv", false);
        c.put("gate_logit_normalizer", 8);
        return c;
    }

    @Test
    void trainingStepsAreTheSameBitsForEveryThreadCount() {
        int batch = 2, seqLen = 130;
        int[] ids = new int[batch * seqLen];
        SplittableRandom rng = new SplittableRandom(3);
        for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(512);
        Map<String, Tensor> first = null;
        double firstLoss = 0;
        for (int threads : new int[] {1, 2, 3, 16}) {
            Parallel.useThreads(threads);
            CausalLM model = ModelLoader.create(config(), 9);
            AdamW opt = new AdamW(0.9, 0.95, 1e-8, 0.1, name -> true);
            double loss = 0;
            for (int step = 0; step < 2; step++) {
                Tape tape = Tape.recording();
                Map<String, Var> vars = model.bind(tape);
                Var l = model.loss(tape, vars, ids, batch, seqLen);
                tape.backward(l);
                Map<String, float[]> grads = new HashMap<>();
                vars.forEach((name, v) -> {
                    if (v.grad() != null) grads.put(name, v.grad().f);
                });
                opt.step(model.params(), grads, 1e-3, 1.0);
                loss = l.value.get(0);
            }
            if (first == null) {
                first = model.params();
                firstLoss = loss;
                continue;
            }
            assertEquals(Double.doubleToRawLongBits(firstLoss), Double.doubleToRawLongBits(loss), "loss with " + threads + " threads");
            for (var e : first.entrySet()) {
                float[] a = e.getValue().f, b = model.params().get(e.getKey()).f;
                for (int i = 0; i < a.length; i++) {
                    assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]),
                            e.getKey() + "[" + i + "] after two steps with " + threads + " threads");
                }
            }
        }
    }
}
