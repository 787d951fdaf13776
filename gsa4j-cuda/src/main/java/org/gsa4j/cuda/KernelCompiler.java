package org.gsa4j.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Compiles CUDA C++ kernels with NVRTC for one device's architecture and keeps the CUBINs in a disk cache.
 *
 * <p>Every compilation gets {@code --gpu-architecture=<device arch>} (e.g. {@code sm_90a} on an H200) and
 * {@link #DEFAULT_OPTIONS}, then the caller's options ({@code -DNAME=VALUE}, {@code -lineinfo}, ...).
 * Sources include nothing: no include paths are set.
 *
 * <p>The cache: one file per CUBIN, named by the SHA-256 of (source name, source, options, architecture,
 * driver version, NVRTC version), in {@code $GSA4J_CACHE_DIR}, else {@code $GSA4J_CACHE/cuda}, else
 * {@code ~/.cache/gsa4j/cuda}. Written to a temporary file and renamed, so a reader never sees half a
 * file; a cached CUBIN the driver refuses is compiled again.
 */
public final class KernelCompiler {

    /** Options every compilation gets after the architecture. */
    public static final List<String> DEFAULT_OPTIONS = List.of("--std=c++17", "-default-device");

    private final CudaDevice device;
    private final Path cacheDir;
    private final String nvrtcVersion;
    private int compilations;
    private int cacheHits;
    private boolean warnedAboutCache;

    /** A compiler for {@code device}, caching in the default folder. */
    public KernelCompiler(CudaDevice device) {
        this(device, defaultCacheDir(System.getenv()));
    }

    /** A compiler for {@code device}, caching in {@code cacheDir} (null: no cache). */
    public KernelCompiler(CudaDevice device, Path cacheDir) {
        this.device = device;
        this.cacheDir = cacheDir;
        CudaLibraries.nvrtc(); // a missing NVRTC: one clear line, not a class-initialisation error
        this.nvrtcVersion = Nvrtc.version();
    }

    /** The cache folder the environment names (see the class comment). */
    static Path defaultCacheDir(Map<String, String> env) {
        String dir = env.get("GSA4J_CACHE_DIR");
        if (dir != null && !dir.isBlank()) {
            return Path.of(dir);
        }
        String gsa4jCache = env.get("GSA4J_CACHE");
        if (gsa4jCache != null && !gsa4jCache.isBlank()) {
            return Path.of(gsa4jCache, "cuda");
        }
        return Path.of(System.getProperty("user.home"), ".cache", "gsa4j", "cuda");
    }

    /** The full option list for NVRTC. */
    public List<String> options(List<String> extraOptions) {
        List<String> all = new ArrayList<>();
        all.add("--gpu-architecture=" + device.archFlag());
        all.addAll(DEFAULT_OPTIONS);
        all.addAll(extraOptions);
        return all;
    }

    /**
     * The CUBIN of {@code source} (named {@code name} in messages), from the cache or compiled now. A
     * compile error throws with NVRTC's whole log.
     */
    public byte[] compile(String name, String source, List<String> extraOptions) {
        List<String> options = options(extraOptions);
        Path file = cacheFile(name, source, options);
        if (file != null && Files.isRegularFile(file)) {
            try {
                byte[] cached = Files.readAllBytes(file);
                synchronized (this) {
                    cacheHits++;
                }
                return cached;
            } catch (IOException e) {
                // unreadable: compile again
            }
        }
        byte[] cubin = Nvrtc.compile(name, source, options);
        synchronized (this) {
            compilations++;
        }
        if (file != null) {
            store(file, cubin);
        }
        return cubin;
    }

    /** Compiles (or takes from the cache) and loads {@code source} on the device. */
    public CudaModule load(String name, String source, String... extraOptions) {
        List<String> extra = List.of(extraOptions);
        byte[] cubin = compile(name, source, extra);
        try {
            return CudaModule.load(device, name, cubin);
        } catch (CudaException e) {
            Path file = cacheFile(name, source, options(extra));
            if (file == null || !Files.isRegularFile(file)) {
                throw e;
            }
            try {
                Files.deleteIfExists(file); // a damaged cache entry: build it anew
            } catch (IOException ignored) {
                throw e;
            }
            return CudaModule.load(device, name, compile(name, source, extra));
        }
    }

    /** How many sources NVRTC compiled, and how many came from the cache. */
    public synchronized int compilations() {
        return compilations;
    }

    public synchronized int cacheHits() {
        return cacheHits;
    }

    public String nvrtcVersion() {
        return nvrtcVersion;
    }

    private Path cacheFile(String name, String source, List<String> options) {
        if (cacheDir == null) {
            return null;
        }
        return cacheDir.resolve(cacheKey(name, source, options, device.archFlag(), device.driverVersion(), nvrtcVersion) + ".cubin");
    }

    /** The cache key: SHA-256 (hex) over every input that changes the binary, each length-prefixed. */
    static String cacheKey(String name, String source, List<String> options, String arch, int driverVersion,
                           String nvrtcVersion) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            field(sha, "gsa4j-cuda-cubin-1");
            field(sha, name);
            field(sha, source);
            field(sha, Integer.toString(options.size()));
            for (String option : options) {
                field(sha, option);
            }
            field(sha, arch);
            field(sha, Integer.toString(driverVersion));
            field(sha, nvrtcVersion);
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }

    private static void field(MessageDigest sha, String value) {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        sha.update(Integer.toString(bytes.length).getBytes(StandardCharsets.US_ASCII));
        sha.update((byte) ':');
        sha.update(bytes);
    }

    /** Writes the CUBIN to a temporary file beside {@code file} and renames it into place. */
    private void store(Path file, byte[] cubin) {
        Path tmp = null;
        try {
            Files.createDirectories(file.getParent());
            tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".tmp");
            Files.write(tmp, cubin);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // nothing more to do
                }
            }
            synchronized (this) {
                if (!warnedAboutCache) {
                    warnedAboutCache = true;
                    System.err.println("gsa4j: could not cache a compiled kernel in " + file.getParent() + ": " + e
                            + " (kernels are compiled again in the next run)");
                }
            }
        }
    }
}
