package org.gsa4j.train;

import org.gsa4j.autograd.Tape;
import org.gsa4j.config.ModelSize;
import org.gsa4j.data.BpeTrainer;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.ops.CrossEntropy;
import org.junit.jupiter.api.Test;

import java.io.StringReader;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class LmEvalTest {

    private static String text() {
        StringBuilder sb = new StringBuilder();
        java.util.SplittableRandom r = new java.util.SplittableRandom(3);
        String[] w = {"Anne", "walked", "to", "the", "  Crescent", "and", "met", "Mr. Elliot", "who", "bowed", "\n\n", "\n", " said"};
        while (sb.length() < 150_000) sb.append(w[r.nextInt(w.length)]).append(r.nextInt(9) == 0 ? "\n" : " ");
        return sb.toString();
    }

    @Test
    void streamingInBlocksAndChunksEqualsOneForwardPass() throws Exception {
        String text = text();
        Tokenizer tok = BpeTrainer.train(List.of(text), 300);
        CausalLM model = TinyRuns.create(ModelRegistry.preset("gsa", new ModelSize(300, 32, 2, 2, 8, 64)).toJson(), 1);
        // block tokenization (cut after "\n" + non-space) gives exactly the whole text's tokens
        int[] all = tok.encode(text);
        LmEval.Result a = LmEval.evaluate(model, tok, new StringReader(text), 50, null);
        assertEquals(all.length, a.tokens(), "every token scored, the first one after the end-of-text start");
        assertEquals(text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length, a.bytes());
        LmEval.Result b = LmEval.evaluate(model, tok, new StringReader(text), 1024, null);
        assertEquals(a.nllNats(), b.nllNats(), 1e-5 * a.nllNats(), "chunk length must not matter");

        // one full forward pass over [eos, tokens...] on a prefix, against the streamed scorer
        int n = 700;
        int[] seq = new int[n + 1];
        seq[0] = tok.eosId();
        System.arraycopy(all, 0, seq, 1, n);
        Tape tape = Tape.inference();
        var logits = model.logits(tape, model.bind(tape), seq, 1, n + 1, null);
        int[] targets = new int[n + 1];
        System.arraycopy(all, 0, targets, 0, n);
        targets[n] = CausalLM.IGNORE_INDEX;
        double full = CrossEntropy.apply(tape, logits, targets, CausalLM.IGNORE_INDEX).value.get(0) * n;
        LmEval.Scorer s = new LmEval.Scorer(model, 64);
        s.start(tok.eosId());
        s.score(java.util.Arrays.copyOf(all, n));
        assertEquals(n, s.count());
        assertEquals(full, s.nll(), 1e-4 * full);
        assertTrue(a.perplexity() > 1 && a.bitsPerByte() > 0);
    }

    @Test
    void cutPointsAreWherePreTokenizationSplitsAnyway() {
        assertEquals(-1, LmEval.cutPoint("abc\n def"));
        assertEquals(4, LmEval.cutPoint("abc\ndef"));
        assertEquals(9, LmEval.cutPoint("abc\ndef\n\nx\n "));
    }
}
