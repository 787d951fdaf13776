package org.gsa4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelLoader.WeightFormat;
import org.gsa4j.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Batch-1 decoding of a GSA language model of about 160M parameters (random weights: d = 1024,
 * 12 layers, 4 heads, 64 slots, vocabulary 32000, MLP 2048, tied embeddings), weights held as F32
 * and as BF16, after a prefilled context of {@code context} tokens: time per token of
 * {@link CausalLM#step} (the allocation-free path {@code feed(…, 1, 1, …)} takes, less its copy).
 * The context is prefilled (chunk form) with the F32 weights for both formats: the state's size,
 * fixed for GSA, is what sets the work per token; the BF16 model then decodes from that state.
 * Every weight matrix is streamed once per token, so bytes per token (printed at setup) ÷ time is
 * the achieved bandwidth to compare with {@link TriadBench} (the DRAM roofline); {@code gsa4j bench
 * --suite decode} times both in rounds against the bandwidth of the same moment, which a shared machine needs.
 * Run: {@code java -jar gsa4j-bench/target/gsa4j-benchmarks.jar DecodeBench -prof gc}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 4)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx6g"})
public class DecodeBench {
    @Param({"F32", "BF16"})
    public String weights;

    @Param({"1024", "16384"})
    public int context;

    static final int PREFILL_CHUNK = 1024;

    CausalLM model;
    DecodeState state;
    final int[] id = {1};

    public static ObjectNode config() {
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("model_type", "gsa");
        c.put("vocab_size", 32000);
        c.put("hidden_size", 1024);
        c.put("num_hidden_layers", 12);
        c.put("num_heads", 4);
        c.put("num_slots", 64);
        c.put("intermediate_size", 2048);
        c.put("tie_word_embeddings", true);
        return c;
    }

    /** Bytes of weights read per decoded token: every matrix (the tied embedding once, as lm_head) and vector. */
    public static long bytesPerToken(CausalLM model) {
        long n = 0;
        for (Tensor t : model.params().values()) n += (long) t.size() * (t.isBf16() ? 2 : 4);
        return n;
    }

    @Setup(Level.Trial)
    public void setup() {
        CausalLM f32 = ModelLoader.create(config(), 42);
        state = f32.newState(1);
        SplittableRandom rng = new SplittableRandom(7);
        long t0 = System.nanoTime();
        for (int done = 0; done < context; done += PREFILL_CHUNK) {
            int[] ids = new int[Math.min(PREFILL_CHUNK, context - done)];
            for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(f32.config.vocabSize());
            f32.feed(ids, 1, ids.length, state);
        }
        double prefill = (System.nanoTime() - t0) / 1e9;
        model = ModelLoader.withWeights(f32, WeightFormat.valueOf(weights));
        long params = 0;
        for (Tensor t : model.params().values()) params += t.size();
        System.out.printf("%n[DecodeBench] %s: %.1fM parameters, %.1f MB read per token; prefilled %d tokens in %.1f s; state %d bytes%n",
                weights, params / 1e6, bytesPerToken(model) / 1e6, state.position(), prefill, state.bytes());
    }

    /** Tokens per benchmark call: amortises JMH's own per-call and per-iteration allocation in -prof gc's B/op. */
    static final int STEPS = 8;

    @Benchmark
    @OperationsPerInvocation(STEPS)
    public float step() {
        float sum = 0;
        for (int i = 0; i < STEPS; i++) {
            Tensor logits = model.step(id, state);
            sum += logits.f[id[0]];
            id[0] = (int) ((id[0] * 7919L + 13) % model.config.vocabSize());
        }
        return sum;
    }
}
