package org.gsa4j.models;

import org.gsa4j.Gsa4jException;
import org.gsa4j.models.ModelLoader.WeightFormat;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Decode-state snapshots: a restored state continues bit for bit (tokens and logits) as the state
 * that was saved, for every architecture; a snapshot of another model or weights, a corrupted, a
 * truncated one is refused with one line; the state's size, bytes read per token and skip.
 */
class StateSnapshotTest {

    @TestFactory
    List<DynamicTest> aRestoredStateContinuesBitForBit() throws Exception {
        List<DynamicTest> tests = new ArrayList<>();
        for (var e : DecodeModels.all().entrySet()) tests.add(DynamicTest.dynamicTest(e.getKey(), () -> roundTrip(e.getKey(), e.getValue())));
        return tests;
    }

    /**
     * A prompt through the chunk form, a few greedy steps, a snapshot; then the original and the
     * restored state each take 12 greedy steps and a 6-token chunk, with every logit compared
     * exactly. The prompt is longer than the sliding windows, so ring buffers have wrapped.
     */
    private static void roundTrip(String name, Supplier<CausalLM> make) {
        CausalLM model = make.get();
        int vocab = model.config.vocabSize();
        SplittableRandom rng = new SplittableRandom(name.hashCode());
        int[] prompt = rng.ints(11, 0, vocab).toArray();
        DecodeState a = model.newState(1);
        Tensor last = model.feed(prompt, 1, prompt.length, a);
        int next = argmax(last.f);
        for (int i = 0; i < 3; i++) next = argmax(model.step(new int[] {next}, a).f);

        byte[] snap = a.snapshot();
        DecodeState b = model.restore(snap);
        assertEquals(a.position(), b.position(), name);
        assertEquals(a.bytes(), b.bytes(), name);
        assertArrayEquals(snap, b.snapshot(), name + ": a restored state snapshots to the same bytes");

        int na = next, nb = next;
        for (int i = 0; i < 12; i++) {
            float[] la = model.step(new int[] {na}, a).f.clone();
            float[] lb = model.step(new int[] {nb}, b).f.clone();
            assertArrayEquals(la, lb, name + ": logits at step " + i);
            na = argmax(la);
            nb = argmax(lb);
            assertEquals(na, nb, name + ": token at step " + i);
        }
        int[] chunk = rng.ints(6, 0, vocab).toArray();
        assertArrayEquals(model.feed(chunk, 1, chunk.length, a).f, model.feed(chunk, 1, chunk.length, b).f, name + ": a chunk after the steps");
        System.out.printf("[snapshot] %s: %d bytes for a state of %d bytes at position %d; 12 steps and a chunk identical%n",
                name, snap.length, a.bytes(), a.position());
    }

    @Test
    void lockStepBatchesAndNotesRoundTripThroughAStream() throws Exception {
        for (String name : List.of("llama_gqa3_hd10", "retnet_gqa_odd_v", "gsa_hybrid_attn")) {
            CausalLM model = StepDecodingTest.model(name);
            DecodeState a = model.newState(2);
            model.feed(new int[] {1, 2, 3, 4, 5, 6, 7, 8}, 2, 4, a);
            model.step(new int[] {9, 10}, a);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            a.writeSnapshot(out, Map.of("sampler_draws", "17", "note", "é ünïcode"));
            a.writeSnapshot(out, Map.of());   // two snapshots back to back: a reader stops at the end of one
            ByteArrayInputStream in = new ByteArrayInputStream(out.toByteArray());
            StateSnapshot.Restored r = StateSnapshot.read(model, in);
            StateSnapshot.Restored again = StateSnapshot.read(model, in);
            assertEquals(0, in.available());
            assertEquals(Map.of("sampler_draws", "17", "note", "é ünïcode"), r.notes());
            assertEquals(Map.of(), again.notes());
            assertEquals(2, r.state().batch());
            assertArrayEquals(model.step(new int[] {11, 12}, a).f.clone(), model.step(new int[] {11, 12}, r.state()).f, name);
        }
    }

    @Test
    void aSnapshotOfAnotherModelOrWeightsIsRefusedWithOneLine() throws Exception {
        CausalLM gsa = ModelLoader.create(DecodeStepTest.config("swish", true), 1);
        DecodeState s = gsa.newState(1);
        gsa.feed(new int[] {1, 2, 3}, 1, 3, s);
        byte[] snap = s.snapshot();

        CausalLM otherConfig = ModelLoader.create(DecodeStepTest.config("swish", true, 7), 1);
        CausalLM otherWeights = ModelLoader.create(DecodeStepTest.config("swish", true), 2);
        CausalLM bf16 = ModelLoader.withWeights(gsa, WeightFormat.BF16);
        CausalLM gla = StepDecodingTest.model("gla_gqa3_odd_conv_clamp");
        for (CausalLM other : List.of(otherConfig, otherWeights, bf16, gla)) {
            String msg = refusal(() -> other.restore(snap));
            assertTrue(msg.startsWith("decode-state snapshot is of another model: gsa (config "), msg);
            assertTrue(msg.contains(", not " + other.identity().describe()), msg);
        }
        // the same model loaded again (another instance, its config keys in another order) accepts it
        com.fasterxml.jackson.databind.node.ObjectNode reordered = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
        List<String> keys = new ArrayList<>();
        com.fasterxml.jackson.databind.node.ObjectNode json = gsa.config.toJson();
        json.fieldNames().forEachRemaining(keys::add);
        java.util.Collections.reverse(keys);
        for (String k : keys) reordered.set(k, json.get(k));
        CausalLM twin = new CausalLM(ModelRegistry.build(ModelRegistry.fromJson(reordered)), gsa.params());
        assertEquals(s.position(), twin.restore(snap).position());
        assertEquals(gsa.identity(), twin.identity());
    }

    @Test
    void aCorruptedOrTruncatedSnapshotIsRefusedWithOneLine() {
        CausalLM model = ModelLoader.create(DecodeStepTest.config("swish", true), 3);
        DecodeState s = model.newState(1);
        model.feed(new int[] {4, 5, 6, 7}, 1, 4, s);
        byte[] snap = s.snapshot();
        int headerLength = java.nio.ByteBuffer.wrap(snap, 12, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt();
        int payloadAt = 16 + headerLength + 4;

        byte[] payload = snap.clone();
        payload[payloadAt + (snap.length - payloadAt) / 2] ^= 0x10;
        assertEquals("decode-state snapshot is corrupted (payload checksum mismatch)", refusal(() -> model.restore(payload)));

        byte[] header = snap.clone();
        header[16 + headerLength / 2] ^= 0x01;
        assertEquals("decode-state snapshot is corrupted (header checksum mismatch)", refusal(() -> model.restore(header)));

        assertTrue(refusal(() -> model.restore(Arrays.copyOf(snap, snap.length - 9))).startsWith("decode-state snapshot is truncated"));
        assertTrue(refusal(() -> model.restore(Arrays.copyOf(snap, 10))).startsWith("decode-state snapshot is truncated"));
        assertEquals("decode-state snapshot is not a gsa4j decode-state snapshot (no GSA4JDS magic)",
                refusal(() -> model.restore("{\"hello\": 1}".getBytes())));
        assertEquals("decode-state snapshot is not a gsa4j decode-state snapshot (no GSA4JDS magic)", refusal(() -> model.restore(new byte[0])));

        byte[] newer = snap.clone();
        newer[8] = 2;
        assertEquals("decode-state snapshot has format version 2; this gsa4j reads version 1", refusal(() -> model.restore(newer)));

        byte[] longer = Arrays.copyOf(snap, snap.length + 3);
        assertTrue(refusal(() -> model.restore(longer)).contains("after its end"));
    }

    private static String refusal(org.junit.jupiter.api.function.Executable restore) {
        Gsa4jException e = assertThrows(Gsa4jException.class, restore);
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void sizeBytesReadPerTokenAndSkip() throws Exception {
        CausalLM gsa = ModelLoader.create(DecodeStepTest.config("swish", false), 4);
        DecodeState s = gsa.newState(1);
        long weights = 0;
        for (var e : gsa.params().entrySet()) weights += 4L * (e.getKey().equals("model.embeddings.weight") ? e.getValue().dim(1) : e.getValue().size());
        // 2 layers × (hk [1,4,10,5] + hv [1,4,5,10]) floats: 4 query heads of 40 / 4 = 10, 5 slots
        long stateBytes = 2L * 2 * (4 * 10 * 5) * 4;
        assertEquals(stateBytes, s.bytes());
        assertEquals(weights, gsa.weightBytesReadPerToken());
        assertEquals(weights + 2 * s.bytes(), s.bytesReadPerToken());
        assertEquals(0, s.bytesPerContextToken());
        s.skip(1000, 7);
        assertEquals(1000, s.position());
        assertEquals(stateBytes, s.bytes(), "a fixed-size state stays the same size");

        CausalLM bf16 = ModelLoader.withWeights(gsa, WeightFormat.BF16);
        assertTrue(bf16.weightBytesReadPerToken() < weights * 0.6, "BF16 matrices are read as 2 bytes");

        CausalLM llama = StepDecodingTest.model("llama_gqa3_hd10");   // 2 layers, 2 kv heads of 10
        DecodeState kv = llama.newState(1);
        long perToken = 2L * 2 * 2 * 10 * 4;
        assertEquals(perToken, kv.bytesPerContextToken());
        llama.feed(new int[] {1, 2, 3}, 1, 3, kv);
        kv.skip(5000, 8);
        assertEquals(5003, kv.position());
        assertEquals(5003 * perToken, kv.bytes());
        assertEquals(llama.weightBytesReadPerToken() + kv.bytes(), kv.bytesReadPerToken());
        Tensor logits = llama.step(new int[] {4}, kv);   // attends over the 5003 cached tokens
        for (float v : logits.f) assertTrue(Float.isFinite(v));
        assertEquals(5004 * perToken, kv.bytes());

        CausalLM retnet = StepDecodingTest.model("retnet_gqa_odd_v");
        DecodeState r = retnet.newState(1), viaSnapshot;
        r.skip(300, 1);
        viaSnapshot = retnet.restore(r.snapshot());
        assertArrayEquals(retnet.step(new int[] {1}, r).f.clone(), retnet.step(new int[] {1}, viaSnapshot).f, "rotary position restored");
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
