package org.gsa4j.cuda.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.gsa4j.cuda.CublasLt;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaEvent;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.DeviceBuffer;
import org.gsa4j.cuda.ops.CudaGsa;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;
import org.gsa4j.tensor.Tensor;

/**
 * The GSA operator on one GPU, bfloat16: forward and forward+backward at the benchmark shapes, the
 * decoding step at batch 1 and 64, and the device's ceilings (device-to-device copy bandwidth), each
 * the median of CUDA-event timings after warm-up. Writes JSON; docs/GPU.md is rendered from it and the
 * peer's JSON by scripts/gpu-report.py.
 *
 * <pre>java ... org.gsa4j.cuda.bench.GpuOpBench OUT.json [--reps N] [--quick]</pre>
 */
public final class GpuOpBench {
    /** Chunk-form FLOPs per head-token, as the CPU bench counts them (docs/BENCHMARKS.md). */
    static double forwardFlopsPerHeadToken(int k, int v, int m) {
        return 4.0 * k * m + 4.0 * m * v + (double) (k + 2 * m + v) * 65;
    }

    record Shape(int B, int T, int H, int K, int V, int M) {
        long tokens() {
            return (long) B * T;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "B=%d T=%d H=%d K=V=%d M=%d", B, T, H, K, M);
        }
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args.length > 0 ? args[0] : "gpu-op.json");
        int reps = 20;
        boolean quick = false, profile = false;
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--reps")) reps = Integer.parseInt(args[++i]);
            if (args[i].equals("--quick")) quick = true;
            if (args[i].equals("--profile")) profile = true;
        }
        if (profile) {
            profileOnce(new Shape(8, 2048, 16, 128, 128, 64));
            return;
        }
        List<Shape> shapes = quick
                ? List.of(new Shape(2, 1024, 4, 128, 128, 64))
                : List.of(new Shape(8, 2048, 16, 128, 128, 64), new Shape(8, 2048, 4, 512, 512, 64),
                          new Shape(2, 8192, 16, 128, 128, 64), new Shape(2, 8192, 4, 512, 512, 64),
                          new Shape(1, 32768, 16, 128, 128, 64), new Shape(1, 32768, 4, 512, 512, 64));
        int finalReps = reps;
        try (CudaDevice device = CudaDevice.open(0)) {
            ObjectNode report = device.call(() -> run(device, shapes, finalReps));
            ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            Files.writeString(out, json.writeValueAsString(report));
            System.out.println("wrote " + out);
        }
    }

    static ObjectNode run(CudaDevice device, List<Shape> shapes, int reps) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode report = json.createObjectNode();
        report.put("device", device.name());
        report.put("compute_capability", device.computeCapability().toString());
        report.put("multiprocessors", device.multiprocessorCount());
        report.put("driver_version", device.driverVersion());
        report.put("reps", reps);
        CudaStream stream = device.stream();
        double copy = copyBandwidth(device, stream, reps);
        report.put("copy_bandwidth_gbs", copy);
        double matmul = bf16MatmulRate(device, stream, reps);
        report.put("bf16_matmul_tflops", matmul);
        System.out.printf(Locale.ROOT, "device %s (sm %s, %d SMs): copy %.0f GB/s (read + write), bf16 matmul %.0f TFLOP/s%n",
                device.name(), device.computeCapability(), device.multiprocessorCount(), copy, matmul);
        CudaGsa gsa = new CudaGsa(device, Precision.BF16);
        ArrayNode ops = report.putArray("op");
        for (Shape s : shapes) ops.add(opRow(json, device, gsa, s, stream, reps));
        ArrayNode steps = report.putArray("step");
        for (int B : new int[] {1, 64}) {
            for (int[] head : new int[][] {{16, 128}, {4, 512}}) steps.add(stepRow(json, device, gsa, B, head[0], head[1], 64, stream, reps));
        }
        return report;
    }

    /**
     * One untimed forward+backward, then one more, for a profiler: under Nsight Compute, skip the kernels of
     * the module load and the first pass ({@code --launch-skip 17 --launch-count 16}).
     */
    static void profileOnce(Shape s) {
        try (CudaDevice device = CudaDevice.open(0)) {
            device.run(() -> {
                CudaStream stream = device.stream();
                CudaGsa gsa = new CudaGsa(device, Precision.BF16);
                SplittableRandom rng = new SplittableRandom(1);
                int B = s.B(), T = s.T(), H = s.H(), K = s.K(), V = s.V(), M = s.M();
                Precision p = Precision.BF16;
                try (DeviceTensor q = random(device, rng, p, 1, B, T, H, K); DeviceTensor k = random(device, rng, p, 1, B, T, H, K);
                     DeviceTensor v = random(device, rng, p, 1, B, T, H, V); DeviceTensor g = gate(device, rng, B, T, H, M);
                     DeviceTensor sw = DeviceTensor.allocate(device, p, B, T, H, M); DeviceTensor dO = random(device, rng, p, 1, B, T, H, V);
                     DeviceTensor o = DeviceTensor.allocate(device, p, B, T, H, V); DeviceTensor dq = DeviceTensor.allocate(device, p, B, T, H, K);
                     DeviceTensor dk = DeviceTensor.allocate(device, p, B, T, H, K); DeviceTensor dv = DeviceTensor.allocate(device, p, B, T, H, V);
                     DeviceTensor ds = DeviceTensor.allocate(device, p, B, T, H, M); DeviceTensor dg = DeviceTensor.allocate(device, Precision.F32, B, T, H, M)) {
                    oneMinusExp(device, g, sw);
                    for (int i = 0; i < 2; i++) {
                        try (CudaGsa.Saved saved = gsa.forward(q, k, v, sw, g, 0.1f, null, null, o, null, null, stream)) {
                            gsa.backward(q, k, v, sw, g, 0.1f, saved, dO, null, null, dq, dk, dv, ds, dg, null, null, stream);
                        }
                        stream.synchronize();
                    }
                }
            });
        }
    }

    /** Device-to-device copy of 2 GiB, bytes read + written per second (GB/s), median. */
    static double copyBandwidth(CudaDevice device, CudaStream stream, int reps) {
        long bytes = 2L << 30;
        try (DeviceBuffer a = device.allocate(bytes); DeviceBuffer b = device.allocate(bytes)) {
            a.zero();
            double[] ms = time(stream, reps, () -> b.copyFromAsync(a, 0, 0, bytes, stream));
            return 2.0 * bytes / (median(ms) * 1e-3) / 1e9;
        }
    }

    /** cuBLASLt bf16 × bf16 → bf16 (float32 accumulation), 8192³ on random data, TFLOP/s, median. */
    static double bf16MatmulRate(CudaDevice device, CudaStream stream, int reps) {
        int n = 8192;
        SplittableRandom rng = new SplittableRandom(8192);
        try (CublasLt lt = new CublasLt(device);
             DeviceTensor a = random(device, rng, Precision.BF16, 1, n, n);
             DeviceTensor b = random(device, rng, Precision.BF16, 1, n, n);
             DeviceTensor c = DeviceTensor.allocate(device, Precision.BF16, n, n)) {
            double[] ms = time(stream, reps, () -> lt.gemm(CublasLt.Precision.BF16, false, false, n, n, n, 1f,
                    a.buffer(), n, b.buffer(), n, 0f, c.buffer(), n, stream));
            return 2.0 * n * n * (double) n / (median(ms) * 1e-3) / 1e12;
        }
    }

    static ObjectNode opRow(ObjectMapper json, CudaDevice device, CudaGsa gsa, Shape s, CudaStream stream, int reps) {
        SplittableRandom rng = new SplittableRandom(s.hashCode());
        int B = s.B(), T = s.T(), H = s.H(), K = s.K(), V = s.V(), M = s.M();
        float scale = (float) (1 / Math.sqrt(K));
        Precision p = Precision.BF16;
        try (DeviceTensor q = random(device, rng, p, 1, B, T, H, K);
             DeviceTensor k = random(device, rng, p, 1, B, T, H, K);
             DeviceTensor v = random(device, rng, p, 1, B, T, H, V);
             DeviceTensor g = gate(device, rng, B, T, H, M);
             DeviceTensor sw = DeviceTensor.allocate(device, p, B, T, H, M);
             DeviceTensor dO = random(device, rng, p, 1, B, T, H, V);
             DeviceTensor o = DeviceTensor.allocate(device, p, B, T, H, V);
             DeviceTensor dq = DeviceTensor.allocate(device, p, B, T, H, K);
             DeviceTensor dk = DeviceTensor.allocate(device, p, B, T, H, K);
             DeviceTensor dv = DeviceTensor.allocate(device, p, B, T, H, V);
             DeviceTensor ds = DeviceTensor.allocate(device, p, B, T, H, M);
             DeviceTensor dg = DeviceTensor.allocate(device, Precision.F32, B, T, H, M)) {
            oneMinusExp(device, g, sw);
            Runnable forward = () -> gsa.forward(q, k, v, sw, g, scale, null, null, o, null, null, stream).close();
            Runnable both = () -> {
                try (CudaGsa.Saved saved = gsa.forward(q, k, v, sw, g, scale, null, null, o, null, null, stream)) {
                    gsa.backward(q, k, v, sw, g, scale, saved, dO, null, null, dq, dk, dv, ds, dg, null, null, stream);
                }
            };
            double fwd = median(time(stream, reps, forward));
            double fwdBwd = median(time(stream, reps, both));
            double flops = forwardFlopsPerHeadToken(K, V, M) * H * s.tokens();
            ObjectNode row = json.createObjectNode();
            row.put("shape", s.toString());
            row.put("B", B).put("T", T).put("H", H).put("K", K).put("V", V).put("M", M);
            row.put("forward_ms", fwd).put("forward_backward_ms", fwdBwd);
            row.put("forward_tokens_per_s", s.tokens() / (fwd * 1e-3));
            row.put("forward_backward_tokens_per_s", s.tokens() / (fwdBwd * 1e-3));
            row.put("forward_tflops", flops / (fwd * 1e-3) / 1e12);
            row.put("forward_backward_tflops", 3 * flops / (fwdBwd * 1e-3) / 1e12);
            // compulsory bytes: inputs once, outputs once (bf16; g and dg float32)
            double in = H * s.tokens() * (2.0 * (2 * K + V + M) + 4.0 * M);
            row.put("forward_min_bytes", in + H * s.tokens() * 2.0 * V);
            row.put("forward_backward_min_bytes", 2 * in + H * s.tokens() * (2.0 * V + 2.0 * (2 * K + V + M) + 4.0 * M));
            System.out.printf(Locale.ROOT, "op %-32s forward %8.3f ms (%6.2f M tok/s)   forward+backward %8.3f ms (%6.2f M tok/s)%n",
                    s, fwd, s.tokens() / fwd / 1e3, fwdBwd, s.tokens() / fwdBwd / 1e3);
            return row;
        }
    }

    static ObjectNode stepRow(ObjectMapper json, CudaDevice device, CudaGsa gsa, int B, int H, int K, int M, CudaStream stream, int reps) {
        SplittableRandom rng = new SplittableRandom(B * 31L + H);
        Precision p = Precision.BF16;
        try (DeviceTensor q = random(device, rng, p, 1, B, H, K);
             DeviceTensor k = random(device, rng, p, 1, B, H, K);
             DeviceTensor v = random(device, rng, p, 1, B, H, K);
             DeviceTensor g = gate(device, rng, B, H, M);
             DeviceTensor sw = DeviceTensor.allocate(device, p, B, H, M);
             DeviceTensor hk = DeviceTensor.zeros(device, Precision.F32, B, H, K, M);
             DeviceTensor hv = DeviceTensor.zeros(device, Precision.F32, B, H, M, K);
             DeviceTensor o = DeviceTensor.allocate(device, p, B, H, K)) {
            oneMinusExp(device, g, sw);
            int inner = 100;
            double[] ms = time(stream, reps, () -> {
                for (int i = 0; i < inner; i++) gsa.step(q, k, v, sw, g, (float) (1 / Math.sqrt(K)), hk, hv, o, stream);
            });
            double us = median(ms) * 1e3 / inner;
            double stateBytes = 4.0 * B * H * 2 * K * M;
            ObjectNode row = json.createObjectNode();
            row.put("B", B).put("H", H).put("K", K).put("V", K).put("M", M);
            row.put("step_us", us);
            row.put("state_bytes", stateBytes);
            System.out.printf(Locale.ROOT, "step B=%-3d H=%-2d K=V=%-3d M=%d   %8.2f us/step (state %.1f MiB, read+written)%n",
                    B, H, K, M, us, stateBytes / (1 << 20));
            return row;
        }
    }

    /** Milliseconds of each of {@code reps} runs after three untimed ones. */
    static double[] time(CudaStream stream, int reps, Runnable work) {
        for (int i = 0; i < 3; i++) work.run();
        double[] ms = new double[reps];
        try (CudaEvent start = stream.device().createEvent(); CudaEvent end = stream.device().createEvent()) {
            for (int i = 0; i < reps; i++) {
                start.record(stream);
                work.run();
                end.record(stream);
                end.synchronize();
                ms[i] = end.elapsedMillis(start);
            }
        }
        return ms;
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static DeviceTensor random(CudaDevice device, SplittableRandom rng, Precision p, double std, int... shape) {
        Tensor t = Tensor.zeros(shape);
        for (int i = 0; i < t.f.length; i++) t.f[i] = (float) (std * Tensor.gaussian(rng));
        return DeviceTensor.upload(device, t, p);
    }

    /** GSA's gate distribution: g = logsigmoid(N(0,1))/8, float32. */
    static DeviceTensor gate(CudaDevice device, SplittableRandom rng, int... shape) {
        Tensor t = Tensor.zeros(shape);
        for (int i = 0; i < t.f.length; i++) {
            double x = Tensor.gaussian(rng);
            t.f[i] = (float) (-(x < 0 ? -x + Math.log1p(Math.exp(x)) : Math.log1p(Math.exp(-x))) / 8);
        }
        return DeviceTensor.upload(device, t, Precision.F32);
    }

    /** s = 1 − e^{g}, computed on the host from the device copy of g. */
    static void oneMinusExp(CudaDevice device, DeviceTensor g, DeviceTensor s) {
        Tensor gh = g.download();
        Tensor sh = Tensor.zeros(gh.shape);
        for (int i = 0; i < gh.f.length; i++) sh.f[i] = (float) -Math.expm1(gh.f[i]);
        if (s.precision() == Precision.BF16) s.buffer().copyFromBf16(sh.f);
        else s.buffer().copyFrom(sh.f);
    }

    private GpuOpBench() {}
}
