package org.gsa4j.cuda.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.gsa4j.config.ModelSize;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.DeviceAllocator;
import org.gsa4j.cuda.ops.Precision;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.train.BatchSource;
import org.gsa4j.train.TrainConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * bf16 mode of the GPU model (docs/MATH.md#bf16-mode-on-the-gpu) against float32 mode on the same GPU (which
 * GsaModelGpuTest holds to the CPU engine), on every GSA reference model and on small random models:
 * <ul>
 *   <li>logits within {@value #LOGITS_TOL} relative (L2), the loss within {@value #LOSS_TOL}, every parameter
 *       gradient within {@value #GRAD_TOL} (bf16 keeps 8 significant bits: each stored activation is off by up to
 *       2⁻⁹ relative; a wrong path is off by O(1));</li>
 *   <li>AdamW updates in bf16 whose losses follow float32's within {@value #TRAIN_TOL} relative, and whose bf16 weight
 *       copies are the float32 masters rounded;</li>
 *   <li>decoding in bf16: prefill and single tokens give the logits of the whole sequence's forward, and of float32
 *       decoding, within {@value #LOGITS_TOL};</li>
 *   <li>no driver allocation after the first steps of a shape, in either precision.</li>
 * </ul>
 * Needs a GPU (tag "gpu"; scripts/gpu-test.sh).
 */
@Tag("gpu")
class CausalLmBf16GpuTest {
    private static final double LOGITS_TOL = 3e-2, LOSS_TOL = 5e-3, GRAD_TOL = 1e-1, TRAIN_TOL = 1e-2;
    private static CudaDevice device;

    static synchronized CudaDevice device() {
        Assumptions.assumeTrue(CudaDevice.available(), () -> "no GPU: " + CudaDevice.unavailableReason());
        if (device == null) device = CudaDevice.open(0);
        return device;
    }

    @AfterAll
    static void close() {
        if (device != null) device.close();
    }

    /**
     * A random GSA model of 2 layers, hidden 64, 4 heads, 12 slots, vocab {@code vocab}, with config fields changed:
     * {@code fields} are name, JSON value, name, JSON value, ...
     */
    static CausalLM randomModel(int vocab, long seed, String... fields) throws IOException {
        ObjectNode json = ModelRegistry.preset("gsa", new ModelSize(vocab, 64, 2, 4, 12, 96)).toJson();
        for (int i = 0; i < fields.length; i += 2) json.set(fields[i], new ObjectMapper().readTree(fields[i + 1]));
        return ModelLoader.create(json, seed);
    }

    static ModelGpuConformance.Inputs randomInputs(int vocab, int batch, int seqLen, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[] ids = new int[batch * seqLen];
        for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(vocab);
        return new ModelGpuConformance.Inputs(ids, batch, seqLen);
    }

    private static ModelGpuConformance.Inputs referenceInputs(Path dir, String name) throws IOException {
        try (SafeTensors expected = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            return ModelGpuConformance.Inputs.of(expected, name);
        }
    }

    @TestFactory
    List<DynamicTest> bf16LogitsLossAndGradientsFollowFloat32() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : ReferenceModels.cases("gsa")) {
            String name = dir.getFileName().toString();
            tests.add(DynamicTest.dynamicTest(name, () -> compare(name, ModelLoader.load(dir), referenceInputs(dir, "input_ids"))));
        }
        String[][] variants = {{"random-swish"}, {"random-gqa", "num_kv_heads", "2"}, {"random-short_conv", "use_short_conv", "true"},
                {"random-t2r", "feature_map", "\"t2r\""}, {"random-tied", "tie_word_embeddings", "true"}};
        for (String[] v : variants) {
            String[] fields = java.util.Arrays.copyOfRange(v, 1, v.length);
            tests.add(DynamicTest.dynamicTest(v[0], () -> compare(v[0], randomModel(97, 7, fields), randomInputs(97, 2, 70, 11))));
        }
        return tests;
    }

    private static void compare(String name, CausalLM cpu, ModelGpuConformance.Inputs in) {
        int[] labels = CausalLM.shiftedLabels(in.ids(), in.batch(), in.seqLen());
        try (CudaCausalLM f32 = CudaCausalLM.load(device(), cpu); CudaCausalLM bf16 = CudaCausalLM.load(device(), cpu, Precision.BF16)) {
            assertEquals(Precision.BF16, bf16.precision());
            Tensor logits32 = f32.logits(in.ids(), in.batch(), in.seqLen());
            Tensor logits16 = bf16.logits(in.ids(), in.batch(), in.seqLen());
            double loss32 = f32.forwardBackward(in.ids(), labels, in.batch(), in.seqLen());
            double loss16 = bf16.forwardBackward(in.ids(), labels, in.batch(), in.seqLen());
            Map<String, Tensor> grads32 = f32.params().downloadGradients(), grads16 = bf16.params().downloadGradients();

            List<String> failures = new ArrayList<>();
            double logitsErr = Tensor.relErr(logits16, logits32), lossErr = Math.abs(loss16 - loss32) / Math.abs(loss32);
            if (!(logitsErr <= LOGITS_TOL)) failures.add(String.format("logits rel err %.3e > %.0e", logitsErr, LOGITS_TOL));
            if (!(lossErr <= LOSS_TOL)) failures.add(String.format("loss %.6f vs f32 %.6f: rel err %.3e > %.0e", loss16, loss32, lossErr, LOSS_TOL));
            double worst = 0;
            String worstName = "";
            for (Map.Entry<String, Tensor> e : grads32.entrySet()) {
                double err = Tensor.relErr(grads16.get(e.getKey()), e.getValue());
                if (!(err <= worst)) {
                    worst = err;
                    worstName = e.getKey();
                }
                if (!(err <= GRAD_TOL)) failures.add(String.format("gradient of %s rel err %.3e > %.0e", e.getKey(), err, GRAD_TOL));
            }
            System.out.printf("[%s] GPU bf16 vs f32: logits %.2e, loss %.2e (%.6f vs %.6f), %d gradients, worst %.2e (%s)%n", name,
                    logitsErr, lossErr, loss16, loss32, grads32.size(), worst, worstName);
            assertEquals(grads32.size(), grads16.size(), name + ": a gradient per parameter");
            assertTrue(failures.isEmpty(), name + ": " + String.join("; ", failures));
        }
    }

    /**
     * Every architecture's mixers in bf16 against float32 on a small random model (GLA, RetNet, HGRN2, the
     * softmax-attention baselines, GSA with a softmax-attention layer): logits, loss and gradients as above, and
     * decoding (a prompt of 40 tokens, then 6 single tokens) against the bf16 forward of the whole sequence.
     */
    @TestFactory
    List<DynamicTest> everyArchitectureRunsInBf16() {
        List<DynamicTest> tests = new ArrayList<>();
        String[][] models = {{"gla"}, {"retnet"}, {"hgrn2"}, {"transformer"}, {"llama"},
                {"gsa", "attn", "{\"layers\": [1], \"num_heads\": 2, \"num_kv_heads\": 1}"}};
        for (String[] m : models) {
            String name = m[0] + (m.length > 1 ? "-hybrid" : "");
            tests.add(DynamicTest.dynamicTest(name, () -> {
                ObjectNode json = ModelRegistry.preset(m[0], new ModelSize(97, 64, 2, 4, 12, 96)).toJson();
                for (int i = 1; i < m.length; i += 2) json.set(m[i], new ObjectMapper().readTree(m[i + 1]));
                CausalLM cpu = ModelLoader.create(json, 7);
                compare(name, cpu, randomInputs(97, 2, 70, 11));
                ModelGpuConformance.Inputs prompt = randomInputs(97, 1, 40, 23);
                int steps = 6, vocab = 97;
                try (CudaCausalLM bf16 = CudaCausalLM.load(device(), cpu, Precision.BF16); CudaCausalLM.State state = bf16.newState(1)) {
                    List<Tensor> fed = new ArrayList<>();
                    List<Integer> sequence = new ArrayList<>();
                    for (int id : prompt.ids()) sequence.add(id);
                    Tensor last = bf16.feed(prompt.ids(), 1, prompt.seqLen(), state);
                    for (int step = 0; step <= steps; step++) {
                        fed.add(last);
                        if (step == steps) break;
                        int next = argmax(last.f);
                        sequence.add(next);
                        last = bf16.feed(new int[] {next}, 1, 1, state);
                    }
                    int[] all = sequence.stream().mapToInt(Integer::intValue).toArray();
                    Tensor whole = bf16.logits(all, 1, all.length);
                    double worst = 0;
                    for (int step = 0; step <= steps; step++) {
                        Tensor row = Tensor.zeros(1, vocab);
                        System.arraycopy(whole.f, (prompt.seqLen() - 1 + step) * vocab, row.f, 0, vocab);
                        worst = Math.max(worst, Tensor.relErr(fed.get(step), row));
                    }
                    System.out.printf("[%s] bf16 decoding vs the bf16 forward: worst step logits rel err %.2e%n", name, worst);
                    assertTrue(worst <= LOGITS_TOL, String.format("%s: bf16 decoding vs forward rel err %.3e > %.0e", name, worst, LOGITS_TOL));
                }
            }));
        }
        return tests;
    }

    /**
     * Eight AdamW updates on one batch of a random model in both precisions from the same weights: every loss within
     * {@value #TRAIN_TOL} of float32's, the loss falling, and each bf16 weight copy equal to its float32 master
     * rounded to bf16 after the updates (the optimizer refreshed it).
     */
    @TestFactory
    List<DynamicTest> bf16UpdatesTrackFloat32() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String[] v : new String[][] {{"swish"}, {"short_conv-gqa", "use_short_conv", "true", "num_kv_heads", "2"}}) {
            String[] fields = java.util.Arrays.copyOfRange(v, 1, v.length);
            tests.add(DynamicTest.dynamicTest(v[0], () -> {
                CausalLM cpu = randomModel(128, 5, fields);
                ModelGpuConformance.Inputs in = randomInputs(128, 4, 64, 13);
                BatchSource.Batch batch = new BatchSource.Batch(in.batch(), in.seqLen(), in.ids(),
                        CausalLM.shiftedLabels(in.ids(), in.batch(), in.seqLen()));
                TrainConfig tc = TrainConfig.builder().lr(3e-3).clipGradNorm(1.0).build();
                try (CudaCausalLM f32 = CudaCausalLM.load(device(), cpu); CudaCausalLM bf16 = CudaCausalLM.load(device(), cpu, Precision.BF16);
                     CudaTrainStep step32 = CudaTrainStep.of(f32, tc, cpu.params()); CudaTrainStep step16 = CudaTrainStep.of(bf16, tc, cpu.params())) {
                    double first = 0, last = 0;
                    for (int s = 0; s < 8; s++) {
                        CudaTrainStep.Update u32 = step32.update(f32, List.of(batch), tc.lr(), tc.clipGradNorm());
                        CudaTrainStep.Update u16 = step16.update(bf16, List.of(batch), tc.lr(), tc.clipGradNorm());
                        double err = Math.abs(u16.loss() - u32.loss()) / u32.loss();
                        System.out.printf("[%s] update %d: loss bf16 %.6f f32 %.6f (rel %.2e), grad norm bf16 %.5f f32 %.5f%n", v[0], s + 1,
                                u16.loss(), u32.loss(), err, u16.gradNorm(), u32.gradNorm());
                        assertTrue(err <= TRAIN_TOL, v[0] + ": update " + (s + 1) + " loss " + u16.loss() + " vs f32 " + u32.loss());
                        if (s == 0) first = u16.loss();
                        last = u16.loss();
                    }
                    assertTrue(last < first, v[0] + ": the bf16 loss did not fall over 8 updates: " + first + " -> " + last);
                    for (String name : bf16.params().names()) {
                        DeviceParams params = bf16.params();
                        Tensor master = device().call(() -> params.value(name).download()), copy = device().call(() -> params.copy(name).download());
                        for (int i = 0; i < master.f.length; i++) {
                            float rounded = roundToBf16(master.f[i]);
                            if (Float.compare(rounded, copy.f[i]) != 0) {
                                throw new AssertionError(v[0] + ": bf16 copy of " + name + "[" + i + "] is " + copy.f[i] + ", the master "
                                        + master.f[i] + " rounds to " + rounded);
                            }
                        }
                    }
                }
            }));
        }
        return tests;
    }

    /** float32 → bfloat16 (round to nearest even) → float32, as the GPU's rounding. */
    static float roundToBf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) return x;
        int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
        return Float.intBitsToFloat(rounded & 0xFFFF0000);
    }

    /**
     * Decoding in bf16 on every GSA reference model: the prompt's prefill, then one token at a time (the greedy
     * choice of float32 decoding, fed to both); each step's logits against float32 decoding's and against the
     * bf16 forward of the whole sequence at that position.
     */
    @TestFactory
    List<DynamicTest> bf16DecodingFollowsTheForwardAndFloat32() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : ReferenceModels.cases("gsa")) {
            String name = dir.getFileName().toString();
            tests.add(DynamicTest.dynamicTest(name, () -> {
                CausalLM cpu = ModelLoader.load(dir);
                ModelGpuConformance.Inputs prompt = referenceInputs(dir, "generate.prompt");
                int newTokens = 12, vocab = cpu.config.vocabSize();
                try (CudaCausalLM f32 = CudaCausalLM.load(device(), cpu); CudaCausalLM bf16 = CudaCausalLM.load(device(), cpu, Precision.BF16);
                     CudaCausalLM.State s32 = f32.newState(1); CudaCausalLM.State s16 = bf16.newState(1)) {
                    List<Integer> sequence = new ArrayList<>();
                    for (int id : prompt.ids()) sequence.add(id);
                    Tensor l32 = f32.feed(prompt.ids(), 1, prompt.seqLen(), s32);
                    Tensor l16 = bf16.feed(prompt.ids(), 1, prompt.seqLen(), s16);
                    List<Tensor> steps16 = new ArrayList<>();
                    double worstF32 = 0;
                    int agree = 0;
                    for (int step = 0; step <= newTokens; step++) {
                        double err = Tensor.relErr(l16, l32);
                        worstF32 = Math.max(worstF32, err);
                        assertTrue(err <= LOGITS_TOL, String.format("%s: step %d: bf16 logits vs f32 rel err %.3e > %.0e", name, step, err, LOGITS_TOL));
                        steps16.add(l16);
                        if (step == newTokens) break;
                        int next = argmax(l32.f), next16 = argmax(l16.f);
                        if (next == next16) agree++;
                        sequence.add(next);
                        l32 = f32.feed(new int[] {next}, 1, 1, s32);
                        l16 = bf16.feed(new int[] {next}, 1, 1, s16);
                    }
                    int[] all = sequence.stream().mapToInt(Integer::intValue).toArray();
                    Tensor whole = bf16.logits(all, 1, all.length);
                    double worstForward = 0;
                    for (int step = 0; step <= newTokens; step++) {
                        int row = prompt.seqLen() - 1 + step;
                        Tensor r = Tensor.zeros(1, vocab);
                        System.arraycopy(whole.f, row * vocab, r.f, 0, vocab);
                        double err = Tensor.relErr(steps16.get(step), r);
                        worstForward = Math.max(worstForward, err);
                        assertTrue(err <= LOGITS_TOL, String.format("%s: step %d: bf16 decoding vs the bf16 forward rel err %.3e > %.0e", name,
                                step, err, LOGITS_TOL));
                    }
                    System.out.printf("[%s] bf16 decoding: worst step logits vs f32 %.2e, vs bf16 forward %.2e; greedy choice agrees %d/%d%n",
                            name, worstF32, worstForward, agree, newTokens);
                }
            }));
        }
        return tests;
    }

    /** After two updates of one shape, further updates (and evaluation of that shape) take no memory from the driver. */
    @TestFactory
    List<DynamicTest> theSteadyStateAllocatesNothing() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Precision p : Precision.values()) {
            tests.add(DynamicTest.dynamicTest(p.name(), () -> {
                CausalLM cpu = randomModel(128, 3);
                ModelGpuConformance.Inputs in = randomInputs(128, 2, 100, 17);
                int[] labels = CausalLM.shiftedLabels(in.ids(), in.batch(), in.seqLen());
                BatchSource.Batch batch = new BatchSource.Batch(in.batch(), in.seqLen(), in.ids(), labels);
                TrainConfig tc = TrainConfig.builder().lr(1e-3).clipGradNorm(1.0).build();
                try (CudaCausalLM gpu = CudaCausalLM.load(device(), cpu, p); CudaTrainStep step = CudaTrainStep.of(gpu, tc, cpu.params())) {
                    for (int s = 0; s < 2; s++) {
                        step.update(gpu, List.of(batch), 1e-3, 1.0);
                        gpu.loss(in.ids(), labels, in.batch(), in.seqLen());
                    }
                    DeviceAllocator.Stats before = device().allocator().stats();
                    for (int s = 0; s < 3; s++) {
                        step.update(gpu, List.of(batch), 1e-3, 1.0);
                        gpu.loss(in.ids(), labels, in.batch(), in.seqLen());
                    }
                    DeviceAllocator.Stats after = device().allocator().stats();
                    CudaCausalLM.Memory m = gpu.memory();
                    System.out.printf("[%s] steady state: driver allocations %d -> %d, cache hits %d -> %d; %s%n", p, before.driverAllocations(),
                            after.driverAllocations(), before.cacheHits(), after.cacheHits(), m);
                    assertEquals(before.driverAllocations(), after.driverAllocations(), p + ": steps 3-5 allocated device memory from the driver");
                    assertTrue(m.activationBytes() > 0 && m.parameterBytes() > 0 && m.peakBytesInUse() >= m.bytesInUse(), m.toString());
                }
            }));
        }
        return tests;
    }

    /**
     * The 1.3B shape of the paper (hidden 2048, 24 layers, 4 heads, 64 slots, vocab 32000) takes one bf16 training
     * update at B × T = 8 × 2048 = 16K tokens within 90 % of the device's memory; prints the memory report.
     */
    @Test
    void theLargeShapeTrainsAt16kTokensInBf16() throws IOException {
        CudaDevice d = device();
        ObjectNode json = ModelRegistry.preset("gsa", new ModelSize(32000, 2048, 24, 4, 64, 5632)).toJson();
        json.put("feature_map", "swish");
        CausalLM cpu = ModelLoader.create(json, 1);
        ModelGpuConformance.Inputs in = randomInputs(32000, 8, 2048, 19);
        BatchSource.Batch batch = new BatchSource.Batch(in.batch(), in.seqLen(), in.ids(), CausalLM.shiftedLabels(in.ids(), in.batch(), in.seqLen()));
        TrainConfig tc = TrainConfig.builder().lr(1e-4).clipGradNorm(1.0).build();
        try (CudaCausalLM gpu = CudaCausalLM.load(d, cpu, Precision.BF16); CudaTrainStep step = CudaTrainStep.of(gpu, tc, cpu.params())) {
            cpu = null;
            long t0 = System.nanoTime();
            CudaTrainStep.Update u = step.update(gpu, List.of(batch), tc.lr(), tc.clipGradNorm());
            d.synchronize();
            double seconds = (System.nanoTime() - t0) / 1e9;
            CudaCausalLM.Memory m = gpu.memory();
            double gib = 1L << 30;
            System.out.printf("1.3B bf16, B=8 T=2048: loss %.4f, first update %.2f s; parameters %.1f GiB, activations (arena) %.1f GiB,"
                            + " allocator peak %.1f GiB, driver-reported use %.1f of %.1f GiB%n", u.loss(), seconds, m.parameterBytes() / gib,
                    m.activationBytes() / gib, m.peakBytesInUse() / gib, m.deviceUsedBytes() / gib, m.deviceTotalBytes() / gib);
            assertTrue(u.finite(), "1.3B update not finite: " + u);
            assertTrue(m.peakBytesInUse() <= 0.9 * m.deviceTotalBytes(), "peak " + m.peakBytesInUse() + " of " + m.deviceTotalBytes());
        }
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
