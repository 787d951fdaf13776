package org.gsa4j.cli;

import org.gsa4j.train.Checkpoints;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.gsa4j.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** A few seconds' worth of inputs for the command tests: two small texts and a GSA model trained on them. */
final class TinyModel {
    private TinyModel() {}

    static final String[] SIZE = {"--arch", "gsa", "--hidden-size", "16", "--num-hidden-layers", "1", "--num-heads", "2", "--num-slots", "4",
            "--batch-size", "2", "--seq-len", "16", "--vocab-size", "300", "--no-progress", "--eval-tokens", "64"};

    /** DIR/texts with emma.txt (training) and persuasion.txt (validation) of random words from a small vocabulary. */
    static Path texts(Path dir) throws Exception {
        Path texts = Files.createDirectories(dir.resolve("texts"));
        StringBuilder a = new StringBuilder(), b = new StringBuilder();
        String[] words = {"the", "letter", "was", "written", "by", "Anne", "to", "Captain", "Wentworth", "in", "Bath", "and", "he", "read", "it"};
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 3000; i++) {
            a.append(words[r.nextInt(words.length)]).append(i % 12 == 11 ? ".\n" : " ");
            if (i < 800) b.append(words[r.nextInt(words.length)]).append(i % 12 == 11 ? ".\n" : " ");
        }
        Files.writeString(texts.resolve("emma.txt"), a);
        Files.writeString(texts.resolve("persuasion.txt"), b);
        return texts;
    }

    static String[] with(String[] head, String... tail) {
        String[] out = java.util.Arrays.copyOf(head, head.length + tail.length);
        System.arraycopy(tail, 0, out, head.length, tail.length);
        return out;
    }

    /** Trains the tiny model for {@code steps} updates into DIR/name and returns its checkpoint (with tokenizer.json). */
    static Path train(Path dir, String name, int steps) throws Exception {
        Path texts = Files.isDirectory(dir.resolve("texts")) ? dir.resolve("texts") : texts(dir);
        Path out = dir.resolve(name);
        var r = run(with(with(new String[] {"train", "--data", texts.toString(), "--out", out.toString(), "--steps", String.valueOf(steps)},
                SIZE)));
        assertEquals(0, r.exitCode(), r.err());
        return Checkpoints.latest(out.resolve("checkpoints"));
    }

    /** A copy of a model directory whose first attention weight holds a NaN. */
    static Path poisoned(Path model, Path copy) throws Exception {
        Files.createDirectories(copy);
        try (var files = Files.list(model)) {
            for (Path f : files.toList()) if (Files.isRegularFile(f)) Files.copy(f, copy.resolve(f.getFileName()));
        }
        Path st = copy.resolve("model.safetensors");
        byte[] b = Files.readAllBytes(st);
        long headerLen = java.nio.ByteBuffer.wrap(b, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        var header = new com.fasterxml.jackson.databind.ObjectMapper().readTree(new String(b, 8, (int) headerLen, java.nio.charset.StandardCharsets.UTF_8));
        String name = "model.layers.0.attn.q_proj.weight";
        long at = 8 + headerLen + header.get(name).get("data_offsets").get(0).asLong();
        java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat((int) at + 4 * 3, Float.NaN);
        Files.write(st, b);
        return copy;
    }
}
