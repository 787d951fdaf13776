package org.gsa4j.cli;

import org.gsa4j.train.Demo;
import org.gsa4j.train.LmEval;
import org.gsa4j.train.TrainConfig;
import org.gsa4j.train.Trainer;
import org.gsa4j.train.TrainingData;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code gsa4j demo}: the whole product in one command on a fresh machine. The pipeline is
 * {@link Demo}'s; this prints between its stages.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a small GSA language model on Jane Austen from scratch for a few minutes, evaluate it and sample from it.",
                "Reports validation perplexity and bits per byte against a unigram baseline, and saves the checkpoint and a loss plot."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--out", defaultValue = "runs/demo", paramLabel = "DIR",
            description = "Output directory; an earlier demo's checkpoints there are replaced (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--minutes", defaultValue = "4", paramLabel = "X", description = "Training time budget: the number of updates is set from"
            + " the speed measured over the first updates (default: ${DEFAULT-VALUE}).")
    double minutes;

    @Option(names = "--steps", paramLabel = "N",
            description = "A fixed number of updates instead of the time budget, reproducible across machines (default: the budget).")
    Long steps;

    @Option(names = "--batch-size", defaultValue = "8", paramLabel = "N", description = "Sequences per update (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--seq-len", defaultValue = "128", paramLabel = "N", description = "Tokens per training sequence (default: ${DEFAULT-VALUE}).")
    int seqLen;

    @Option(names = "--lr", defaultValue = "4e-3", paramLabel = "X", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--hidden-size", defaultValue = "128", paramLabel = "N", description = "Model width (default: ${DEFAULT-VALUE}).")
    int hiddenSize;

    @Option(names = "--num-hidden-layers", defaultValue = "2", paramLabel = "N", description = "Layers (default: ${DEFAULT-VALUE}).")
    int numHiddenLayers;

    @Option(names = "--num-heads", defaultValue = "4", paramLabel = "N", description = "Heads per layer (default: ${DEFAULT-VALUE}).")
    int numHeads;

    @Option(names = "--num-slots", defaultValue = "32", paramLabel = "N", description = "GSA memory slots per head (default: ${DEFAULT-VALUE}).")
    int numSlots;

    @Option(names = "--vocab-size", defaultValue = "4096", paramLabel = "N", description = "BPE vocabulary (default: ${DEFAULT-VALUE}).")
    int vocabSize;

    @Option(names = {"-s", "--seed"}, defaultValue = "42", paramLabel = "N",
            description = "Seed of the initialisation, the data order and the sample (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = {"-p", "--prompt"}, defaultValue = "It is a truth universally acknowledged, that", paramLabel = "TEXT",
            description = "Prompt of the sample (default: ${DEFAULT-VALUE}).")
    String prompt;

    @Option(names = {"-n", "--max-new-tokens"}, defaultValue = "80", paramLabel = "N", description = "Tokens sampled (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0.8", paramLabel = "X", description = "Sampling temperature (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "40", paramLabel = "N", description = "Sample among the k most likely tokens (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--no-progress", description = "Plain log lines instead of progress bars (redirected output always gets lines).")
    boolean noProgress;

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        PrintStream o = System.out, err = System.err;
        Demo.Options options = new Demo.Options(minutes, steps, batchSize, seqLen, lr, hiddenSize, numHiddenLayers, numHeads, numSlots, vocabSize,
                seed, prompt, maxNewTokens, temperature, topK);
        o.printf("gsa4j demo: a Gated Slot Attention language model trained from scratch on Jane Austen (%d threads)%n%n",
                org.gsa4j.tensor.Parallel.threads());
        try (Demo demo = Demo.prepare(options, out, TrainingData.defaultCacheDir(), err::println)) {
            var prep = demo.data();
            o.printf("[1/4] data: %d training novels, %,d tokens; validation %s, %,d tokens; BPE vocabulary %d (%s)%n",
                    prep.train().documents().size(), prep.train().tokens(), String.join(",", prep.validation().documents()),
                    prep.validation().tokens(), prep.vocabSize(), CliSupport.fmtSeconds(demo.dataSeconds()));

            TrainConfig tc = demo.config();
            o.printf("[2/4] training GSA: %,d parameters (%d layers, hidden %d, %d heads, %d slots), %s of %d × %d tokens%n",
                    demo.parameters(), numHiddenLayers, hiddenSize, numHeads, numSlots,
                    steps == null ? String.format("%.3g minutes of updates", minutes) : steps + " updates", batchSize, seqLen);
            Trainer.Result r;
            try (TrainProgress progress = new TrainProgress(CliSupport.progressBar(noProgress), tc.tokensPerStep(), err)) {
                r = CliSupport.runTrainer(demo.trainer(progress), true, err);
            }
            o.printf("      %d updates (%,d tokens) in %s, %,.0f tokens/s; training loss %.3f → %.3f%n", r.step(), r.step() * tc.tokensPerStep(),
                    CliSupport.fmtSeconds(r.seconds()), r.tokensPerSecond(),
                    r.losses().get(0), mean(r.losses().subList(Math.max(0, r.losses().size() - 20), r.losses().size())));

            Demo.Evaluation ev;
            long textBytes = org.gsa4j.data.Corpus.austen().validation().utf8Bytes();
            try (EvalProgress progress = new EvalProgress(CliSupport.progressBar(noProgress), textBytes, err)) {
                ev = demo.evaluate(progress);
            }
            LmEval.Result e = ev.result();
            o.printf("[3/4] validation (%s, %,d bytes, %,d tokens, %s): perplexity %.2f, %.3f bits per byte (unigram baseline: %.3f bits per byte)%n",
                    ev.source(), e.bytes(), e.tokens(), CliSupport.fmtSeconds(e.seconds()), e.perplexity(), e.bitsPerByte(), ev.unigramBitsPerByte());

            Path ck = r.lastCheckpoint();
            o.printf("[4/4] checkpoint %s (Hugging Face layout; try: ./gsa4j generate --model %s --prompt \"...\")%n      loss plot %s%n%n",
                    ck, ck, out.resolve("loss.png"));
            Demo.Sample s = demo.sample();
            o.println(s.prompt() + s.continuation());
            o.printf("%n(sampled at temperature %.1f, top-k %d: %.1f tokens/s, decoding state %,d bytes)%n", temperature, topK,
                    s.stats().decodeTokensPerSecond(), s.stats().stateBytes());
        }
        o.printf("demo finished in %s%n", CliSupport.fmtSeconds((System.nanoTime() - t0) / 1e9));
        return 0;
    }

    private static double mean(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }
}
