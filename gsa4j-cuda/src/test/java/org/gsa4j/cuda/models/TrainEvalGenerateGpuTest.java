package org.gsa4j.cuda.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.config.ModelSize;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.ops.Precision;
import org.gsa4j.data.TokenFile;
import org.gsa4j.infer.Generator;
import org.gsa4j.infer.Sampler;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.train.Checkpoints;
import org.gsa4j.train.LmData;
import org.gsa4j.train.LmEval;
import org.gsa4j.train.Mqar;
import org.gsa4j.train.MqarRun;
import org.gsa4j.train.TrainConfig;
import org.gsa4j.train.Trainer;
import org.gsa4j.train.Validator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code gsa4j train/eval/generate/mqar --device cuda} run, through the same library code the commands
 * call: the {@link Trainer} on the GPU engine ({@link CudaTrainEngine}) against the CPU engine (losses and
 * validation to a tolerance), GPU resume bit for bit, checkpoints continuing from the GPU on the CPU and back,
 * eval's streamed perplexity ({@link CudaTokenScorer}) against the CPU scorer (≤ 1e-5 relative), greedy
 * generation through {@link CudaDecoder} giving the CPU engine's tokens, and MQAR on the GPU engine. Every
 * comparison prints its figures; training is checked on every architecture, the rest on GSA. Needs a GPU (tag "gpu"; scripts/gpu-test.sh).
 */
@Tag("gpu")
class TrainEvalGenerateGpuTest {
    /** GPU vs CPU training: float32 sums in other orders, amplified a little by AdamW's division by √v. */
    private static final double TRAIN_TOL = 5e-3;
    private static final double EVAL_TOL = 1e-5;
    private static final int VOCAB = 97;
    private static CudaDevice device;

    @TempDir
    static Path tmp;

    static synchronized CudaDevice device() {
        Assumptions.assumeTrue(CudaDevice.available(), () -> "no GPU: " + CudaDevice.unavailableReason());
        if (device == null) device = CudaDevice.open(0);
        return device;
    }

    @AfterAll
    static void close() {
        if (device != null) device.close();
    }

    private static CausalLM model(long seed) {
        ObjectNode json = ModelRegistry.preset("gsa", new ModelSize(VOCAB, 64, 2, 4, 16, 128)).toJson();
        return ModelLoader.create(json, seed);
    }

    /** Learnable tokens: copies of a few random motifs with 5% noise. */
    private static TokenFile data(String name, int n) {
        SplittableRandom r = new SplittableRandom(7);
        int[][] motifs = new int[5][13];
        for (int[] m : motifs) for (int i = 0; i < m.length; i++) m[i] = r.nextInt(VOCAB);
        int[] t = new int[n];
        for (int i = 0; i < n; ) {
            int[] m = motifs[r.nextInt(motifs.length)];
            for (int j = 0; j < m.length && i < n; j++) t[i++] = r.nextInt(20) == 0 ? r.nextInt(VOCAB) : m[j];
        }
        Path f = tmp.resolve(name + ".bin");
        TokenFile.write(f, t, VOCAB);
        return TokenFile.open(f);
    }

    private static TrainConfig config(long steps) {
        return TrainConfig.builder().steps(steps).batchSize(4).seqLen(70).gradAccum(2).lr(3e-3).warmupSteps(2).clipGradNorm(1.0)
                .evalEvery(4).evalTokens(560).checkpointEvery(3).keepCheckpoints(3).seed(5).build();
    }

    /** A run's losses and validation losses, on the GPU when {@code precision} is given. */
    private record Run(double[] losses, List<Double> validation, Trainer.Result result) {}

    private static Run train(CausalLM model, TokenFile data, TrainConfig c, Path out, Precision precision, Checkpoints.Loaded resume, long stopAt) {
        List<Double> val = new ArrayList<>();
        Validator validator = LmData.validator(data, 4, c.seqLen(), c.evalTokens());
        try (Trainer t = new Trainer(model, c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), validator, out, null,
                new Trainer.Listener() {
                    @Override
                    public void onValidation(long step, Map<String, Double> metrics) {
                        val.add(metrics.get("val_loss"));
                    }
                })) {
            if (precision != null) t.on(CudaTrainEngine.on(device(), precision));
            if (resume != null) t.resume(resume);
            Trainer.Result r = stopAt > 0 ? t.run(stopAt) : t.run();
            return new Run(r.losses().stream().mapToDouble(Double::doubleValue).toArray(), val, r);
        }
    }

    private static void assertClose(String what, double[] expected, double[] actual, double tol) {
        assertEquals(expected.length, actual.length, what + ": number of values");
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]) / Math.abs(expected[i]);
            System.out.printf("  %s %d: CPU %.7f GPU %.7f rel %.2e%n", what, i + 1, expected[i], actual[i], err);
            assertTrue(err <= tol, String.format("%s %d: GPU %.7f vs CPU %.7f, rel err %.3e > %.0e", what, i + 1, actual[i], expected[i], err, tol));
        }
    }

    private static double[] arr(List<Double> l) {
        return l.stream().mapToDouble(Double::doubleValue).toArray();
    }

    @Test
    void trainingOnTheGpuFollowsTheCpu() {
        try (TokenFile data = data("follow", 6000)) {
            TrainConfig c = config(12);
            Run cpu = train(model(3), data, c, tmp.resolve("follow-cpu"), null, null, 0);
            Run gpu = train(model(3), data, c, tmp.resolve("follow-gpu"), Precision.F32, null, 0);
            System.out.println("[train] 12 updates (grad_accum 2, clip 1.0), GPU f32 vs CPU:");
            assertClose("loss", cpu.losses, gpu.losses, TRAIN_TOL);
            assertClose("val_loss", arr(cpu.validation), arr(gpu.validation), TRAIN_TOL);
            assertTrue(gpu.losses[11] < gpu.losses[0] - 0.5, "the loss falls on the GPU: " + Arrays.toString(gpu.losses));
            assertTrue(Files.isRegularFile(tmp.resolve("follow-gpu/metrics.jsonl")));
        }
    }

    /** Every architecture the GPU runs, through the same engine: 6 updates follow the CPU engine's. */
    @TestFactory
    List<DynamicTest> everyArchitectureTrainsOnTheGpu() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String arch : ModelRegistry.modelTypes()) {
            tests.add(DynamicTest.dynamicTest(arch, () -> {
                ObjectNode json = ModelRegistry.preset(arch, new ModelSize(VOCAB, 64, 2, 4, 16, 128)).toJson();
                try (TokenFile data = data("arch-" + arch, 6000)) {
                    TrainConfig c = config(6).toBuilder().checkpointEvery(0).build();
                    Run cpu = train(ModelLoader.create(json, 3), data, c, null, null, null, 0);
                    Run gpu = train(ModelLoader.create(json, 3), data, c, null, Precision.F32, null, 0);
                    System.out.println("[train " + arch + "] 6 updates, GPU f32 vs CPU:");
                    assertClose("loss", cpu.losses, gpu.losses, TRAIN_TOL);
                    assertClose("val_loss", arr(cpu.validation), arr(gpu.validation), TRAIN_TOL);
                }
            }));
        }
        return tests;
    }

    @Test
    void twoGpuRunsAreBitIdenticalAndAResumeContinuesExactly() {
        try (TokenFile data = data("resume", 6000)) {
            TrainConfig c = config(10);
            Run full = train(model(3), data, c, tmp.resolve("resume-full"), Precision.F32, null, 0);
            Run again = train(model(3), data, c, tmp.resolve("resume-again"), Precision.F32, null, 0);
            System.out.println("[resume] uninterrupted GPU losses " + Arrays.toString(full.losses));
            assertArrayEquals(full.losses, again.losses, 0.0, "the GPU kernels must be deterministic: the same run twice differs");
            Path out = tmp.resolve("resume-interrupted");
            train(model(3), data, c, out, Precision.F32, null, 5); // "killed" after update 5 (checkpoints at 3 and 5)
            Path latest = Checkpoints.latest(out.resolve("checkpoints"));
            assertEquals(5, Checkpoints.stepOf(latest));
            assertTrue(Files.readString(latest.resolve(Checkpoints.TRAINER_STATE), java.nio.charset.StandardCharsets.UTF_8).contains("cuda:"),
                    "the trainer state names the GPU");
            Run rest = train(model(99), data, c, out, Precision.F32, Checkpoints.load(latest), 0);
            System.out.println("[resume] resumed at 5 on the GPU: " + Arrays.toString(rest.losses));
            assertArrayEquals(Arrays.copyOfRange(full.losses, 5, 10), rest.losses, 0.0, "GPU resume = the uninterrupted GPU run, bit for bit");
            assertEquals(full.validation.get(full.validation.size() - 1), rest.validation.get(rest.validation.size() - 1), 0.0);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * GPU → CPU: the checkpoint holds exactly the GPU's weights and moments, and the CPU continues from it as the
     * uninterrupted GPU run does (to the training tolerance). CPU → GPU: the GPU's first update after the resume
     * has the CPU's loss (the same weights, one forward: 1e-5).
     */
    @Test
    void checkpointsContinueFromTheGpuOnTheCpuAndBack() throws IOException {
        try (TokenFile data = data("across", 6000)) {
            TrainConfig c = config(8);
            Run gpuFull = train(model(3), data, c, tmp.resolve("across-gpu-full"), Precision.F32, null, 0);
            Run cpuFull = train(model(3), data, c, tmp.resolve("across-cpu-full"), null, null, 0);

            Path fromGpu = tmp.resolve("across-gpu-then-cpu");
            CausalLM trained = model(3);
            try (Trainer t = new Trainer(trained, c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, fromGpu, null, null)) {
                t.on(CudaTrainEngine.on(device(), Precision.F32));
                t.run(5);
                Checkpoints.Loaded ck = Checkpoints.load(Checkpoints.latest(fromGpu.resolve("checkpoints")));
                assertEquals(5, ck.step());
                for (Map.Entry<String, Tensor> e : trained.params().entrySet()) {
                    assertArrayEquals(e.getValue().f, ck.model().params().get(e.getKey()).f, 0f, e.getKey() + ": the checkpoint holds the GPU's weights");
                }
                try (SafeTensors opt = SafeTensors.open(ck.dir().resolve(Checkpoints.OPTIMIZER))) {
                    Map<String, Tensor> live = t.optimizer().stateTensors(trained.params());
                    assertEquals(2 * trained.params().size(), live.size(), "every parameter's two moments came from the GPU");
                    for (Map.Entry<String, Tensor> e : live.entrySet()) assertArrayEquals(e.getValue().f, opt.f32(e.getKey()).f, 0f, e.getKey());
                }
            }
            Run cpuRest = train(model(99), data, c, fromGpu, null, Checkpoints.load(Checkpoints.latest(fromGpu.resolve("checkpoints"))), 0);
            System.out.println("[gpu -> cpu] updates 6-8 on the CPU after 5 on the GPU, against the uninterrupted GPU run:");
            assertClose("loss", Arrays.copyOfRange(gpuFull.losses, 5, 8), cpuRest.losses, TRAIN_TOL);

            Path fromCpu = tmp.resolve("across-cpu-then-gpu");
            train(model(3), data, c, fromCpu, null, null, 5);
            Run gpuRest = train(model(99), data, c, fromCpu, Precision.F32, Checkpoints.load(Checkpoints.latest(fromCpu.resolve("checkpoints"))), 0);
            System.out.println("[cpu -> gpu] updates 6-8 on the GPU after 5 on the CPU, against the uninterrupted CPU run:");
            assertClose("first loss after the resume", new double[] {cpuFull.losses[5]}, new double[] {gpuRest.losses[0]}, EVAL_TOL);
            assertClose("loss", Arrays.copyOfRange(cpuFull.losses, 5, 8), gpuRest.losses, TRAIN_TOL);
        }
    }

    /** bf16 mode through the same engine: it trains, and tracks the float32 GPU run's losses to a few percent. */
    @Test
    void bf16TrainingTracksFloat32() {
        try (TokenFile data = data("bf16", 6000)) {
            TrainConfig c = config(12);
            Run f32 = train(model(3), data, c, null, Precision.F32, null, 0);
            Run bf16 = train(model(3), data, c, tmp.resolve("bf16"), Precision.BF16, null, 0);
            System.out.println("[bf16] 12 updates, GPU bf16 vs GPU f32:");
            assertClose("loss", f32.losses, bf16.losses, 3e-2);
            assertTrue(bf16.losses[11] < bf16.losses[0] - 0.5, "the loss falls in bf16: " + Arrays.toString(bf16.losses));
        }
    }

    /**
     * eval's streamed scoring: a text of 2,500 tokens after an end-of-text start, in chunks of 256 and 1000 (and
     * the CPU's 1024), through the state; the NLL sums and so the perplexities agree to 1e-5.
     */
    @TestFactory
    List<DynamicTest> evalPerplexityMatchesTheCpu() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        List<Path> cases = new ArrayList<>(ReferenceModels.cases("gsa"));
        for (Path dir : cases) {
            tests.add(DynamicTest.dynamicTest(dir.getFileName().toString(), () -> {
                CausalLM cpu = ModelLoader.load(dir);
                int vocab = cpu.config.vocabSize();
                SplittableRandom r = new SplittableRandom(3);
                int[] text = new int[2500];
                for (int i = 0; i < text.length; i++) text[i] = r.nextInt(vocab);
                LmEval.Scorer reference = new LmEval.Scorer(cpu, 1024);
                reference.start(0);
                reference.score(text);
                double cpuPpl = Math.exp(reference.nll() / reference.count());
                try (CudaCausalLM gpu = CudaCausalLM.load(device(), cpu)) {
                    for (int chunk : new int[] {256, 1000}) {
                        try (CudaTokenScorer s = new CudaTokenScorer(gpu, chunk)) {
                            s.start(0);
                            // in two pieces, as eval reads a text in blocks
                            s.score(Arrays.copyOfRange(text, 0, 777));
                            s.score(Arrays.copyOfRange(text, 777, text.length));
                            assertEquals(reference.count(), s.count(), "tokens scored");
                            double ppl = Math.exp(s.nll() / s.count());
                            double err = Math.abs(ppl - cpuPpl) / cpuPpl;
                            System.out.printf("[eval %s] chunk %d: perplexity GPU %.7f CPU %.7f rel %.2e; state %,d bytes%n",
                                    dir.getFileName(), chunk, ppl, cpuPpl, err, s.stateBytes());
                            assertTrue(err <= EVAL_TOL, "perplexity rel err " + err);
                        }
                    }
                    // without a start token the first token only starts the state, as on the CPU
                    LmEval.Scorer plain = new LmEval.Scorer(cpu, 1024);
                    plain.score(text);
                    try (CudaTokenScorer s = new CudaTokenScorer(gpu, 300)) {
                        s.score(text);
                        assertEquals(plain.count(), s.count());
                        assertEquals(plain.nll(), s.nll(), EVAL_TOL * plain.nll());
                    }
                }
            }));
        }
        return tests;
    }

    /**
     * Greedy generation through the Generator on the GPU gives the CPU engine's tokens: a long prompt (sliced
     * into the Generator's prefill chunks) and a repetition penalty, on each reference model.
     */
    @TestFactory
    List<DynamicTest> greedyGenerationGivesTheCpuTokens() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : ReferenceModels.cases("gsa")) {
            tests.add(DynamicTest.dynamicTest(dir.getFileName().toString(), () -> {
                CausalLM cpu = ModelLoader.load(dir);
                int[] prompt;
                try (SafeTensors expected = SafeTensors.open(dir.resolve("expected.safetensors"))) {
                    long[] p = expected.i64("generate.prompt");
                    prompt = new int[p.length];
                    for (int i = 0; i < p.length; i++) prompt[i] = (int) p[i];
                }
                int[] longPrompt = new int[Generator.PREFILL_CHUNK + 300];
                for (int i = 0; i < longPrompt.length; i++) longPrompt[i] = prompt[i % prompt.length];
                try (CudaCausalLM gpu = CudaCausalLM.load(device(), cpu)) {
                    for (int[] p : new int[][] {prompt, longPrompt}) {
                        for (double penalty : new double[] {1.0, 1.3}) {
                            Generator.Options o = new Generator.Options(new int[0], penalty);
                            List<Integer> cpuTokens = new ArrayList<>(), gpuTokens = new ArrayList<>();
                            new Generator(cpu, o).generate(p, 24, Sampler.of(0, 0, 1.0, 1), id -> cpuTokens.add(id));
                            Generator.Stats s = new Generator(new CudaDecoder(gpu), o).generate(p, 24, Sampler.of(0, 0, 1.0, 1), id -> gpuTokens.add(id));
                            System.out.printf("[generate %s] prompt %d, penalty %.1f: %s%n", dir.getFileName(), p.length, penalty, gpuTokens);
                            assertEquals(cpuTokens, gpuTokens, dir.getFileName() + ": prompt " + p.length + ", penalty " + penalty);
                            assertEquals(24, s.newTokens());
                            assertTrue(s.stateBytes() > 0);
                        }
                    }
                }
            }));
        }
        return tests;
    }

    /** MQAR through the GPU engine: the losses follow the CPU's, and the score through the GPU equals the CPU's on the same weights. */
    @Test
    void mqarTrainsOnTheGpu() {
        Mqar.Spec spec = new Mqar.Spec(256, 64, 4, 0.01, true);
        MqarRun.Options o = new MqarRun.Options(spec, 2048, 256, 1, 30L, 64, 3e-3, 5, 0.1, 0, 0);
        ObjectNode mc = ModelRegistry.preset("gsa", new ModelSize(256, 64, 2, 2, 16, 0)).toJson();
        MqarRun cpuRun = MqarRun.prepare(o, mc), gpuRun = MqarRun.prepare(o, mc);
        Trainer.Result cpu;
        try (Trainer t = cpuRun.trainer(null, null)) {
            cpu = t.run();
        }
        try (Trainer t = gpuRun.trainer(null, null)) {
            t.on(CudaTrainEngine.on(device(), Precision.F32));
            Trainer.Result gpu = t.run();
            System.out.println("[mqar] 30 updates:");
            assertClose("loss", arr(cpu.losses()), arr(gpu.losses()), 5e-3);
            ObjectNode onGpu = gpuRun.result(gpu, 1, t.scoring());
            ObjectNode onCpu = gpuRun.result(gpu, 1); // the same (GPU-trained) weights, scored on the CPU
            System.out.printf("[mqar] test loss GPU %.7f CPU %.7f, accuracy GPU %.4f CPU %.4f%n", onGpu.get("test_loss").asDouble(),
                    onCpu.get("test_loss").asDouble(), onGpu.get("accuracy").asDouble(), onCpu.get("accuracy").asDouble());
            assertEquals(onCpu.get("test_loss").asDouble(), onGpu.get("test_loss").asDouble(), EVAL_TOL * onCpu.get("test_loss").asDouble());
            assertEquals(onCpu.get("accuracy").asDouble(), onGpu.get("accuracy").asDouble(), 2.0 / onCpu.get("labelled_positions").asDouble());
        }
    }
}
