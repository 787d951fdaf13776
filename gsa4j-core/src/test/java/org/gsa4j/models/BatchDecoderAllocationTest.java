package org.gsa4j.models;

import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The steady-state batched pass allocates nothing. A class of its own: surefire gives each test
 * class a fresh JVM, so the JIT compiles the pass from its own profile (after BatchDecoderTest's
 * dozens of models, call sites left polymorphic kept Vector-API code boxing: 1 MB a pass).
 */
class BatchDecoderAllocationTest {
    /**
     * As DecodeStepTest's check: rounds of 300 passes (three sequences, one of them three tokens a
     * pass) until the JIT has compiled them (on a loaded machine C2 may take tens of thousands of passes), then at most 64 bytes per pass; fails after 100 rounds.
     * The states start afresh (untimed) once a KV cache holds 6,000 tokens, so that attention's
     * cost stays bounded.
     */
    @Test
    void steadyStatePassesAllocateNothing() throws Exception {
        for (String name : List.of("gsa_conv_gqa", "llama_gqa_hd20", "retnet_gqa_odd_v")) {
            CausalLM m = DecodeModels.all().get(name).get();
            var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            BatchDecoder batch = new BatchDecoder(m, 8);
            DecodeState[] states = new DecodeState[3];
            int[] prompt = {1, 2, 3};
            int[] next = {1, 2, 3};
            long perPass = Long.MAX_VALUE;
            int round = 0, passes = 300;
            for (; round < 100 && perPass > 64; round++) {
                if (states[1] == null || states[1].position() > 6000) {
                    for (int q = 0; q < 3; q++) {
                        states[q] = m.newState(1);
                        states[q].reserve(8000);
                    }
                    pass(batch, states, prompt, next);   // a fresh KV cache makes its scratch at its first step
                }
                long before = threads.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < passes; i++) pass(batch, states, prompt, next);
                perPass = (threads.getCurrentThreadAllocatedBytes() - before) / passes;
            }
            System.out.printf("[batch decoder] %s: %d bytes allocated per pass (round %d of %d passes)%n", name, perPass, round, passes);
            assertTrue(perPass <= 64, name + ": " + perPass + " bytes per pass");
        }
    }

    private static void pass(BatchDecoder batch, DecodeState[] states, int[] prompt, int[] next) {
        batch.add(states[0], next[0]);
        batch.add(states[1], prompt, 0, 3);   // a multi-token row group too
        batch.add(states[2], next[2]);
        Tensor logits = batch.run();
        next[0] = argmax(logits, 0);
        next[2] = argmax(logits, 2);
    }

    private static int argmax(Tensor logits, int i) {
        return BatchDecoderTest.argmax(logits, i);
    }
}
