package org.gsa4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import me.tongfei.progressbar.ProgressBar;
import org.gsa4j.Gsa4jException;
import org.gsa4j.data.Corpus;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.train.LmEval;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code gsa4j eval}: perplexity and bits per byte on a text of any length, in constant memory. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Perplexity and bits per byte of a model on a text file of any length.",
                "The text is streamed through the model's recurrent state in chunks (constant memory for the linear models)."})
public final class EvalCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Model directory (config.json, model.safetensors; a training checkpoint works).")
    Path model;

    @Option(names = "--text", paramLabel = "FILE", description = "UTF-8 text file; default: the embedded corpus' validation text (persuasion.txt).")
    Path text;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "tokenizer.json (default: the one in the model directory).")
    Path tokenizer;

    @Option(names = "--chunk", defaultValue = "1024", description = "Tokens per prefill chunk (default: ${DEFAULT-VALUE}).")
    int chunk;

    @Option(names = "--threads", defaultValue = "0", description = "Worker threads (0: all cores).")
    int threads;

    @Option(names = "--json", description = "Print the result as one JSON object.")
    boolean json;

    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Override
    public Integer call() throws IOException {
        CliSupport.threads(threads);
        if (chunk <= 0) throw new Gsa4jException("--chunk must be positive, is " + chunk);
        CausalLM lm = ModelLoader.load(model);
        Path tokFile = tokenizer != null ? tokenizer : model.resolve("tokenizer.json");
        if (!Files.isRegularFile(tokFile)) {
            throw Gsa4jException.at(tokFile, null, "no tokenizer: put the model's tokenizer.json there or pass --tokenizer");
        }
        try (Tokenizer tok = Tokenizer.loadFast(tokFile)) {
            if (tok.vocabSize() > lm.config.vocabSize()) {
                throw new Gsa4jException("the tokenizer " + tokFile + " has " + tok.vocabSize() + " tokens but the model's vocab_size is "
                        + lm.config.vocabSize() + ": they do not belong together");
            }
            Result r = evaluate(lm, tok, text, chunk, !noProgress && CliSupport.interactive());
            print(r, lm);
        }
        return 0;
    }

    record Result(String source, LmEval.Result r) {}

    static Result evaluate(CausalLM lm, Tokenizer tok, Path text, int chunk, boolean progress) throws IOException {
        long total;
        String source;
        String inline = null;
        if (text == null) {
            Corpus.Document d = Corpus.austen().validation();
            inline = d.text();
            total = d.utf8Bytes();
            source = "embedded " + d.name();
        } else {
            if (!Files.isRegularFile(text)) throw Gsa4jException.at(text, null, "no such text file");
            total = Files.size(text);
            if (total == 0) throw Gsa4jException.at(text, null, "the file is empty: nothing to evaluate");
            source = text.toString();
        }
        try (ProgressBar bar = progress ? CliSupport.bar("eval", total, 0, null) : null) {
            LmEval.Progress p = bar == null ? null : (bytes, tokens, nll) -> {
                bar.stepTo(bytes);
                if (tokens > 0) bar.setExtraMessage(String.format("%,d tokens, ppl %.2f", tokens, Math.exp(nll / tokens)));
            };
            LmEval.Result r = inline != null ? LmEval.evaluate(lm, tok, new StringReader(inline), chunk, p) : LmEval.evaluate(lm, tok, text, chunk, p);
            return new Result(source, r);
        }
    }

    private void print(Result res, CausalLM lm) throws IOException {
        LmEval.Result r = res.r();
        if (json) {
            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("text", res.source());
            o.put("model_type", lm.config.modelType());
            o.put("tokens", r.tokens());
            o.put("bytes", r.bytes());
            o.put("nll_nats", r.nllNats());
            o.put("perplexity", r.perplexity());
            o.put("bits_per_token", r.bitsPerToken());
            o.put("bits_per_byte", r.bitsPerByte());
            o.put("seconds", r.seconds());
            o.put("tokens_per_second", r.tokensPerSecond());
            o.put("chunk", r.chunk());
            o.put("state_bytes", r.stateBytes());
            System.out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(o));
        } else {
            System.out.printf("text %s: %,d bytes, %,d tokens scored%n", res.source(), r.bytes(), r.tokens());
            System.out.printf("perplexity %.3f, %.4f bits per token, %.4f bits per byte%n", r.perplexity(), r.bitsPerToken(), r.bitsPerByte());
            System.out.printf("%s, %,.0f tokens/s, chunks of %d, recurrent state %,d bytes%n", CliSupport.fmtSeconds(r.seconds()),
                    r.tokensPerSecond(), r.chunk(), r.stateBytes());
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
