package org.gsa4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.ConfigReader;
import org.gsa4j.io.HfModelDir;

import java.nio.file.Path;
import java.util.Locale;

/**
 * Resource limits checked before a model is built: a config may not size anything from a field the
 * checkpoint cannot back (a layer count larger than its tensor count), and a model must fit the
 * heap — checked up front from the safetensors headers, with both sizes in the message, instead of
 * an OutOfMemoryError halfway through reading.
 */
public final class Limits {
    private Limits() {}

    /** Layers a config may ask for when no checkpoint bounds it (a fresh model). */
    public static final int MAX_LAYERS = 4096;

    /** Heap headroom kept free beyond the weights (activations, the decoding state, the JIT). */
    static final long HEADROOM = 64L << 20;

    /** num_hidden_layers must not exceed {@code max} (checked before any per-layer object is made). */
    static void checkLayerCount(ConfigReader c, long max, String why) {
        JsonNode n = c.root().get("num_hidden_layers");
        if (n != null && n.isNumber() && n.asDouble() > max) {
            throw c.error("num_hidden_layers", n + " layers cannot be right: " + why);
        }
    }

    static long numel(int[] shape) {
        long n = 1;
        for (int s : shape) n *= s;
        return n;
    }

    /** Bytes the directory's tensors take as float32 (what the loader holds in memory). */
    static long float32Bytes(HfModelDir hf) {
        long bytes = 0;
        for (String name : hf.tensorNames()) bytes += 4L * numel(hf.shape(name));
        return bytes;
    }

    /** Heap the JVM can still give: the -Xmx limit minus what is in use now. */
    public static long availableHeap() {
        Runtime rt = Runtime.getRuntime();
        return rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
    }

    /** Fails with both sizes when {@code bytes} more would not fit in the heap. */
    static void checkFits(Path file, long bytes, String what) {
        long available = availableHeap() - HEADROOM;
        if (bytes > available) {
            // "In use" counts garbage not yet collected: collect once before refusing.
            System.gc();
            available = availableHeap() - HEADROOM;
        }
        if (bytes > available) {
            throw Gsa4jException.at(file, null, String.format(Locale.ROOT,
                    "%s need %,d bytes (%s) but the JVM has only %,d bytes (%s) of heap available (-Xmx %s): "
                            + "run with a larger -Xmx (e.g. JAVA_TOOL_OPTIONS=-Xmx%dg) or on a machine with more memory",
                    what, bytes, human(bytes), Math.max(0, available), human(Math.max(0, available)),
                    human(Runtime.getRuntime().maxMemory()), (bytes + HEADROOM + (1L << 30) - 1) / (1L << 30) + 1));
        }
    }

    static String human(long bytes) {
        if (bytes < 1L << 20) return bytes + " B";
        if (bytes < 1L << 30) return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }
}
