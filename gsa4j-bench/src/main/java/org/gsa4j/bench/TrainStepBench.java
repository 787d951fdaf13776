package org.gsa4j.bench;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.bench.suites.TrainSuite;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.train.AdamW;
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
 * One full training step of the train suite's GSA language model (about 21M parameters: d=384,
 * 8 layers, 4 heads, 64 slots, vocab 8192, untied head; {@link TrainSuite#config}) on one sequence
 * of 512 random tokens: forward, backward, and the trainer's AdamW update over every parameter
 * (β = 0.9/0.999, weight decay 0.01, lr 1e-4).
 *
 * <p>Tokens/s = 512 / (seconds per step). Model-FLOP utilisation: 6·N·tokens per step
 * (N = parameter count, the usual forward + backward estimate; the GSA operator's own work is
 * not counted) over the FMA peak of {@code gsa4j bench --suite ceilings}.
 * Run: {@code java -jar gsa4j-bench/target/gsa4j-benchmarks.jar TrainStepBench}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 5)
@Measurement(iterations = 5, time = 10)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx8g"})
public class TrainStepBench {
    static final int BATCH = 1, SEQ = 512;

    CausalLM model;
    int[] ids;
    AdamW optimizer;

    @Setup
    public void setup() {
        model = ModelLoader.create(TrainSuite.config(false), 1);
        ids = new int[BATCH * SEQ];
        SplittableRandom rng = new SplittableRandom(2);
        for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(model.config.vocabSize());
        optimizer = new AdamW(0.9, 0.999, 1e-8, 0.01, name -> true);
    }

    @Benchmark
    public double step() {
        Tape tape = Tape.recording();
        Map<String, Var> p = model.bind(tape);
        Var loss = model.loss(tape, p, ids, BATCH, SEQ);
        tape.backward(loss);
        Map<String, float[]> grads = new HashMap<>();
        p.forEach((name, v) -> {
            if (v.grad() != null) grads.put(name, v.grad().f);
        });
        optimizer.step(model.params(), grads, 1e-4, 1.0);
        return loss.value.get(0);
    }
}
