package org.gsa4j.models;

import org.gsa4j.io.SafeTensors;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Each baseline saves to the Hugging Face layout it was loaded from: same config, same tensors, same logits. */
class BaselineRoundTripTest {
    @TempDir
    Path tmp;

    /** Every reference case of a baseline architecture (GSA's own layouts are checked in GsaModelGradTest and the io tests). */
    static List<String> baselineCases() throws IOException {
        List<String> names = ReferenceCases.modelCases(Set.of("gla", "retnet", "hgrn2", "transformer", "llama", "mistral")).stream()
                .map(p -> p.getFileName().toString()).toList();
        assertFalse(names.isEmpty(), "no baseline case under " + ReferenceCases.root().resolve("models"));
        System.out.println("baseline round trip: " + names.size() + " cases " + names);
        return names;
    }

    @ParameterizedTest
    @MethodSource("baselineCases")
    void saveThenLoadIsIdentity(String name) {
        Path src = ReferenceCases.root().resolve("models").resolve(name);
        CausalLM a = ModelLoader.load(src);
        Path dir = tmp.resolve(name);
        ModelLoader.save(a, dir, SafeTensors.DType.F32);
        CausalLM b = ModelLoader.load(dir);
        assertEquals(a.config.toJson(), b.config.toJson());
        try (SafeTensors orig = SafeTensors.open(src.resolve("model.safetensors"));
             SafeTensors saved = SafeTensors.open(dir.resolve("model.safetensors"))) {
            assertEquals(new java.util.TreeSet<>(orig.names()), new java.util.TreeSet<>(saved.names()), name + ": tensor names");
            for (String n : orig.names()) assertArrayEquals(orig.f32(n).f, saved.f32(n).f, name + ": " + n);
        }
        int[] ids = {3, 1, 4, 1, 5, 9, 2, 6};
        Tensor la = a.feed(ids, 1, ids.length, a.newState(1)), lb = b.feed(ids, 1, ids.length, b.newState(1));
        assertArrayEquals(la.f, lb.f, name + ": logits");
        Map<String, Tensor> pa = a.params(), pb = b.params();
        assertEquals(pa.keySet(), pb.keySet());
    }
}
