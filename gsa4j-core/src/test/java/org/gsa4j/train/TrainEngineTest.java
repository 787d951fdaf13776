package org.gsa4j.train;

import org.gsa4j.Gsa4jException;
import org.gsa4j.data.TokenFile;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The trainer's engine protocol, as a GPU engine uses it, with an engine that keeps its own copy of the
 * weights and moments (like a GPU's memory) and computes with the CPU engine on that copy: the trainer must
 * validate through the engine, bring its state to the CPU model before each checkpoint and at the end, hand
 * a resumed checkpoint to it, and stop on a non-finite update. Then a run on it equals a CPU run bit for bit,
 * and a checkpoint of either continues on the other exactly.
 */
class TrainEngineTest {
    @TempDir
    Path dir;

    /** The CPU engine on a private copy of the model and optimizer; counts the copies between the two. */
    static final class RemoteEngine implements TrainEngine {
        final CausalLM host, copy;
        final AdamW hostOptimizer, optimizer;
        final CpuTrainEngine inner;
        int toHost, fromHost;
        boolean closed;

        RemoteEngine(CausalLM host, TrainConfig config, AdamW hostOptimizer) {
            this.host = host;
            this.hostOptimizer = hostOptimizer;
            this.copy = ModelLoader.create(host.config, 12345); // other weights until fromHost
            this.optimizer = AdamW.of(config, copy.params());
            this.inner = new CpuTrainEngine(copy, config, optimizer, copy.params().keySet());
            fromHost();
            fromHost = 0;
        }

        @Override
        public Update update(List<BatchSource.Batch> microBatches, double lr, Ranks ranks) {
            return inner.update(microBatches, lr, ranks);
        }

        @Override
        public ScoringModel scoring() {
            return ScoringModel.of(copy);
        }

        @Override
        public void toHost() {
            copyWeights(copy, host);
            hostOptimizer.restore(optimizer.stateTensors(copy.params()), optimizer.stepCount(), host.params());
            toHost++;
        }

        @Override
        public void fromHost() {
            copyWeights(host, copy);
            optimizer.restore(hostOptimizer.stateTensors(host.params()), hostOptimizer.stepCount(), copy.params());
            fromHost++;
        }

        @Override
        public String device() {
            return "remote";
        }

        @Override
        public void close() {
            closed = true;
        }

        private static void copyWeights(CausalLM from, CausalLM to) {
            for (Map.Entry<String, Tensor> e : from.params().entrySet()) {
                float[] src = e.getValue().f;
                System.arraycopy(src, 0, to.params().get(e.getKey()).f, 0, src.length);
            }
        }
    }

    private static double[] arr(List<Double> l) {
        return l.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private Trainer trainer(TokenFile data, TrainConfig c, long seed, Path out, List<Double> validations) {
        Validator val = LmData.validator(data, 2, c.seqLen(), c.evalTokens());
        return new Trainer(TinyRuns.gsa(seed), c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), val, out, null,
                new Trainer.Listener() {
                    @Override
                    public void onValidation(long step, Map<String, Double> metrics) {
                        validations.add(metrics.get("val_loss"));
                    }
                });
    }

    @Test
    void aRunOnAnotherEngineEqualsTheCpuRunBitForBit() throws Exception {
        try (TokenFile data = TinyRuns.data(dir, 4000)) {
            // validation at 2, 4, 6 between checkpoints at 3 and 6: the CPU model is stale there
            TrainConfig c = TinyRuns.config(6).toBuilder().gradAccum(2).clipGradNorm(0.5).evalEvery(2).build();
            List<Double> cpuVal = new ArrayList<>(), remoteVal = new ArrayList<>();
            Trainer cpu = trainer(data, c, 3, dir.resolve("cpu"), cpuVal);
            assertEquals("cpu", cpu.device());
            double[] expected = arr(cpu.run().losses());

            Trainer t = trainer(data, c, 3, dir.resolve("remote"), remoteVal);
            RemoteEngine[] engine = new RemoteEngine[1];
            t.on((model, config, optimizer) -> engine[0] = new RemoteEngine(model, config, optimizer));
            assertEquals("remote", t.device());
            Trainer.Result r = t.run();
            assertArrayEquals(expected, arr(r.losses()), 0.0);
            assertEquals(cpuVal, remoteVal, "validation runs through the engine's model, not the stale CPU one");
            assertEquals(2, engine[0].toHost, "once per checkpoint (3, 6), not again at the end of the run");
            assertEquals(0, engine[0].fromHost);
            for (String file : List.of("model.safetensors", "optimizer.safetensors")) {
                assertArrayEquals(Files.readAllBytes(dir.resolve("cpu/checkpoints/step-00000006").resolve(file)),
                        Files.readAllBytes(dir.resolve("remote/checkpoints/step-00000006").resolve(file)), file);
            }
            assertTrue(Files.readString(dir.resolve("remote/checkpoints/step-00000006/trainer_state.json")).contains("\"device\" : \"remote\""));
            t.close();
            assertTrue(engine[0].closed);
        }
    }

    @Test
    void checkpointsContinueExactlyOnTheOtherEngineBothWays() throws Exception {
        try (TokenFile data = TinyRuns.data(dir, 4000)) {
            TrainConfig c = TinyRuns.config(8);
            double[] expected = arr(trainer(data, c, 3, dir.resolve("full"), new ArrayList<>()).run().losses());
            for (boolean cpuFirst : new boolean[] {true, false}) {
                Path out = dir.resolve(cpuFirst ? "cpu-then-remote" : "remote-then-cpu");
                Trainer first = trainer(data, c, 3, out, new ArrayList<>());
                if (!cpuFirst) first.on(RemoteEngine::new);
                first.run(5);
                first.close();
                Trainer second = trainer(data, c, 99, out, new ArrayList<>()); // other initial weights: all from the checkpoint
                RemoteEngine[] engine = new RemoteEngine[1];
                if (cpuFirst) second.on((m, cf, o) -> engine[0] = new RemoteEngine(m, cf, o));
                second.resume(Checkpoints.load(Checkpoints.latest(out.resolve("checkpoints"))));
                if (cpuFirst) assertEquals(1, engine[0].fromHost, "the resumed state is handed to the engine");
                assertArrayEquals(Arrays.copyOfRange(expected, 5, 8), arr(second.run().losses()), 0.0, out.getFileName().toString());
            }
        }
    }

    @Test
    void theCpuModelHoldsTheTrainedWeightsWhenRunReturns() {
        try (TokenFile data = TinyRuns.data(dir, 4000)) {
            TrainConfig c = TinyRuns.config(3);
            CausalLM expected = TinyRuns.gsa(3), model = TinyRuns.gsa(3);
            new Trainer(expected, c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, null, null, null).run();
            Trainer t = new Trainer(model, c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, null, null, null);
            t.on(RemoteEngine::new).run();
            for (String n : model.params().keySet()) assertArrayEquals(expected.params().get(n).f, model.params().get(n).f, 0f, n);
            assertEquals(3, t.optimizer().stepCount());
        }
    }

    @Test
    void aNonFiniteUpdateStopsTheRunAndWritesNothing() {
        try (TokenFile data = TinyRuns.data(dir, 4000)) {
            TrainConfig c = TinyRuns.config(4);
            Trainer t = new Trainer(TinyRuns.gsa(3), c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, dir.resolve("nan"), null, null);
            int[] toHost = {0};
            t.on((m, cf, o) -> new TrainEngine() {
                @Override
                public Update update(List<BatchSource.Batch> microBatches, double lr, Ranks ranks) {
                    return new Update(2.0, Double.POSITIVE_INFINITY);
                }

                @Override
                public ScoringModel scoring() {
                    return ScoringModel.of(m);
                }

                @Override
                public void toHost() {
                    toHost[0]++;
                }

                @Override
                public void fromHost() {}

                @Override
                public String device() {
                    return "broken";
                }

                @Override
                public void close() {}
            });
            NonFiniteLossException e = assertThrows(NonFiniteLossException.class, t::run);
            assertTrue(e.getMessage().startsWith("training stopped at step 1: the gradient norm is Infinity (loss 2.0)"), e.getMessage());
            assertEquals(0, toHost[0]);
            assertTrue(Checkpoints.list(dir.resolve("nan/checkpoints")).isEmpty());
        }
    }

    @Test
    void frozenParametersStayOnTheCpuEngine() {
        try (TokenFile data = TinyRuns.data(dir, 4000)) {
            TrainConfig c = TinyRuns.config(2).toBuilder().trainOnly("mlp").build();
            Trainer t = new Trainer(TinyRuns.gsa(3), c, LmData.train(data, c.batchSize(), c.seqLen(), c.seed()), null, null, null, null);
            Gsa4jException e = assertThrows(Gsa4jException.class, () -> t.on(RemoteEngine::new));
            assertEquals("training settings: field 'train_only': frozen parameters are trained on the CPU engine only", e.getMessage());
            assertEquals("cpu", t.device());
            assertEquals(2, t.run().step());
        }
    }
}
