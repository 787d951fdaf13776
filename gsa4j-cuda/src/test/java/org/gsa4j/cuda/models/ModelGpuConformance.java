package org.gsa4j.cuda.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.config.ModelSize;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.ops.CrossEntropy;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.train.AdamW;
import org.gsa4j.train.BatchSource;
import org.gsa4j.train.TrainConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * A GPU model in float32 mode against the CPU engine, on every reference model case of one model_type (its weights
 * and its input ids): logits ≤ 1e-5 relative, the loss ≤ 1e-5 relative, every parameter gradient ≤ 1e-4 relative,
 * the greedy continuation identical with per-step logits ≤ 1e-5, and a GPU → CPU checkpoint round trip after
 * three training updates on the GPU that match the CPU trainer's; the same comparison of logits and gradients on
 * small random models with one config field changed at a time; the weights' copy to the GPU and back bit for bit.
 * Each failure message names the case, the tensor and the figure. One subclass per architecture
 * ({@link GsaModelGpuTest}, {@link GlaModelGpuTest}, ...). Needs a GPU (tag "gpu"; scripts/gpu-test.sh).
 */
@Tag("gpu")
abstract class ModelGpuConformance {
    /** The model_type of the reference cases under reference/models. */
    abstract String referenceType();

    /** The model_type of the small random models {@link #eachConfigFieldMatchesTheCpuEngine} builds from its preset. */
    abstract String presetType();

    /** {name} or {name, config field, JSON value}: the config fields to try one at a time on the preset. */
    abstract String[][] variants();

    private static final double LOGITS_TOL = 1e-5, LOSS_TOL = 1e-5, GRAD_TOL = 1e-4, STEP_TOL = 1e-5;
    private static CudaDevice device;

    @TempDir
    static Path tmp;

    static synchronized CudaDevice device() {
        Assumptions.assumeTrue(CudaDevice.available(), () -> "no GPU: " + CudaDevice.unavailableReason());
        if (device == null) device = CudaDevice.open(0);
        return device;
    }

    @AfterAll
    static synchronized void close() {
        if (device != null) device.close();
        device = null;
    }

    /** A case's input ids [B, T] as stored in expected.safetensors. */
    record Inputs(int[] ids, int batch, int seqLen) {
        static Inputs of(SafeTensors expected, String name) {
            long[] ids64 = expected.i64(name);
            int[] shape = expected.entry(name).shape();
            int[] ids = new int[ids64.length];
            for (int i = 0; i < ids.length; i++) ids[i] = (int) ids64[i];
            return new Inputs(ids, shape[0], shape[1]);
        }
    }

    private List<DynamicTest> perCase(CaseCheck check) throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : ReferenceModels.cases(referenceType())) {
            tests.add(DynamicTest.dynamicTest(dir.getFileName().toString(), () -> check.run(dir.getFileName().toString(), dir)));
        }
        return tests;
    }

    interface CaseCheck {
        void run(String name, Path dir) throws Exception;
    }

    @TestFactory
    List<DynamicTest> logitsLossAndGradientsMatchTheCpuEngine() throws IOException {
        return perCase((name, dir) -> {
            try (SafeTensors expected = SafeTensors.open(dir.resolve("expected.safetensors"))) {
                compareWithCpu(name, ModelLoader.load(dir), Inputs.of(expected, "input_ids"));
            }
        });
    }

    /**
     * The config fields one at a time on small random models, including those no reference case has: when a
     * reference case fails, these say which field's path is wrong.
     */
    @TestFactory
    List<DynamicTest> eachConfigFieldMatchesTheCpuEngine() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String[] v : variants()) {
            tests.add(DynamicTest.dynamicTest(v[0], () -> {
                ObjectNode json = ModelRegistry.preset(presetType(), new ModelSize(97, 64, 2, 4, 12, 96)).toJson();
                if (v.length > 1) {
                    boolean literal = v[2].matches("-?[0-9.]+|true|false") || v[2].startsWith("{");
                    json.set(v[1], new ObjectMapper().readTree(literal ? v[2] : "\"" + v[2] + "\""));
                }
                CausalLM cpu = ModelLoader.create(json, 7);
                java.util.SplittableRandom rng = new java.util.SplittableRandom(11);
                // the presets' constant vectors (norm weights of ones, zero biases and lower bounds) made generic, so
                // that a kernel reading the wrong element of one shows
                for (Map.Entry<String, Tensor> e : cpu.params().entrySet()) {
                    if (e.getValue().rank() == 1 || e.getKey().endsWith("lower_bounds")) {
                        float[] f = e.getValue().f;
                        for (int i = 0; i < f.length; i++) f[i] += (float) (0.3 * Tensor.gaussian(rng));
                    }
                }
                int batch = 2, seqLen = 70;
                int[] ids = new int[batch * seqLen];
                for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(97);
                compareWithCpu(v[0], cpu, new Inputs(ids, batch, seqLen));
            }));
        }
        return tests;
    }

    @TestFactory
    List<DynamicTest> parametersGoUpAndComeBackExactly() throws IOException {
        return perCase((name, dir) -> {
            CausalLM cpu = ModelLoader.load(dir), copy = ModelLoader.load(dir);
            copy.params().values().forEach(t -> java.util.Arrays.fill(t.f, Float.NaN));
            try (CudaCausalLM gpu = CudaCausalLM.load(device(), cpu)) {
                gpu.params().download(copy);
            }
            for (Map.Entry<String, Tensor> e : cpu.params().entrySet()) {
                assertTrue(java.util.Arrays.equals(e.getValue().f, copy.params().get(e.getKey()).f), name + ": " + e.getKey()
                        + " changed on its way to the GPU and back");
            }
        });
    }

    /** Logits, loss and every parameter gradient of one batch, GPU float32 against the CPU engine. */
    private static void compareWithCpu(String name, CausalLM cpu, Inputs in) {
        int[] labels = CausalLM.shiftedLabels(in.ids, in.batch, in.seqLen);
        Tape tape = Tape.recording();
        Map<String, Var> vars = cpu.bind(tape);
        Var logits = cpu.logits(tape, vars, in.ids, in.batch, in.seqLen, null);
        Var loss = CrossEntropy.apply(tape, logits, labels, CausalLM.IGNORE_INDEX);
        tape.backward(loss);

        try (CudaCausalLM gpu = CudaCausalLM.load(device(), cpu)) {
            Tensor gpuLogits = gpu.logits(in.ids, in.batch, in.seqLen);
            double gpuLoss = gpu.forwardBackward(in.ids, labels, in.batch, in.seqLen);
            Map<String, Tensor> grads = gpu.params().downloadGradients();

            List<String> failures = new ArrayList<>();
            double logitsErr = Tensor.relErr(gpuLogits, logits.value);
            double lossErr = Math.abs(gpuLoss - loss.value.get(0)) / Math.abs(loss.value.get(0));
            if (!(logitsErr <= LOGITS_TOL)) failures.add(String.format("logits rel err %.3e > %.0e", logitsErr, LOGITS_TOL));
            if (!(lossErr <= LOSS_TOL)) failures.add(String.format("loss %.7f vs CPU %.7f: rel err %.3e > %.0e", gpuLoss,
                    loss.value.get(0), lossErr, LOSS_TOL));
            double worst = 0;
            String worstName = "";
            for (Map.Entry<String, Var> e : vars.entrySet()) {
                double err = Tensor.relErr(grads.get(e.getKey()), e.getValue().grad());
                if (!(err <= worst)) {
                    worst = err;
                    worstName = e.getKey();
                }
                if (!(err <= GRAD_TOL)) failures.add(String.format("gradient of %s rel err %.3e > %.0e", e.getKey(), err, GRAD_TOL));
            }
            System.out.printf("[%s] GPU f32 vs CPU: logits %.2e, loss %.2e, %d gradients, worst %.2e (%s)%n", name, logitsErr,
                    lossErr, vars.size(), worst, worstName);
            assertEquals(vars.size(), grads.size(), name + ": a gradient per parameter");
            assertTrue(failures.isEmpty(), name + ": " + String.join("; ", failures));
        }
    }

    @TestFactory
    List<DynamicTest> greedyDecodingMatchesTheCpuEngine() throws IOException {
        return perCase((name, dir) -> {
            CausalLM cpu = ModelLoader.load(dir);
            Inputs prompt;
            int newTokens;
            try (SafeTensors expected = SafeTensors.open(dir.resolve("expected.safetensors"))) {
                prompt = Inputs.of(expected, "generate.prompt");
                newTokens = expected.entry("generate.tokens").shape()[1];
            }
            DecodeState cpuState = cpu.newState(1);
            try (CudaCausalLM gpu = CudaCausalLM.load(device(), cpu); CudaCausalLM.State gpuState = gpu.newState(1)) {
                Tensor cpuLogits = cpu.feed(prompt.ids, 1, prompt.seqLen, cpuState);
                Tensor gpuLogits = gpu.feed(prompt.ids, 1, prompt.seqLen, gpuState);
                List<Integer> cpuTokens = new ArrayList<>(), gpuTokens = new ArrayList<>();
                double worst = 0;
                for (int step = 0; step <= newTokens; step++) {
                    double err = Tensor.relErr(gpuLogits, cpuLogits);
                    worst = Math.max(worst, err);
                    assertTrue(err <= STEP_TOL, String.format("%s: decoding step %d (%s): logits rel err %.3e > %.0e", name, step,
                            step == 0 ? "the prompt's prefill" : "one token", err, STEP_TOL));
                    if (step == newTokens) break;
                    int cpuNext = argmax(cpuLogits), gpuNext = argmax(gpuLogits);
                    cpuTokens.add(cpuNext);
                    gpuTokens.add(gpuNext);
                    assertEquals(cpuTokens, gpuTokens, name + ": greedy tokens differ at step " + step);
                    cpuLogits = cpu.feed(new int[] {cpuNext}, 1, 1, cpuState).copy();
                    gpuLogits = gpu.feed(new int[] {gpuNext}, 1, 1, gpuState);
                }
                System.out.printf("[%s] GPU greedy decoding: %d tokens identical, worst step logits rel err %.2e%n", name, newTokens, worst);
            }
        });
    }

    /**
     * Evaluation in pieces: the losses of the two halves of every sequence, the second continuing the first's state,
     * averaged by their labelled rows, equal the loss of the whole sequences, to 1e-5.
     */
    @TestFactory
    List<DynamicTest> lossInPiecesFromAStateEqualsTheWhole() throws IOException {
        return perCase((name, dir) -> {
            CausalLM cpu = ModelLoader.load(dir);
            Inputs in;
            try (SafeTensors expected = SafeTensors.open(dir.resolve("expected.safetensors"))) {
                in = Inputs.of(expected, "input_ids");
            }
            int b = in.batch, len0 = in.seqLen / 2;
            int[] lens = {len0, in.seqLen - len0}, starts = {0, len0};
            Assumptions.assumeTrue(len0 >= 1, name + ": needs two tokens or more");
            int[] labels = CausalLM.shiftedLabels(in.ids, b, in.seqLen);
            int[][] ids = new int[2][], targets = new int[2][];
            for (int piece = 0; piece < 2; piece++) {
                ids[piece] = new int[b * lens[piece]];
                targets[piece] = new int[b * lens[piece]];
                for (int s = 0; s < b; s++) {
                    System.arraycopy(in.ids, s * in.seqLen + starts[piece], ids[piece], s * lens[piece], lens[piece]);
                    System.arraycopy(labels, s * in.seqLen + starts[piece], targets[piece], s * lens[piece], lens[piece]);
                }
            }
            try (CudaCausalLM gpu = CudaCausalLM.load(device(), cpu); CudaCausalLM.State state = gpu.newState(b)) {
                double whole = gpu.loss(in.ids, labels, b, in.seqLen);
                double first = gpu.loss(ids[0], targets[0], b, lens[0], state), second = gpu.loss(ids[1], targets[1], b, lens[1], state);
                int labelled0 = (int) java.util.Arrays.stream(targets[0]).filter(t -> t != CausalLM.IGNORE_INDEX).count();
                int labelled1 = (int) java.util.Arrays.stream(targets[1]).filter(t -> t != CausalLM.IGNORE_INDEX).count();
                double pieces = (first * labelled0 + second * labelled1) / (labelled0 + labelled1);
                double err = Math.abs(pieces - whole) / whole;
                System.out.printf("[%s] loss in two pieces from a state %.7f, whole %.7f: rel err %.2e%n", name, pieces, whole, err);
                assertTrue(err <= LOSS_TOL, name + ": loss in pieces " + pieces + " vs whole " + whole);
            }
        });
    }

    /**
     * Three updates on the GPU, the weights written into a CPU model, saved as a checkpoint and loaded again on
     * the CPU: its logits equal the GPU model's. The same three updates on the CPU give the same losses (to
     * 1e-4: AdamW divides by √v, so tiny gradient differences move some weights by up to 2·lr).
     */
    @TestFactory
    List<DynamicTest> trainedOnTheGpuContinuesOnTheCpu() throws IOException {
        return perCase((name, dir) -> {
            CausalLM cpu = ModelLoader.load(dir), reference = ModelLoader.load(dir);
            Inputs in;
            try (SafeTensors expected = SafeTensors.open(dir.resolve("expected.safetensors"))) {
                in = Inputs.of(expected, "input_ids");
            }
            BatchSource.Batch batch = new BatchSource.Batch(in.batch, in.seqLen, in.ids, CausalLM.shiftedLabels(in.ids, in.batch, in.seqLen));
            TrainConfig tc = TrainConfig.builder().lr(1e-3).clipGradNorm(1.0).build();
            double[] lrs = {1e-3, 8e-4, 5e-4};
            try (CudaCausalLM gpu = CudaCausalLM.load(device(), cpu); CudaTrainStep step = CudaTrainStep.of(gpu, tc, cpu.params())) {
                AdamW cpuAdamW = AdamW.of(tc, reference.params());
                for (int s = 0; s < lrs.length; s++) {
                    CudaTrainStep.Update u = step.update(gpu, List.of(batch), lrs[s], tc.clipGradNorm());
                    double[] cpuUpdate = cpuUpdate(reference, cpuAdamW, batch, lrs[s], tc.clipGradNorm());
                    System.out.printf("[%s] update %d: loss GPU %.7f CPU %.7f, grad norm GPU %.6f CPU %.6f%n", name, s + 1, u.loss(),
                            cpuUpdate[0], u.gradNorm(), cpuUpdate[1]);
                    assertTrue(Math.abs(u.loss() - cpuUpdate[0]) <= 1e-4 * Math.abs(cpuUpdate[0]),
                            name + ": update " + (s + 1) + " loss " + u.loss() + " vs CPU " + cpuUpdate[0]);
                    assertTrue(Math.abs(u.gradNorm() - cpuUpdate[1]) <= 1e-3 * cpuUpdate[1],
                            name + ": update " + (s + 1) + " gradient norm " + u.gradNorm() + " vs CPU " + cpuUpdate[1]);
                }
                assertEquals(lrs.length, step.stepCount());
                gpu.params().download(cpu);
                Path saved = tmp.resolve(name);
                ModelLoader.save(cpu, saved, SafeTensors.DType.F32);
                CausalLM again = ModelLoader.load(saved);
                Tape tape = Tape.inference();
                Tensor cpuLogits = again.logits(tape, again.bind(tape), in.ids, in.batch, in.seqLen, null).value;
                double err = Tensor.relErr(gpu.logits(in.ids, in.batch, in.seqLen), cpuLogits);
                System.out.printf("[%s] GPU-trained checkpoint on the CPU: logits rel err %.2e%n", name, err);
                assertTrue(err <= LOGITS_TOL, name + ": the GPU-trained checkpoint's CPU logits differ: rel err " + err);
            }
        });
    }

    /** The CPU trainer's update (org.gsa4j.train.Trainer, one micro-batch): {loss, gradient norm}. */
    private static double[] cpuUpdate(CausalLM model, AdamW adamw, BatchSource.Batch b, double lr, double clipGradNorm) {
        Tape tape = Tape.recording();
        Map<String, Var> vars = model.bind(tape);
        Var loss = CrossEntropy.apply(tape, model.logits(tape, vars, b.inputs(), b.batchSize(), b.seqLen(), null), b.targets(),
                CausalLM.IGNORE_INDEX);
        tape.backward(loss);
        Map<String, float[]> grads = new java.util.LinkedHashMap<>();
        double sumSq = 0;
        for (Map.Entry<String, Var> e : vars.entrySet()) {
            float[] g = e.getValue().grad().f;
            grads.put(e.getKey(), g);
            for (float x : g) sumSq += (double) x * x;
        }
        double norm = Math.sqrt(sumSq);
        double clip = clipGradNorm > 0 && norm > clipGradNorm ? clipGradNorm / (norm + 1e-6) : 1.0;
        adamw.step(model.params(), grads, lr, clip);
        return new double[] {loss.value.get(0), norm};
    }

    private static int argmax(Tensor logits) {
        int best = 0;
        for (int i = 1; i < logits.f.length; i++) if (logits.f[i] > logits.f[best]) best = i;
        return best;
    }
}
