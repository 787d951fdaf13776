package org.gsa4j.reliability;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.Tag;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;

/**
 * Coverage-guided fuzzing of every loader with Jazzer (libFuzzer for the JVM), under the same
 * contract as the CI mutation fuzzer ({@link FuzzTargets}). Tagged {@code jazzer} and left out of
 * the default test run (the agent alone costs ~30 s on two cores); {@link LoaderFuzzCiTest} replays
 * the seeds and every crash input kept in {@code LoaderFuzzTestInputs/}. One target per run:
 * <pre>
 * JAZZER_FUZZ=1 mvn test -pl gsa4j-core -Dfuzz.excluded=none -Dgroups=jazzer -Dtest='LoaderFuzzTest#config' \
 *     -Djazzer.max_duration=10m
 * </pre>
 * (without {@code JAZZER_FUZZ=1} Jazzer only replays the inputs directory.)
 */
@Tag("jazzer")
class LoaderFuzzTest {
    private static FuzzTargets targets;

    private static synchronized FuzzTargets targets() {
        if (targets == null) {
            try {
                targets = new FuzzTargets(Files.createTempDirectory("gsa4j-jazzer"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return targets;
    }

    @FuzzTest(maxDuration = "2m")
    void safetensors(byte[] in) {
        targets().run(FuzzTargets.Target.SAFETENSORS, in);
    }

    @FuzzTest(maxDuration = "2m")
    void config(byte[] in) {
        targets().run(FuzzTargets.Target.CONFIG, in);
    }

    @FuzzTest(maxDuration = "2m")
    void index(byte[] in) {
        targets().run(FuzzTargets.Target.INDEX, in);
    }

    @FuzzTest(maxDuration = "2m")
    void weights(byte[] in) {
        targets().run(FuzzTargets.Target.WEIGHTS, in);
    }

    @FuzzTest(maxDuration = "2m")
    void tokenizer(byte[] in) {
        targets().run(FuzzTargets.Target.TOKENIZER, in);
    }

    @FuzzTest(maxDuration = "2m")
    void tokenFile(byte[] in) {
        targets().run(FuzzTargets.Target.TOKEN_FILE, in);
    }

    @FuzzTest(maxDuration = "2m")
    void trainConfig(byte[] in) {
        targets().run(FuzzTargets.Target.TRAIN_CONFIG, in);
    }
}
