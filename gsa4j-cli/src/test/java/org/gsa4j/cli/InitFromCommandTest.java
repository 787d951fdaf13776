package org.gsa4j.cli;

import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.train.Checkpoints;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.gsa4j.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** train (llama) → convert → train --init-from [--train-only], end to end on tiny inputs. */
class InitFromCommandTest {
    @TempDir
    Path dir;

    @Test
    void convertAndFinetuneEndToEnd() throws Exception {
        Path texts = Files.createDirectories(dir.resolve("texts"));
        StringBuilder a = new StringBuilder(), b = new StringBuilder();
        String[] words = {"the", "letter", "was", "written", "by", "Anne", "to", "Captain", "Wentworth", "in", "Bath"};
        SplittableRandom r = new SplittableRandom(2);
        for (int i = 0; i < 2000; i++) {
            a.append(words[r.nextInt(words.length)]).append(i % 12 == 11 ? ".\n" : " ");
            if (i < 600) b.append(words[r.nextInt(words.length)]).append(i % 12 == 11 ? ".\n" : " ");
        }
        Files.writeString(texts.resolve("emma.txt"), a);
        Files.writeString(texts.resolve("persuasion.txt"), b);
        String[] common = {"--data", texts.toString(), "--vocab-size", "300", "--batch-size", "2", "--seq-len", "16", "--no-progress",
                "--eval-tokens", "64"};

        Path teacher = dir.resolve("teacher");
        var res = run(cat(new String[] {"train", "--arch", "llama", "--hidden-size", "16", "--num-hidden-layers", "1", "--num-heads", "2", "--steps", "3",
                "--out", teacher.toString()}, common));
        assertEquals(0, res.exitCode(), res.err());
        Path tck = Checkpoints.latest(teacher.resolve("checkpoints"));
        Path conv = dir.resolve("conv");
        res = run("convert", "--from", tck.toString(), "--to", "gsa", "--num-slots", "4", "--out", conv.toString());
        assertEquals(0, res.exitCode(), res.err());

        Path ft = dir.resolve("ft");
        res = run(cat(new String[] {"train", "--init-from", conv.toString(), "--train-only", "new,attention", "--steps", "3",
                "--checkpoint-every", "0", "--out", ft.toString()}, common));
        assertEquals(0, res.exitCode(), res.err());
        assertTrue(res.err().contains("initial weights: " + conv), res.err());
        assertTrue(res.err().contains("training only new,attention"), res.err());
        assertTrue(res.err().contains("lr 0.00030"), "finetuning defaults to a peak of 3e-4: " + res.err());
        CausalLM before = ModelLoader.load(conv), after = ModelLoader.load(Checkpoints.latest(ft.resolve("checkpoints")));
        assertArrayEquals(before.params().get("model.layers.0.mlp.up_proj.weight").f, after.params().get("model.layers.0.mlp.up_proj.weight").f, 0f);
        assertFalse(java.util.Arrays.equals(before.params().get("model.layers.0.attn.f_proj.weight").f,
                after.params().get("model.layers.0.attn.f_proj.weight").f));

        // bad combinations are one clear line
        res = run(cat(new String[] {"train", "--init-from", conv.toString(), "--resume", "--out", ft.toString()}, common));
        assertEquals(2, res.exitCode());
        assertTrue(res.err().contains("pass only one"), res.err());
        res = run(cat(new String[] {"train", "--init-from", conv.toString(), "--train-only", "attn", "--out", dir.resolve("x").toString()}, common));
        assertEquals(2, res.exitCode());
        assertTrue(res.err().contains("unknown parameter group 'attn'"), res.err());
    }

    private static String[] cat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
