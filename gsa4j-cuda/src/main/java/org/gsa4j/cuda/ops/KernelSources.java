package org.gsa4j.cuda.ops;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/** The CUDA C sources under {@code org/gsa4j/cuda/kernels} in the jar, concatenated into one translation unit. */
public final class KernelSources {
    private KernelSources() {}

    public static String concat(String... names) {
        StringBuilder sb = new StringBuilder();
        for (String name : names) {
            try (InputStream in = KernelSources.class.getResourceAsStream("/org/gsa4j/cuda/kernels/" + name)) {
                if (in == null) throw new IllegalStateException("kernel source " + name + " is missing from the jar");
                sb.append("// ---- ").append(name).append('\n').append(new String(in.readAllBytes(), StandardCharsets.UTF_8)).append('\n');
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return sb.toString();
    }
}
