package org.gsa4j.serve;

import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The engine's side of cancellation, without HTTP. */
class EngineTest {
    @TempDir
    Path tmp;

    /**
     * A cancelled job leaves the batch at the next pass boundary: at most the pass running when it
     * was cancelled completes with it, then it ends as "cancelled".
     */
    @Test
    void aCancelledJobLeavesTheBatchWithinOnePass() throws Exception {
        CausalLM model = ModelLoader.load(TinyModel.write(tmp.resolve("tiny"), false));
        try (Engine engine = new Engine(model, null, new Engine.Options(4, 4, 16), new Metrics(() -> 0, () -> 0), null, null)) {
            int[] prompt = ServerTest.PROMPT;
            Engine.Job job = engine.submit(new Engine.Request(prompt, model.newState(1), prompt.length, 0, null, null, LimitsTest.ENDLESS,
                    new Sampling(0, 1, 0, 1), List.of(), true, null, System.nanoTime()));
            for (int i = 0; i < 5; i++) assertInstanceOf(Engine.Token.class, job.next(30_000), "token " + i);
            job.cancel();
            long atCancel = engine.passes();
            assertTrue(job.awaitEnd(30_000), "the job ended");
            assertTrue(engine.passes() - atCancel <= 1, (engine.passes() - atCancel) + " passes after the cancellation");
            Engine.Event e;
            int tokensAfter = 0;
            while ((e = job.next(0)) instanceof Engine.Token) tokensAfter++;
            assertInstanceOf(Engine.Done.class, e);
            assertEquals("cancelled", ((Engine.Done) e).finishReason());
            assertTrue(tokensAfter < 1_000_000, "the job ended far from its max_tokens");
        }
    }
}
