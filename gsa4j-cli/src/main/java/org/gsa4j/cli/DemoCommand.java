package org.gsa4j.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.config.ModelSize;
import org.gsa4j.data.DataPrep;
import org.gsa4j.data.TokenFile;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.infer.Generator;
import org.gsa4j.infer.Sampler;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.train.Checkpoints;
import org.gsa4j.train.LmData;
import org.gsa4j.train.TrainConfig;
import org.gsa4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code gsa4j demo}: the whole product in one command on a fresh machine — prepare the embedded
 * corpus, train a small GSA model for a few minutes, evaluate it against a unigram baseline, save
 * the checkpoint and loss plot, and sample a continuation.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a small GSA language model on Jane Austen from scratch (a few minutes on 2 cores),",
                "report validation perplexity and bits per byte against a unigram baseline, and sample from it."})
public final class DemoCommand implements Callable<Integer> {

    @Option(names = "--out", defaultValue = "runs/demo", paramLabel = "DIR", description = "Output directory, replaced on each run (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--minutes", defaultValue = "4", description = "Training time budget: the number of updates is set from the speed measured"
            + " over the first updates (default: ${DEFAULT-VALUE}).") double minutes;
    @Option(names = "--steps", description = "A fixed number of updates instead of a time budget (reproducible across machines).") Long steps;
    @Option(names = "--batch-size", defaultValue = "8") int batchSize;
    @Option(names = "--seq-len", defaultValue = "128") int seqLen;
    @Option(names = "--lr", defaultValue = "4e-3") double lr;
    @Option(names = "--hidden-size", defaultValue = "128") int hidden;
    @Option(names = "--layers", defaultValue = "2") int layers;
    @Option(names = "--heads", defaultValue = "4") int heads;
    @Option(names = "--slots", defaultValue = "32") int slots;
    @Option(names = "--vocab-size", defaultValue = "4096", description = "BPE vocabulary (default: ${DEFAULT-VALUE}).") int vocabSize;
    @Option(names = "--seed", defaultValue = "42") long seed;
    @Option(names = "--prompt", defaultValue = "It is a truth universally acknowledged, that") String prompt;
    @Option(names = "--max-new-tokens", defaultValue = "80") int maxNew;
    @Option(names = "--temperature", defaultValue = "0.8") double temperature;
    @Option(names = "--top-k", defaultValue = "40") int topK;
    @Option(names = "--threads", defaultValue = "0") int threads;
    @Option(names = "--no-progress") boolean noProgress;

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        int nThreads = CliSupport.threads(threads);
        PrintStream o = System.out, err = System.err;
        o.printf("gsa4j demo: a Gated Slot Attention language model trained from scratch on Jane Austen (%d threads)%n%n", nThreads);

        // 1. data (cached after the first run)
        long td = System.nanoTime();
        DataPrep.Result prep = CliSupport.data(null, vocabSize, null);
        double dataSeconds = (System.nanoTime() - td) / 1e9;
        o.printf("[1/4] data: %d training novels, %,d tokens; validation %s, %,d tokens; BPE vocabulary %d (%s)%n",
                prep.train().documents().size(), prep.train().tokens(), String.join(",", prep.validation().documents()),
                prep.validation().tokens(), prep.vocabSize(), CliSupport.fmtSeconds(dataSeconds));

        // 2. train
        Trainer.ensureWritable(out);
        Path ckRoot = out.resolve("checkpoints");
        if (Files.exists(ckRoot)) {
            for (Path p : Checkpoints.list(ckRoot)) deleteTree(p);
            Files.deleteIfExists(out.resolve("metrics.jsonl"));
        }
        ObjectNode mc = ModelRegistry.preset("gsa", new ModelSize(prep.vocabSize(), hidden, layers, heads, slots, 0)).toJson();
        CausalLM model = ModelLoader.create(mc, seed);
        long nParams = model.params().values().stream().mapToLong(t -> t.size()).sum();
        boolean budget = steps == null;
        if (budget && !(minutes > 0)) throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--minutes must be positive");
        TrainConfig tc = new TrainConfig();
        tc.steps = budget ? 100_000 : steps;  // with a budget: fixed after the first updates are timed
        tc.batchSize = batchSize;
        tc.seqLen = seqLen;
        tc.lr = lr;
        tc.warmupSteps = budget ? TrainCommand.BUDGET_PROBE_FROM : Math.max(1, steps / 20);
        tc.seed = seed;
        tc.evalEvery = budget ? 0 : Math.max(1, steps / 6);
        tc.evalTokens = 8192;
        tc.checkpointEvery = 0;
        tc.keepCheckpoints = 1;
        tc.validate(null);
        o.printf("[2/4] training GSA: %,d parameters (%d layers, hidden %d, %d heads, %d slots), %s of %d × %d tokens%n",
                nParams, layers, hidden, heads, slots, budget ? String.format("%.3g minutes of updates", minutes) : steps + " updates",
                batchSize, seqLen);
        Trainer.Result r;
        try (TokenFile train = TokenFile.open(prep.trainPath()); TokenFile val = TokenFile.open(prep.validationPath())) {
            r = TrainCommand.run(model, tc, LmData.train(train, batchSize, seqLen, seed), LmData.validator(val, batchSize, seqLen, tc.evalTokens),
                    out, Files.readAllBytes(prep.tokenizerPath()), null, !noProgress && CliSupport.interactive(), err, budget ? minutes * 60 : 0);
        }
        o.printf("      %d updates (%,d tokens) in %s, %,.0f tokens/s; training loss %.3f → %.3f%n", r.step(), r.step() * tc.tokensPerStep(),
                CliSupport.fmtSeconds(r.seconds()), r.tokensPerSecond(),
                r.losses().get(0), mean(r.losses().subList(Math.max(0, r.losses().size() - 20), r.losses().size())));

        // 3. evaluate on the whole validation novel, streamed through the recurrent state
        try (Tokenizer tok = Tokenizer.loadFast(prep.tokenizerPath())) {
            EvalCommand.Result ev = EvalCommand.evaluate(model, tok, null, 1024, !noProgress && CliSupport.interactive());
            double unigram = unigramBitsPerByte(prep, tok, model.config.vocabSize());
            var e = ev.r();
            o.printf("[3/4] validation (%s, %,d bytes, %,d tokens, %s): perplexity %.2f, %.3f bits per byte (unigram baseline: %.3f bits per byte)%n",
                    ev.source(), e.bytes(), e.tokens(), CliSupport.fmtSeconds(e.seconds()), e.perplexity(), e.bitsPerByte(), unigram);

            // 4. sample
            Path ck = r.lastCheckpoint();
            o.printf("[4/4] checkpoint %s (Hugging Face layout; try: ./gsa4j generate --model %s --prompt \"...\")%n      loss plot %s%n%n",
                    ck, ck, out.resolve("loss.png"));
            int[] ids = tok.encode(prompt);
            List<Integer> gen = new ArrayList<>();
            Generator.Stats s = new Generator(model).generate(ids, maxNew, Sampler.of(temperature, topK, 1.0, seed), gen::add);
            o.println(prompt + tok.decode(gen.stream().mapToInt(Integer::intValue).toArray()));
            o.printf("%n(sampled at temperature %.1f, top-k %d: %.1f tokens/s, decoding state %,d bytes)%n", temperature, topK,
                    s.decodeTokensPerSecond(), s.stateBytes());
        }
        o.printf("demo finished in %s%n", CliSupport.fmtSeconds((System.nanoTime() - t0) / 1e9));
        return 0;
    }

    private static double mean(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }

    /** Bits per byte of add-one-smoothed training-set token frequencies on the validation text. */
    static double unigramBitsPerByte(DataPrep.Result prep, Tokenizer tok, int vocab) {
        long[] counts = new long[vocab];
        long total = 0;
        try (TokenFile train = TokenFile.open(prep.trainPath())) {
            int[] buf = new int[1 << 16];
            for (long i = 0; i < train.size(); i += buf.length) {
                int n = (int) Math.min(buf.length, train.size() - i);
                train.read(i, buf, 0, n);
                for (int j = 0; j < n; j++) counts[buf[j]]++;
                total += n;
            }
        }
        String text = org.gsa4j.data.Corpus.austen().validation().text();
        double nll = 0;
        for (int id : tok.encode(text)) nll -= Math.log((counts[id] + 1.0) / (total + vocab));
        return nll / (Math.log(2) * text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
    }

    private static void deleteTree(Path dir) throws java.io.IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
