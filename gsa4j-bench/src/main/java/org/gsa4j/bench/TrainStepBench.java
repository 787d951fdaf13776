package org.gsa4j.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One full training step of a ~25M-parameter GSA language model (d=512, 6 layers, 4 heads,
 * 64 slots, vocab 4096, untied head; {@link Probe#config()}) on a batch of 4 × 512 random
 * tokens: forward, backward, and an AdamW update over every parameter (β = 0.9/0.999, weight
 * decay 0.01, lr 1e-4; a plain vectorisable loop, parallel over fixed blocks).
 *
 * <p>Tokens/s = 2048 / (seconds per step). Model-FLOP utilisation: 6·N·tokens per step
 * (N = parameter count, the usual forward + backward estimate; the GSA operator's own work is
 * not counted) over the FMA peak measured by {@link GemmCeiling}.
 * Run: {@code java -jar gsa4j-bench/target/gsa4j-benchmarks.jar TrainStepBench}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 5)
@Measurement(iterations = 5, time = 10)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx8g"})
public class TrainStepBench {
    static final int BATCH = 4, SEQ = 512;

    CausalLM model;
    int[] ids;
    final List<float[]> m1 = new ArrayList<>(), m2 = new ArrayList<>();
    int step;

    @Setup
    public void setup() {
        model = ModelLoader.create(Probe.config(), 1);
        ids = new int[BATCH * SEQ];
        SplittableRandom rng = new SplittableRandom(2);
        for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(model.config.vocabSize());
        for (Tensor t : model.params().values()) {
            m1.add(new float[t.size()]);
            m2.add(new float[t.size()]);
        }
    }

    @Benchmark
    public double step() {
        Tape tape = Tape.recording();
        Map<String, Var> p = model.bind(tape);
        Var loss = model.loss(tape, p, ids, BATCH, SEQ);
        tape.backward(loss);
        adamW(p);
        return loss.value.get(0);
    }

    private void adamW(Map<String, Var> p) {
        step++;
        float lr = 1e-4f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f;
        float c1 = (float) (1 / (1 - Math.pow(b1, step))), c2 = (float) (1 / (1 - Math.pow(b2, step)));
        int i = 0;
        for (Var v : p.values()) {
            float[] w = v.value.f, g = v.grad() == null ? null : v.grad().f, mm = m1.get(i), vv = m2.get(i);
            i++;
            if (g == null) continue;
            Parallel.forBlocks(w.length, 1 << 15, (a, b) -> {
                for (int j = a; j < b; j++) {
                    float gj = g[j];
                    float mj = mm[j] = b1 * mm[j] + (1 - b1) * gj;
                    float vj = vv[j] = b2 * vv[j] + (1 - b2) * gj * gj;
                    w[j] -= lr * (mj * c1 / ((float) Math.sqrt(vj * c2) + eps) + wd * w[j]);
                }
            });
        }
    }
}
