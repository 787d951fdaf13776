package org.gsa4j.cli;

import org.gsa4j.config.ModelConfig;
import org.gsa4j.convert.TransformerToRnn.Options;
import org.gsa4j.convert.TransformerToRnn.Target;
import org.gsa4j.convert.TransformerToRnn;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code gsa4j convert}: a pretrained Llama/Mistral checkpoint into GSA, GLA or RetNet (T2R). */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = {"Convert a transformers Llama/Mistral checkpoint into GSA, GLA or RetNet (every softmax attention replaced).",
                "All other weights carry over; tensors are streamed one at a time."})
public final class ConvertCommand implements Callable<Integer> {

    @Option(names = "--from", required = true, paramLabel = "DIR", description = "Source Hugging Face directory (llama or mistral); required.")
    Path from;

    @Option(names = "--to", required = true, paramLabel = "ARCH", description = "Target architecture: ${COMPLETION-CANDIDATES}; required.")
    Target to;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory; required.")
    Path out;

    @Option(names = "--num-slots", paramLabel = "N", defaultValue = "64", description = "GSA slots per head (default: ${DEFAULT-VALUE}).")
    int numSlots;

    @Option(names = "--feature-map", paramLabel = "MAP", description = "Feature map on q and k: swish or relu for GSA (default swish); relu or none for GLA/RetNet (default relu).")
    String featureMap;

    @Option(names = {"-s", "--seed"}, paramLabel = "N", defaultValue = "0", description = "Seed for the new parameters (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--max-shard-size", paramLabel = "BYTES", defaultValue = "5000000000", description = "Largest output shard in bytes; 0 = one file (default: ${DEFAULT-VALUE}).")
    long maxShardBytes;

    @Override
    public Integer call() throws IOException {
        Options defaults = Options.defaults(to);
        Options options = new Options(to, numSlots, featureMap == null ? defaults.featureMap() : featureMap.toLowerCase(Locale.ROOT),
                seed, maxShardBytes);
        ModelConfig config = TransformerToRnn.convert(from, out, options);
        // The tokenizer is the Transformer's: copy it so that the new model generates text directly.
        for (String f : new String[] {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"}) {
            if (Files.isRegularFile(from.resolve(f))) Files.copy(from.resolve(f), out.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        System.err.printf("converted %s into %s: %s%n", from, config.modelType(), out);
        return 0;
    }
}
