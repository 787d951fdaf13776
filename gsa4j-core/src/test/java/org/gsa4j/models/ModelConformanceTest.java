package org.gsa4j.models;

import org.gsa4j.Gsa4jException;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.ops.CrossEntropy;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every model case of the reference vectors (made by the reference library itself): logits, loss,
 * every parameter gradient, the greedy continuation and the per-step decoding logits. Cases whose
 * model_type is not implemented are reported as skipped, by name.
 */
class ModelConformanceTest {

    @TestFactory
    List<DynamicTest> referenceModels() throws IOException {
        List<Path> cases = ReferenceCases.modelCases();
        assertTrue(!cases.isEmpty(), "no reference cases found under " + ReferenceCases.root());
        System.out.println("model conformance: " + cases.size() + " cases " + cases.stream().map(Path::getFileName).toList()
                + " from " + ReferenceCases.root().resolve("models"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : cases) tests.add(DynamicTest.dynamicTest(dir.getFileName().toString(), () -> check(dir)));
        return tests;
    }

    private static void check(Path dir) {
        String name = dir.getFileName().toString();
        CausalLM model;
        try {
            model = ModelLoader.load(dir);
        } catch (Gsa4jException e) {
            if (e.getMessage().contains("unknown model_type")) {
                Assumptions.abort(name + ": skipped, " + e.getMessage());
            }
            throw e;
        }
        try (SafeTensors expected = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            long[] ids64 = expected.i64("input_ids");
            int batch = expected.entry("input_ids").shape()[0], seqLen = expected.entry("input_ids").shape()[1];
            int[] ids = new int[ids64.length];
            for (int i = 0; i < ids.length; i++) ids[i] = (int) ids64[i];

            Tape tape = Tape.recording();
            Map<String, Var> p = model.bind(tape);
            Var logits = model.logits(tape, p, ids, batch, seqLen, null);
            Var loss = CrossEntropy.apply(tape, logits, CausalLM.shiftedLabels(ids, batch, seqLen), CausalLM.IGNORE_INDEX);
            tape.backward(loss);

            double logitsErr = Tensor.relErr(logits.value, expected.f32("logits"));
            double lossErr = Math.abs(loss.value.get(0) - expected.f32("loss").get(0));
            System.out.printf("[%s] logits rel err %.2e, loss abs err %.2e (loss %.6f)%n", name, logitsErr, lossErr, loss.value.get(0));
            assertTrue(logitsErr <= 1e-4, name + ": logits rel err " + logitsErr);
            assertTrue(lossErr <= 1e-4, name + ": loss abs err " + lossErr);

            int compared = 0;
            double worst = 0;
            String worstName = "";
            for (String key : expected.names()) {
                if (!key.startsWith("grad.")) continue;
                String param = key.substring("grad.".length());
                Tensor ours = ExpectedGradients.ours(param, expected.entry(key).shape(), p);
                double err = Tensor.relErr(ours, expected.f32(key));
                if (err > worst) { worst = err; worstName = param; }
                assertTrue(err <= 1e-3, name + ": gradient of " + param + " rel err " + err);
                compared++;
            }
            System.out.printf("[%s] %d parameter gradients, max rel err %.2e (%s)%n", name, compared, worst, worstName);
            assertEquals(ExpectedGradients.storedTensorCount(dir), compared, name + ": a gradient per stored parameter");

            // Greedy decoding: prefill through the chunk form, then one recurrent step per token.
            int[] prompt = toInts(expected.i64("generate.prompt"));
            int[] want = toInts(expected.i64("generate.tokens"));
            Tensor stepLogits = expected.f32("generate.step_logits");
            int vocab = model.config.vocabSize();
            DecodeState state = model.newState(1);
            Tensor last = model.feed(prompt, 1, prompt.length, state);
            int[] got = new int[want.length];
            double worstStep = 0;
            for (int i = 0; i <= want.length; i++) {
                Tensor row = Tensor.of(java.util.Arrays.copyOfRange(stepLogits.f, i * vocab, (i + 1) * vocab), vocab);
                worstStep = Math.max(worstStep, Tensor.relErr(last, row));
                if (i == want.length) break;
                got[i] = argmax(last.f);
                last = model.feed(new int[] {got[i]}, 1, 1, state);
            }
            System.out.printf("[%s] greedy tokens %s, per-step logits max rel err %.2e, state %d bytes%n",
                    name, java.util.Arrays.equals(got, want) ? "identical" : "DIFFER", worstStep, state.bytes());
            assertArrayEquals(want, got, name + ": greedy tokens");
            assertTrue(worstStep <= 1e-4, name + ": per-step logits rel err " + worstStep);
        }
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    private static int[] toInts(long[] v) {
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) out[i] = (int) v[i];
        return out;
    }
}
