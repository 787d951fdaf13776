package org.gsa4j.bench;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.gsa4j.tensor.Gemm;
import org.gsa4j.tensor.MatMul;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.bench.suites.Measure;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Matrix products at model shapes (T = 2048 tokens, d = 512, MLP/projection width 2048), reported
 * as ops/s. Each benchmark's state counts calls and wall time per iteration and prints GFLOP/s at
 * the end of every iteration ({@code [gflops] name: X GFLOP/s wall, Y per N CPU-seconds}), so the
 * ratio to the FMA peak of {@code gsa4j bench --suite ceilings} is visible; Y divides by the process CPU time
 * over the N threads used, which is the meaningful figure when other work shares the cores.
 * GFLOP/s = ops/s × FLOPS_PER_OP (listed below).
 *
 * <pre>
 * mvn -B -o -q package -pl gsa4j-bench -am -DskipTests
 * java --add-modules jdk.incubator.vector -jar gsa4j-bench/target/gsa4j-benchmarks.jar MatMulBench
 * </pre>
 *
 * <ul>
 *   <li>linearUp: x[2048×512]·Wᵀ, W[2048×512] — 2·2048·2048·512 = 4.29 GFLOP/op</li>
 *   <li>linearDown: h[2048×2048]·Wᵀ, W[512×2048] — 4.29 GFLOP/op</li>
 *   <li>backwardDx: dx[2048×512] += dy[2048×2048]·W[2048×512] — 4.29 GFLOP/op</li>
 *   <li>backwardDw: dW[2048×512] += dyᵀ[2048×2048]·x[2048×512] — 4.29 GFLOP/op</li>
 *   <li>chunkBlock: single-thread m=64, n=128, k=64 block of the chunk algorithm — 1.05 MFLOP/op</li>
 *   <li>tinyBlock: single-thread 16×16×16 — 8.2 kFLOP/op</li>
 * </ul>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class MatMulBench {
    static final int T = 2048, D = 512, H = 2048;

    /** Call counter and timer shared by the benchmarks of one state. */
    abstract static class Counted {
        long calls;
        long t0, cpu0;
        abstract double flopsPerOp();
        abstract String name();

        /** Threads the benchmark keeps busy (to normalise CPU time on a shared machine). */
        int threadsUsed() {
            return Parallel.threads();
        }

        @Setup(Level.Iteration)
        public void startIteration() {
            calls = 0;
            t0 = System.nanoTime();
            cpu0 = Measure.processCpuNanos();
        }

        @TearDown(Level.Iteration)
        public void endIteration() {
            double s = (System.nanoTime() - t0) * 1e-9;
            double cpu = (Measure.processCpuNanos() - cpu0) * 1e-9 / threadsUsed();
            if (calls > 0) {
                System.out.printf("%n[gflops] %s: %.1f GFLOP/s wall, %.1f per %d CPU-second(s)%n", name(),
                        flopsPerOp() * calls / s / 1e9, flopsPerOp() * calls / cpu / 1e9, threadsUsed());
            }
        }
    }

    @State(Scope.Thread)
    public static class Up extends Counted {
        Tensor x, w;
        double flopsPerOp() { return 2.0 * T * H * D; }
        String name() { return "linearUp"; }

        @Setup(Level.Trial)
        public void init() {
            SplittableRandom rng = new SplittableRandom(1);
            x = Tensor.randn(rng, 1.0, T, D);
            w = Tensor.randn(rng, 0.05, H, D);
        }
    }

    @State(Scope.Thread)
    public static class Down extends Counted {
        Tensor h, w;
        double flopsPerOp() { return 2.0 * T * H * D; }
        String name() { return "linearDown"; }

        @Setup(Level.Trial)
        public void init() {
            SplittableRandom rng = new SplittableRandom(2);
            h = Tensor.randn(rng, 1.0, T, H);
            w = Tensor.randn(rng, 0.05, D, H);
        }
    }

    /** Backward of linearUp: dy [T×H], W [H×D], x [T×D]. */
    @State(Scope.Thread)
    public static class Back extends Counted {
        float[] dy, w, x, dx, dw;
        double flopsPerOp() { return 2.0 * T * H * D; }
        String name() { return "backward"; }

        @Setup(Level.Trial)
        public void init() {
            SplittableRandom rng = new SplittableRandom(3);
            dy = Tensor.randn(rng, 1.0, T, H).f;
            w = Tensor.randn(rng, 0.05, H, D).f;
            x = Tensor.randn(rng, 1.0, T, D).f;
            dx = new float[T * D];
            dw = new float[H * D];
        }
    }

    @State(Scope.Thread)
    public static class Chunk extends Counted {
        float[] a, b, c;
        int m, n, k;
        double flopsPerOp() { return 2.0 * m * n * k; }
        String name() { return "block " + m + "x" + n + "x" + k; }
        @Override
        int threadsUsed() { return 1; }

        void init(int m, int n, int k) {
            this.m = m;
            this.n = n;
            this.k = k;
            SplittableRandom rng = new SplittableRandom(4);
            a = Tensor.randn(rng, 1.0, m, k).f;
            b = Tensor.randn(rng, 1.0, k, n).f;
            c = new float[m * n];
        }
    }

    @State(Scope.Thread)
    public static class ChunkBlock extends Chunk {
        @Setup(Level.Trial)
        public void init() { init(64, 128, 64); }
    }

    @State(Scope.Thread)
    public static class TinyBlock extends Chunk {
        @Setup(Level.Trial)
        public void init() { init(16, 16, 16); }
    }

    @Benchmark
    public Tensor linearUp(Up s) {
        s.calls++;
        return MatMul.linear(s.x, s.w);
    }

    @Benchmark
    public Tensor linearDown(Down s) {
        s.calls++;
        return MatMul.linear(s.h, s.w);
    }

    /** Separate states so that the per-iteration GFLOP/s lines name their product. */
    @State(Scope.Thread)
    public static class BackDx extends Back {
        @Override
        String name() { return "backwardDx"; }
    }

    @State(Scope.Thread)
    public static class BackDw extends Back {
        @Override
        String name() { return "backwardDw"; }
    }

    @Benchmark
    public float[] backwardDx(BackDx s) {
        s.calls++;
        Gemm.sgemmParallel(false, false, T, D, H, 1f, s.dy, 0, H, s.w, 0, D, 0f, s.dx, 0, D);
        return s.dx;
    }

    @Benchmark
    public float[] backwardDw(BackDw s) {
        s.calls++;
        Gemm.sgemmParallel(true, false, H, D, T, 1f, s.dy, 0, H, s.x, 0, D, 0f, s.dw, 0, D);
        return s.dw;
    }

    @Benchmark
    public float[] chunkBlock(ChunkBlock s) {
        s.calls++;
        Gemm.sgemm(false, false, s.m, s.n, s.k, 1f, s.a, 0, s.k, s.b, 0, s.n, 0f, s.c, 0, s.n);
        return s.c;
    }

    @Benchmark
    public float[] tinyBlock(TinyBlock s) {
        s.calls++;
        Gemm.sgemm(false, false, s.m, s.n, s.k, 1f, s.a, 0, s.k, s.b, 0, s.n, 0f, s.c, 0, s.n);
        return s.c;
    }
}
