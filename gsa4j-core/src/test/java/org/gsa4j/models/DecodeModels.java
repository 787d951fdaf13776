package org.gsa4j.models;

import org.gsa4j.models.ModelLoader.WeightFormat;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Every architecture and decoding variant the decode-state tests run on: the reference cases
 * (GSA with and without GQA, convolutions, t2r; GLA; RetNet; HGRN2; Llama), the random models of
 * {@link StepDecodingTest} (Llama/Mistral/Transformer KV caches with sliding windows, biases and
 * q/k norms, GLA/HGRN2 with short convolutions, RetNet, hybrids) and GSA with BF16-held weights.
 */
final class DecodeModels {
    private DecodeModels() {}

    static Map<String, Supplier<CausalLM>> all() throws IOException {
        Map<String, Supplier<CausalLM>> models = new LinkedHashMap<>();
        for (Path dir : ReferenceCases.modelCases()) models.put("reference " + dir.getFileName(), () -> ModelLoader.load(dir));
        for (String name : StepDecodingTest.MODELS.keySet()) {
            models.put(name, () -> {
                try {
                    return StepDecodingTest.model(name);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        }
        models.put("gsa_conv_gqa", () -> ModelLoader.create(DecodeStepTest.config("swish", true), 21));
        models.put("gsa_t2r", () -> ModelLoader.create(DecodeStepTest.config("t2r", false), 22));
        models.put("gsa_conv_bf16", () -> ModelLoader.withWeights(ModelLoader.create(DecodeStepTest.config("swish", true), 23), WeightFormat.BF16));
        return models;
    }
}
