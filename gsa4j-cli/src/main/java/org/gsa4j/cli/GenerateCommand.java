package org.gsa4j.cli;

import org.gsa4j.data.Tokenizer;
import org.gsa4j.infer.Generator;
import org.gsa4j.infer.Sampler;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code gsa4j generate}: prefill with the chunk form, then constant-memory recurrent steps. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate a continuation of a prompt from a Hugging Face model directory.")
public final class GenerateCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "Model directory (config.json, *.safetensors, tokenizer.json).")
    Path model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Prompt prompt;

    static final class Prompt {
        @Option(names = "--prompt", description = "Prompt text (needs tokenizer.json in the model directory).")
        String text;

        @Option(names = "--prompt-ids", split = ",", description = "Prompt as comma-separated token ids; generated ids are printed.")
        int[] ids;
    }

    /** Upper bound of --max-new-tokens (the text mode keeps and re-decodes the whole continuation). */
    static final int MAX_NEW_TOKENS = 1 << 20;

    @Option(names = "--max-new-tokens", defaultValue = "64", description = "Tokens to generate, at most 1048576 (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "Sampling temperature; 0 = greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens; 0 = all (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling threshold (default: ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--seed", defaultValue = "1234", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--weights", defaultValue = "f32",
            description = "Weights in memory: f32, or bf16 (matrices as bfloat16: half the bytes read per token) (default: ${DEFAULT-VALUE}).")
    String weights;

    @Option(names = "--stats", description = "Print timing and the decoding state's size to stderr.")
    boolean stats;

    @Override
    public Integer call() {
        if (maxNewTokens < 0 || maxNewTokens > MAX_NEW_TOKENS) {
            throw new ParameterException(spec.commandLine(), "--max-new-tokens must be in [0, " + MAX_NEW_TOKENS + "], got " + maxNewTokens);
        }
        PrintStream out = System.out, err = System.err;
        ModelLoader.WeightFormat format = switch (weights.toLowerCase(java.util.Locale.ROOT)) {
            case "f32" -> ModelLoader.WeightFormat.F32;
            case "bf16" -> ModelLoader.WeightFormat.BF16;
            default -> throw new ParameterException(spec.commandLine(), "--weights must be f32 or bf16, got '" + weights + "'");
        };
        CausalLM lm = ModelLoader.load(model, format);
        Sampler sampler = Sampler.of(temperature, topK, topP, seed);
        Generator generator = new Generator(lm);
        Generator.Stats s;
        if (prompt.ids != null) {
            List<String> printed = new ArrayList<>();
            s = generator.generate(prompt.ids, maxNewTokens, sampler, id -> {
                out.print((printed.isEmpty() ? "" : " ") + id);
                out.flush();
                printed.add(Integer.toString(id));
            });
            out.println();
        } else {
            Path tokenizerFile = model.resolve("tokenizer.json");
            if (!Files.isRegularFile(tokenizerFile)) {
                throw new ParameterException(spec.commandLine(), "--prompt needs a tokenizer, but " + tokenizerFile
                        + " does not exist; give --prompt-ids instead, or put the model's tokenizer.json there");
            }
            Tokenizer tokenizer = Tokenizer.load(tokenizerFile);
            int[] ids = tokenizer.encode(prompt.text);
            out.print(prompt.text);
            List<Integer> generated = new ArrayList<>();
            String[] shown = {""};
            s = generator.generate(ids, maxNewTokens, sampler, id -> {
                generated.add(id);
                // Decode the whole continuation and print what is new: multi-byte characters span tokens.
                String text = tokenizer.decode(generated.stream().mapToInt(Integer::intValue).toArray());
                if (text.startsWith(shown[0]) && !text.endsWith("\uFFFD")) {
                    out.print(text.substring(shown[0].length()));
                    out.flush();
                    shown[0] = text;
                }
            });
            String text = tokenizer.decode(generated.stream().mapToInt(Integer::intValue).toArray());
            if (text.startsWith(shown[0])) out.print(text.substring(shown[0].length()));
            out.println();
        }
        if (stats) {
            err.printf("prompt %d tokens, prefill %.3f s; %d new tokens in %.3f s (%.1f tokens/s); decoding state %,d bytes (%s)%n",
                    s.promptTokens(), s.prefillSeconds(), s.newTokens(), s.decodeSeconds(), s.decodeTokensPerSecond(),
                    s.stateBytes(), Arrays.asList(lm.config.modelType()));
        }
        return 0;
    }
}
