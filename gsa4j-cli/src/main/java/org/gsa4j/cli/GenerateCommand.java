package org.gsa4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.models.CudaCausalLM;
import org.gsa4j.cuda.models.CudaDecoder;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.data.Utf8;
import org.gsa4j.infer.Generator;
import org.gsa4j.infer.Sampler;
import org.gsa4j.infer.TensorCheck;
import org.gsa4j.infer.TextStream;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.tensor.Parallel;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/** {@code gsa4j generate}: prefill with the chunk form, then constant-memory recurrent steps. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Generate a continuation of a prompt from a Hugging Face model directory.",
                "Stops after --max-new-tokens, at the model's end-of-sequence token, or at a --stop string."})
public final class GenerateCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    DeviceOption device;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "DIR",
            description = "Model directory (config.json, *.safetensors, tokenizer.json); required.")
    Path model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Prompt prompt;

    static final class Prompt {
        @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT",
                description = "Prompt text; - reads it from standard input (needs tokenizer.json in the model directory).")
        String text;

        @Option(names = "--prompt-file", paramLabel = "FILE", description = "Read the prompt from a UTF-8 text file (any length).")
        Path file;

        @Option(names = "--prompt-ids", split = ",", paramLabel = "IDS",
                description = "Prompt as comma-separated token ids; the generated ids are printed (text too with a tokenizer and --json).")
        int[] ids;
    }

    /** Upper bound of --max-new-tokens. */
    static final int MAX_NEW_TOKENS = 1 << 20;

    @Option(names = {"-n", "--max-new-tokens"}, defaultValue = "64", paramLabel = "N",
            description = "Tokens to generate, at most 1048576 (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0.8", paramLabel = "X",
            description = "Sampling temperature, >= 0; 0 = greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", paramLabel = "K",
            description = "Sample among the k most likely tokens, >= 0; 0 = all (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", paramLabel = "P",
            description = "Nucleus sampling: the smallest set of tokens whose probability reaches P, in [0, 1] (default: ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--repetition-penalty", defaultValue = "1.0", paramLabel = "X",
            description = "transformers' repetition penalty, > 0: every token already in the prompt or output has its logit divided by X"
                    + " (multiplied when negative); 1 = off (default: ${DEFAULT-VALUE}).")
    double repetitionPenalty;

    @Option(names = {"-s", "--seed"}, defaultValue = "1234", paramLabel = "N", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--stop", paramLabel = "STR",
            description = "Stop when the text contains STR (repeatable); STR itself is not printed (default: none).")
    List<String> stops = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Go on past the end-of-sequence token (always --max-new-tokens tokens).")
    boolean ignoreEos;

    @Option(names = "--no-echo", description = "Print only the continuation, not the prompt.")
    boolean noEcho;

    @Option(names = "--json", description = "Print one JSON object at the end: text, ids, stop reason, timings.")
    boolean json;

    @Option(names = "--weights", defaultValue = "f32", paramLabel = "FORMAT",
            description = "Weights in memory: f32, or bf16 (matrices as bfloat16: half the bytes read per token) (default: ${DEFAULT-VALUE}).")
    String weights;

    @Option(names = "--check-tensors", description = "Scan every weight for NaN or infinity after loading; name the first bad tensor.")
    boolean checkTensors;

    @Option(names = "--stats", description = "Print timing and the decoding state's size to stderr.")
    boolean stats;

    @Override
    public Integer call() throws IOException {
        int gpu = device.gpu();
        if (maxNewTokens < 0 || maxNewTokens > MAX_NEW_TOKENS) {
            throw new ParameterException(spec.commandLine(), "--max-new-tokens must be in [0, " + MAX_NEW_TOKENS + "], got " + maxNewTokens);
        }
        ModelLoader.WeightFormat format = weightFormat(weights);
        if (gpu >= 0 && format != ModelLoader.WeightFormat.F32) {
            throw new ParameterException(spec.commandLine(), "--weights " + weights + " is the CPU engine's weight format; on the GPU use --precision bf16");
        }
        Sampler sampler = Sampler.of(temperature, topK, topP, seed); // checks the sampling options before the (slow) load
        if (!(repetitionPenalty > 0) || !Double.isFinite(repetitionPenalty)) {
            throw new ParameterException(spec.commandLine(), "--repetition-penalty must be a number > 0, got " + repetitionPenalty);
        }
        String promptText = promptText();
        CausalLM lm = ModelLoader.load(model, format);
        if (checkTensors) TensorCheck.requireFinite(lm, model.toString());
        try (CudaDevice d = gpu >= 0 ? CudaDevice.open(gpu) : null; CudaCausalLM onGpu = d != null ? CudaCausalLM.load(d, lm, device.precision()) : null) {
            generate(lm, onGpu != null ? new CudaDecoder(onGpu) : Generator.Decoder.of(lm), promptText, sampler,
                    d != null ? device.describe(d) : Parallel.threads() + " threads");
        }
        return 0;
    }

    /** Tokenizes the prompt, generates through {@code decoder} and prints as the options say. */
    private void generate(CausalLM lm, Generator.Decoder decoder, String promptText, Sampler sampler, String where) throws IOException {
        PrintStream out = System.out, err = System.err;
        Path tokenizerFile = model.resolve("tokenizer.json");
        boolean hasTokenizer = Files.isRegularFile(tokenizerFile);
        if (promptText != null && !hasTokenizer) {
            throw new ParameterException(spec.commandLine(), "a text prompt needs a tokenizer, but " + tokenizerFile
                    + " does not exist; give --prompt-ids instead, or put the model's tokenizer.json there");
        }
        try (Tokenizer tokenizer = hasTokenizer && (promptText != null || json) ? Tokenizer.loadFast(tokenizerFile) : null) {
            int[] ids = promptText != null ? tokenizer.encode(promptText) : prompt.ids;
            if (ids.length == 0) throw new Gsa4jException("the prompt is empty: it has no tokens");
            Generator generator = new Generator(decoder, new Generator.Options(ignoreEos ? new int[0] : eosIds(lm, tokenizer), repetitionPenalty));
            List<Integer> generated = new ArrayList<>();
            boolean streamText = promptText != null && !json;
            if (streamText && !noEcho) {
                out.print(promptText);
                out.flush();
            }
            TextStream text = tokenizer == null ? null : new TextStream(tokenizer, s -> {
                if (streamText) {
                    out.print(s);
                    out.flush();
                }
            }).context(ids).stopAt(stops);
            if (text == null && !stops.isEmpty()) throw new ParameterException(spec.commandLine(), "--stop needs the model's tokenizer.json");
            boolean printIds = promptText == null && !json;
            Generator.Stats s = generator.generate(ids, maxNewTokens, sampler, id -> {
                generated.add(id);
                if (printIds) {
                    out.print((generated.size() == 1 ? "" : " ") + id);
                    out.flush();
                }
                return text == null || text.accept(id);
            });
            if (text != null) text.finish();
            if (json) {
                out.println(json(promptText, ids, text, generated, s));
            } else {
                out.println();
            }
            if (stats) {
                err.printf("prompt %d tokens, prefill %.3f s; %d new tokens in %.3f s (%.1f tokens/s), stopped by %s; decoding state %,d bytes (%s, %s)%n",
                        s.promptTokens(), s.prefillSeconds(), s.newTokens(), s.decodeSeconds(), s.decodeTokensPerSecond(), s.stopReason().json(),
                        s.stateBytes(), lm.config.modelType(), where);
            }
        }
    }

    /** {@code --weights}: f32 or bf16. */
    static ModelLoader.WeightFormat weightFormat(String weights) {
        return switch (weights.toLowerCase(java.util.Locale.ROOT)) {
            case "f32" -> ModelLoader.WeightFormat.F32;
            case "bf16" -> ModelLoader.WeightFormat.BF16;
            default -> throw new Gsa4jException("--weights must be f32 or bf16, got '" + weights + "'");
        };
    }

    /** The prompt's text (from the argument, standard input or a file), or null for --prompt-ids. */
    private String promptText() throws IOException {
        if (prompt.ids != null) return null;
        if (prompt.file != null) {
            if (!Files.isRegularFile(prompt.file)) throw Gsa4jException.at(prompt.file, null, "no such prompt file");
            return Utf8.decode(Files.readAllBytes(prompt.file), prompt.file.toString());
        }
        if (prompt.text.equals("-")) return Utf8.decode(System.in.readAllBytes(), "standard input");
        return prompt.text;
    }

    /** End-of-sequence ids: the config's {@code eos_token_id} (a number or a list) and the tokenizer's. */
    static int[] eosIds(CausalLM lm, Tokenizer tokenizer) {
        Set<Integer> ids = new LinkedHashSet<>();
        JsonNode e = lm.config.toJson().path("eos_token_id");
        if (e.canConvertToInt()) ids.add(e.intValue());
        for (JsonNode x : e) if (x.canConvertToInt()) ids.add(x.intValue());
        if (tokenizer != null && tokenizer.eosId() >= 0) ids.add(tokenizer.eosId());
        ids.removeIf(id -> id < 0 || id >= lm.config.vocabSize());
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    private String json(String promptText, int[] promptIds, TextStream text, List<Integer> generated, Generator.Stats s) throws IOException {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode();
        if (promptText != null) o.put("prompt", promptText);
        o.put("prompt_tokens", promptIds.length);
        if (text != null) o.put("text", text.text());
        var ids = o.putArray("ids");
        generated.forEach(ids::add);
        o.put("stop_reason", s.stopReason().json());
        ObjectNode t = o.putObject("timings");
        t.put("prefill_seconds", s.prefillSeconds());
        t.put("decode_seconds", s.decodeSeconds());
        t.put("decode_tokens_per_second", s.decodeTokensPerSecond());
        o.put("state_bytes", s.stateBytes());
        return m.writeValueAsString(o);
    }
}
