package org.gsa4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.models.CudaCausalLM;
import org.gsa4j.cuda.models.CudaTokenScorer;
import org.gsa4j.data.Corpus;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.train.LmEval;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code gsa4j eval}: perplexity and bits per byte on a text of any length, in constant memory. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Perplexity and bits per byte of a model on a text file of any length, beside a unigram baseline.",
                "The text is streamed through the model's recurrent state in chunks (constant memory for the linear models).",
                "The baseline is a unigram model of the text's own token frequencies: a model that does not beat it learned no context."})
public final class EvalCommand implements Callable<Integer> {

    @Mixin
    DeviceOption device;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "DIR",
            description = "Model directory (config.json, model.safetensors; a training checkpoint works); required.")
    Path model;

    @Option(names = "--text", paramLabel = "FILE",
            description = "UTF-8 text file (default: the embedded corpus' validation text, persuasion.txt).")
    Path text;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "tokenizer.json (default: the one in the model directory).")
    Path tokenizer;

    @Option(names = "--chunk", defaultValue = "1024", paramLabel = "N", description = "Tokens per prefill chunk (default: ${DEFAULT-VALUE}).")
    int chunk;

    @Option(names = "--max-tokens", paramLabel = "N", description = "Score only the first N tokens of the text (default: all).")
    Long maxTokens;

    @Option(names = "--weights", defaultValue = "f32", paramLabel = "FORMAT",
            description = "Weights in memory: f32, or bf16 (matrices as bfloat16: half the memory) (default: ${DEFAULT-VALUE}).")
    String weights;

    @Option(names = "--json", description = "Print the result as one JSON object.")
    boolean json;

    @Option(names = "--no-progress", description = "No progress bar or progress lines.")
    boolean noProgress;

    @Override
    public Integer call() throws IOException {
        int gpu = device.gpu();
        if (chunk <= 0) throw new Gsa4jException("--chunk must be positive, is " + chunk);
        if (maxTokens != null && maxTokens <= 0) throw new Gsa4jException("--max-tokens must be positive, is " + maxTokens);
        ModelLoader.WeightFormat format = GenerateCommand.weightFormat(weights);
        if (gpu >= 0 && format != ModelLoader.WeightFormat.F32) {
            throw new Gsa4jException("--weights " + weights + " is the CPU engine's weight format; on the GPU use --precision bf16");
        }
        CausalLM lm = ModelLoader.load(model, format);
        Path tokFile = tokenizer != null ? tokenizer : model.resolve("tokenizer.json");
        if (!Files.isRegularFile(tokFile)) {
            throw Gsa4jException.at(tokFile, null, "no tokenizer: put the model's tokenizer.json there or pass --tokenizer");
        }
        try (Tokenizer tok = Tokenizer.loadFast(tokFile)) {
            if (tok.vocabSize() > lm.config.vocabSize()) {
                throw new Gsa4jException("the tokenizer " + tokFile + " has " + tok.vocabSize() + " tokens but the model's vocab_size is "
                        + lm.config.vocabSize() + ": they do not belong together");
            }
            if (text != null && !Files.isRegularFile(text)) throw Gsa4jException.at(text, null, "no such text file");
            if (gpu < 0) {
                evaluate(new LmEval.Scorer(lm, chunk), lm, tok, null);
            } else {
                try (CudaDevice d = CudaDevice.open(gpu); CudaCausalLM onGpu = CudaCausalLM.load(d, lm, device.precision());
                     CudaTokenScorer scorer = new CudaTokenScorer(onGpu, chunk)) {
                    evaluate(scorer, lm, tok, device.describe(d));
                }
            }
        }
        return 0;
    }

    /** Scores the text through {@code scorer} and prints the result; {@code gpu} names the GPU (null: the CPU). */
    private void evaluate(LmEval.TokenScorer scorer, CausalLM lm, Tokenizer tok, String gpu) throws IOException {
        long limit = maxTokens == null ? Long.MAX_VALUE : maxTokens;
        int vocab = lm.config.vocabSize();
        String source;
        LmEval.Result r;
        if (text == null) {
            Corpus.Document d = Corpus.austen().validation();
            source = "embedded " + d.name();
            try (EvalProgress p = progress(d.utf8Bytes())) {
                r = LmEval.evaluate(scorer, vocab, tok, new StringReader(d.text()), limit, p);
            }
        } else {
            source = text.toString();
            try (EvalProgress p = progress(Files.size(text))) {
                r = LmEval.evaluate(scorer, vocab, tok, text, limit, p);
            }
        }
        print(source, r, lm, gpu);
    }

    private EvalProgress progress(long bytes) {
        return noProgress ? null : new EvalProgress(CliSupport.progressBar(false), bytes, System.err);
    }

    private void print(String source, LmEval.Result r, CausalLM lm, String gpu) throws IOException {
        if (json) {
            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("text", source);
            o.put("model_type", lm.config.modelType());
            o.put("tokens", r.tokens());
            o.put("bytes", r.bytes());
            o.put("nll_nats", r.nllNats());
            o.put("perplexity", r.perplexity());
            o.put("bits_per_token", r.bitsPerToken());
            o.put("bits_per_byte", r.bitsPerByte());
            o.put("unigram_bits_per_byte", r.unigramBitsPerByte());
            o.put("seconds", r.seconds());
            o.put("tokens_per_second", r.tokensPerSecond());
            o.put("chunk", r.chunk());
            o.put("state_bytes", r.stateBytes());
            o.put("device", gpu == null ? "cpu" : gpu);
            System.out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(o));
        } else {
            System.out.printf("text %s: %,d bytes, %,d tokens scored%n", source, r.bytes(), r.tokens());
            System.out.printf("perplexity %.3f, %.4f bits per token, %.4f bits per byte (unigram baseline: %.4f bits per byte)%n",
                    r.perplexity(), r.bitsPerToken(), r.bitsPerByte(), r.unigramBitsPerByte());
            System.out.printf("%s, %,.0f tokens/s, chunks of %d, recurrent state %,d bytes%s%n", CliSupport.fmtSeconds(r.seconds()),
                    r.tokensPerSecond(), r.chunk(), r.stateBytes(), gpu == null ? "" : ", on " + gpu);
        }
    }
}
