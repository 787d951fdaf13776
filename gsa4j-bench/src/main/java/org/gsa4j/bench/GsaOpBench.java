package org.gsa4j.bench;

import org.gsa4j.bench.suites.OpSuite;
import org.gsa4j.ops.gsa.GatedSlotAttention;
import org.gsa4j.tensor.Tensor;
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

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The GSA operator, chunk form: forward, and forward + backward, at the shape
 * (B=1, H=4, K=V=128, M=64). Tokens/s = T / (seconds per op); the recurrent step is timed per token.
 * Run: {@code java -jar gsa4j-bench/target/gsa4j-benchmarks.jar GsaOpBench}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class GsaOpBench {
    @Param({"2048"})
    int seqLen;

    static final int H = OpSuite.H, K = OpSuite.K, V = OpSuite.V, M = OpSuite.M;

    Tensor q, k, v, s, g, dO;
    Tensor q1, k1, v1, s1, g1, hk, hv, o1;

    @Setup
    public void setup() {
        OpSuite.Inputs in = new OpSuite.Inputs(seqLen);
        q = in.q;
        k = in.k;
        v = in.v;
        s = in.s;
        g = in.g;
        dO = in.dO;
        SplittableRandom rng = new SplittableRandom(2);
        q1 = Tensor.randn(rng, 1, 1, H, K);
        k1 = Tensor.randn(rng, 1, 1, H, K);
        v1 = Tensor.randn(rng, 1, 1, H, V);
        g1 = Tensor.zeros(1, H, M);
        g1.fill(-0.05);
        s1 = Tensor.zeros(1, H, M);
        s1.fill(1 - Math.exp(-0.05));
        hk = Tensor.zeros(1, H, K, M);
        hv = Tensor.zeros(1, H, M, V);
        o1 = Tensor.zeros(1, H, V);
    }

    @Benchmark
    public Object forward() {
        return GatedSlotAttention.forward(q, k, v, s, g, 1.0, null, null).o();
    }

    @Benchmark
    public Object forwardBackward() {
        GatedSlotAttention.Result r = GatedSlotAttention.forward(q, k, v, s, g, 1.0, null, null);
        return GatedSlotAttention.backward(r, dO, null, null);
    }

    @Benchmark
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public Object recurrentStep() {
        GatedSlotAttention.step(q1, k1, v1, s1, g1, 1.0, hk, hv, o1);
        return o1;
    }
}
