package org.gsa4j.bench.suites;

import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.models.ModelLoader;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * One batch-1 decode step of the decode suite's GSA model ({@link DecodeSuite#gsaConfig}), for
 * JMH's allocation profiler: the steady-state allocation per decoded token is
 * {@code gc.alloc.rate.norm} (all threads).
 *
 * <pre>java --add-modules jdk.incubator.vector -jar gsa4j-bench/target/gsa4j-benchmarks.jar DecodeStepBench -prof gc</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-XX:+UseParallelGC"})
public class DecodeStepBench {
    /** "full" = the ≈150M model of the decode suite, "quick" = its small variant. */
    @Param({"full"})
    String size;

    CausalLM model;
    DecodeState state;
    int next = 1;

    @Setup
    public void setup() {
        model = ModelLoader.create(DecodeSuite.gsaConfig(size.equals("quick")), 3);
        state = model.newState(1);
        int[] prompt = new int[64];
        for (int i = 0; i < prompt.length; i++) prompt[i] = (i * 7919) % model.config.vocabSize();
        model.feed(prompt, 1, prompt.length, state);
    }

    @Benchmark
    public int step() {
        next = DecodeSuite.argmax(model.feed(new int[]{next}, 1, 1, state));
        return next;
    }
}
