package org.gsa4j.reliability;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.infer.Generator;
import org.gsa4j.infer.Sampler;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.Limits;
import org.gsa4j.models.ModelLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 6 item 3: a model larger than the heap fails before anything is read, with both sizes in
 * the message; no config field sizes an allocation the checkpoint cannot back; prompt memory is
 * bounded by the prefill slice, not the prompt length.
 */
class ResourceLimitsTest {
    @TempDir
    Path tmp;

    static long allocatedBy(Runnable r) {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = mx.getCurrentThreadAllocatedBytes();
        r.run();
        return mx.getCurrentThreadAllocatedBytes() - before;
    }

    /**
     * A safetensors file whose header describes {@code count} tensors of [rows, cols] in {@code dtype},
     * its data section a hole (a sparse file: the test needs no disk or memory for the weights).
     */
    static void sparseSafetensors(Path file, int count, int rows, int cols, String dtype, int width) throws IOException {
        StringBuilder h = new StringBuilder("{");
        long off = 0, size = (long) rows * cols * width;
        for (int i = 0; i < count; i++) {
            if (i > 0) h.append(',');
            h.append("\"model.layers.").append(i).append(".big.weight\":{\"dtype\":\"").append(dtype).append("\",\"shape\":[")
                    .append(rows).append(',').append(cols).append("],\"data_offsets\":[").append(off).append(',').append(off + size).append("]}");
            off += size;
        }
        h.append('}');
        while (h.length() % 8 != 0) h.append(' ');
        byte[] header = h.toString().getBytes(StandardCharsets.US_ASCII);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            f.write(header);
            f.setLength(8 + header.length + off);
        }
    }

    Path hugeModelDir(String dtype, int width) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("huge-" + dtype));
        Files.copy(Seeds.REFERENCE_GSA.resolve("config.json"), dir.resolve("config.json"), StandardCopyOption.REPLACE_EXISTING);
        // Enough 1 GiB-as-float32 tensors to exceed the heap, whatever -Xmx the tests run with.
        long gib = 1L << 30;
        int count = (int) (Runtime.getRuntime().maxMemory() / gib) + 2;
        sparseSafetensors(dir.resolve("model.safetensors"), count, 16384, 16384, dtype, width);
        return dir;
    }

    @Test
    void modelLargerThanTheHeapFailsUpFrontWithBothSizes() throws IOException {
        for (String[] dt : new String[][] {{"F32", "4"}, {"BF16", "2"}}) {
            Path dir = hugeModelDir(dt[0], Integer.parseInt(dt[1]));
            Gsa4jException[] e = new Gsa4jException[1];
            long allocated = allocatedBy(() -> assertTimeoutPreemptively(Duration.ofSeconds(10),
                    () -> e[0] = assertThrows(Gsa4jException.class, () -> ModelLoader.load(dir))));
            String m = e[0].getMessage();
            System.out.println(dt[0] + ": " + m);
            assertTrue(m.startsWith(dir.resolve("model.safetensors").toString()), m);
            long need = (Runtime.getRuntime().maxMemory() / (1L << 30) + 2) * (1L << 30);
            assertTrue(m.contains(String.format(java.util.Locale.ROOT, "need %,d bytes", need)), m);
            assertTrue(m.contains("of heap available") && m.contains("-Xmx"), m);
            // Nothing of the weights was read: a few MB for the header and the config at most.
            assertTrue(allocated < 64L << 20, "allocated " + allocated);
        }
    }

    @Test
    void layerCountTheCheckpointCannotBackIsRefusedBeforeAllocating() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("layers"));
        Files.copy(Seeds.REFERENCE_GSA.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        for (String n : new String[] {"2147483647", "100000000", "27"}) {
            String cfg = Files.readString(Seeds.REFERENCE_GSA.resolve("config.json")).replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": " + n);
            Files.writeString(dir.resolve("config.json"), cfg);
            Gsa4jException e = assertThrows(Gsa4jException.class, () -> ModelLoader.load(dir));
            assertTrue(e.getMessage().contains("config.json: field 'num_hidden_layers'"), e.getMessage());
            assertTrue(e.getMessage().contains("holds only 25 tensors"), e.getMessage());
        }
    }

    @Test
    void freshModelTooLargeForTheHeapFailsUpFront() {
        ObjectNode c = Seeds.tinyConfig();
        c.put("num_hidden_layers", 1_000_000_000);
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> ModelLoader.create(c, 1));
        assertTrue(e.getMessage().contains("num_hidden_layers"), e.getMessage());
        ObjectNode wide = Seeds.tinyConfig();
        wide.put("hidden_size", 32768).put("vocab_size", 1 << 20).put("num_hidden_layers", 4).put("intermediate_size", 65536);
        long allocated = allocatedBy(() -> {
            Gsa4jException e2 = assertThrows(Gsa4jException.class, () -> ModelLoader.create(wide, 1));
            assertTrue(e2.getMessage().contains("a new model's float32 weights need"), e2.getMessage());
        });
        assertTrue(allocated < 64L << 20, "allocated " + allocated);
        assertTrue(Limits.availableHeap() > 0);
    }

    @Test
    void longPromptsArePrefilledInBoundedSlicesWithTheSameResult() {
        CausalLM m = Seeds.tinyModel();
        int n = Generator.PREFILL_CHUNK * 3 + 17;
        int[] prompt = new int[n];
        java.util.SplittableRandom rng = new java.util.SplittableRandom(5);
        for (int i = 0; i < n; i++) prompt[i] = rng.nextInt(32);
        List<Integer> sliced = new ArrayList<>();
        new Generator(m).generate(prompt, 8, Sampler.greedy(), sliced::add);
        // Reference: the whole prompt in one feed.
        var state = m.newState(1);
        float[] logits = m.feed(prompt, 1, n, state).f;
        List<Integer> whole = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            int next = Sampler.greedy().sample(logits);
            whole.add(next);
            logits = m.feed(new int[] {next}, 1, 1, state).f;
        }
        assertEquals(whole, sliced);
    }
}
