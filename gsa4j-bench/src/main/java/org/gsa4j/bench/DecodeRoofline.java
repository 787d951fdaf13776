package org.gsa4j.bench;

import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelLoader.WeightFormat;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Batch-1 decoding against the bandwidth roofline, measured alternately in one process (a shared
 * machine's load moves by the second): each round runs the triad ({@link TriadBench}) and then
 * {@code steps} decoded tokens for each of F32 and BF16 weights at each context (1K and 16K by
 * default), and the report gives medians over rounds: ms/token, implied GB/s (weight bytes per
 * token ÷ time), and that as a fraction of the triad's GB/s from the same rounds. The DecodeBench
 * model (162M parameters); contexts prefilled once with F32 weights (chunk form), the states
 * copied for BF16, so all four decode from the state they would have.
 * Run: {@code java --add-modules jdk.incubator.vector -Xmx8g -cp gsa4j-bench/target/gsa4j-benchmarks.jar
 * org.gsa4j.bench.DecodeRoofline [rounds=20] [steps=8] [contexts=1024,16384]}.
 */
public final class DecodeRoofline {
    private DecodeRoofline() {}

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        String[] ctx = (args.length > 2 ? args[2] : "1024,16384").split(",");
        CausalLM f32 = ModelLoader.create(DecodeBench.config(), 42);
        CausalLM bf16 = ModelLoader.withWeights(f32, WeightFormat.BF16);
        CausalLM[] models = {f32, bf16};
        String[] names = {"F32", "BF16"};

        DecodeState[][] states = new DecodeState[ctx.length][2];
        DecodeState prefill = f32.newState(1);
        SplittableRandom rng = new SplittableRandom(7);
        long t0 = System.nanoTime();
        for (int c = 0; c < ctx.length; c++) {
            int target = Integer.parseInt(ctx[c]);
            while (prefill.position() < target) {
                int[] ids = new int[(int) Math.min(DecodeBench.PREFILL_CHUNK, target - prefill.position())];
                for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(f32.config.vocabSize());
                f32.feed(ids, 1, ids.length, prefill);
            }
            states[c][0] = prefill.copy();
            states[c][1] = prefill.copy();
            System.out.printf("prefilled %d tokens (%.0f s); state %,d bytes%n", prefill.position(), (System.nanoTime() - t0) / 1e9, prefill.bytes());
        }

        float[] a = new float[TriadBench.N], b = new float[TriadBench.N], cc = new float[TriadBench.N];
        List<Double> triad = new ArrayList<>();
        List<List<Double>> ms = new ArrayList<>();
        for (int i = 0; i < ctx.length * 2; i++) ms.add(new ArrayList<>());
        int[] id = {1};
        for (int r = 0; r < rounds + 2; r++) { // two warm-up rounds
            long s0 = System.nanoTime();
            for (int i = 0; i < 3; i++) TriadBench.run(a, b, cc, 3f);
            double tr = 3 * TriadBench.bytes(TriadBench.N) / (System.nanoTime() - s0);
            if (r >= 2) triad.add(tr);
            for (int c = 0; c < ctx.length; c++)
                for (int m = 0; m < 2; m++) {
                    long s1 = System.nanoTime();
                    for (int i = 0; i < steps; i++) {
                        models[m].step(id, states[c][m]);
                        id[0] = (int) ((id[0] * 7919L + 13) % f32.config.vocabSize());
                    }
                    if (r >= 2) ms.get(c * 2 + m).add((System.nanoTime() - s1) / 1e6 / steps);
                }
        }
        double tri = median(triad);
        System.out.printf("%nmachine load (1 min) %.1f; triad median %.1f GB/s over %d rounds%n",
                java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(), tri, rounds);
        System.out.printf("%-6s %8s %10s %9s %8s %10s%n", "format", "context", "ms/token", "GB/s", "% triad", "position");
        for (int c = 0; c < ctx.length; c++)
            for (int m = 0; m < 2; m++) {
                double t = median(ms.get(c * 2 + m));
                double gbs = DecodeBench.bytesPerToken(models[m]) / t / 1e6;
                System.out.printf("%-6s %8s %10.2f %9.1f %7.0f%% %10d%n", names[m], ctx[c], t, gbs, 100 * gbs / tri, states[c][m].position());
            }
        if (ctx.length > 1) {
            for (int m = 0; m < 2; m++) {
                double first = median(ms.get(m)), last = median(ms.get((ctx.length - 1) * 2 + m));
                System.out.printf("%s: time per token at %s vs %s of context: %+.1f%%%n", names[m], ctx[ctx.length - 1], ctx[0], 100 * (last / first - 1));
            }
        }
    }

    static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        Collections.sort(s);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
