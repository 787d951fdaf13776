package org.gsa4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.data.DataPrep;
import org.gsa4j.data.TokenFile;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.train.LmData;
import org.gsa4j.train.TrainingData;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code gsa4j window-eval}: validation loss, perplexity and bits per byte on the prepared validation
 * split (persuasion.txt's token file for the embedded corpus), in non-overlapping windows of the
 * training length, each from a zero state — exactly the trainer's validation, on more tokens. Unlike
 * {@code eval}, which runs the whole text through one state, it does not ask a model trained on short
 * windows to extrapolate to a long context (a softmax teacher with RoPE could not).
 */
@Command(name = "window-eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Loss, perplexity and bits/byte on the validation token file in windows of the training length (as the trainer validates).")
public final class WindowEvalCommand implements Callable<Integer> {

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "DIR", description = "Model directory (a checkpoint works); required.")
    Path model;

    @Option(names = "--data", paramLabel = "DIR", description = "Prepared data or .txt directory (default: the embedded Austen corpus).")
    Path data;

    @Option(names = "--vocab-size", paramLabel = "N", defaultValue = "4096", description = "BPE vocabulary of the prepared data (default: ${DEFAULT-VALUE}).")
    int vocabSize;

    @Option(names = "--window", paramLabel = "N", defaultValue = "128", description = "Tokens per window (default: ${DEFAULT-VALUE}).")
    int window;

    @Option(names = "--tokens", paramLabel = "N", defaultValue = "32768", description = "Predictions scored: the first ones of the validation split (default: ${DEFAULT-VALUE}).")
    int tokens;

    @Override
    public Integer call() throws IOException {
        if (window <= 0 || tokens <= 0) throw new Gsa4jException("--window and --tokens must be positive");
        CausalLM lm = ModelLoader.load(model);
        DataPrep.Result prep = TrainingData.load(data, vocabSize, null, TrainingData.defaultCacheDir(), System.err::println);
        Path own = model.resolve("tokenizer.json");
        if (Files.isRegularFile(own) && !java.util.Arrays.equals(Files.readAllBytes(own), Files.readAllBytes(prep.tokenizerPath()))) {
            throw new Gsa4jException(model + " was trained with another tokenizer than the data's " + prep.tokenizerPath());
        }
        try (TokenFile val = TokenFile.open(prep.validationPath()); Tokenizer tok = Tokenizer.loadFast(prep.tokenizerPath())) {
            long t0 = System.nanoTime();
            Map<String, Double> m = LmData.validator(val, 16, window, tokens).evaluate(lm);
            double secs = (System.nanoTime() - t0) / 1e9;
            // the scored predictions: tokens 1..n of the split, n = whole windows up to --tokens
            long n = 0;
            while (n < tokens && n + 1 < val.size()) n += Math.min(window, val.size() - 1 - n);
            int[] targets = new int[(int) n];
            val.read(1, targets, 0, targets.length);
            long bytes = tok.decode(targets).getBytes(StandardCharsets.UTF_8).length;
            double loss = m.get("val_loss");
            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("model", model.toString());
            o.put("model_type", lm.config.modelType());
            o.put("parameters", lm.params().values().stream().mapToLong(t -> t.size()).sum());
            o.put("validation", prep.validationPath().toString());
            o.put("window", window);
            o.put("tokens", n);
            o.put("bytes", bytes);
            o.put("loss", loss);
            o.put("perplexity", Math.exp(loss));
            o.put("bits_per_byte", loss * n / (Math.log(2) * bytes));
            o.put("seconds", secs);
            System.out.println(o);
        }
        return 0;
    }
}
