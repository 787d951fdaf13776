package org.gsa4j.cuda;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Finds and loads the NVIDIA libraries gsa4j binds through the FFM API: the driver ({@code libcuda.so.1}),
 * NVRTC ({@code libnvrtc.so*}, after its {@code libnvrtc-builtins.so*}, which NVRTC opens by name itself),
 * cuBLASLt ({@code libcublasLt.so*}) and NCCL ({@code libnccl.so.2}).
 *
 * <p>Search order: the folders in {@value #PATH_VARIABLE} (colon-separated), then {@code $CUDA_HOME}
 * ({@code lib64}, {@code targets/<arch>-linux/lib}, {@code lib}), then {@code $LD_LIBRARY_PATH}, then the
 * usual places (the driver's folders {@code /usr/lib/x86_64-linux-gnu}, {@code /usr/local/nvidia/lib64},
 * {@code /usr/lib64}; the toolkits {@code /usr/local/cuda/...} and {@code /usr/local/cuda-X.Y/...}, newest
 * first), then the folders the linker cache ({@code ldconfig -p}) names. A library that is in none of them
 * is one {@link CudaException} line that names what was looked for and every place looked in.
 */
public final class CudaLibraries {

    /** Colon-separated folders searched before any other place. */
    public static final String PATH_VARIABLE = "GSA4J_CUDA_LIB_PATH";

    /**
     * One library to find: {@code preferred} file names are tried first in each folder, then any
     * {@code base.N[.M...]} (the highest major version, then the shortest name).
     */
    record Spec(String what, String base, List<String> preferred, boolean driverFirst) {
        String shownName() {
            return preferred.isEmpty() ? base + "*" : preferred.getFirst();
        }
    }

    static final Spec DRIVER = new Spec("the CUDA driver", "libcuda.so", List.of("libcuda.so.1", "libcuda.so"), true);
    static final Spec NVRTC = new Spec("NVRTC (the CUDA runtime compiler)", "libnvrtc.so", List.of("libnvrtc.so"), false);
    static final Spec NVRTC_BUILTINS = new Spec("NVRTC's builtins", "libnvrtc-builtins.so", List.of(), false);
    static final Spec CUBLAS_LT = new Spec("cuBLASLt", "libcublasLt.so", List.of("libcublasLt.so"), false);
    static final Spec NCCL = new Spec("NCCL", "libnccl.so", List.of("libnccl.so.2", "libnccl.so"), true);

    private static final Map<Spec, Object> LOADED = new HashMap<>();

    private CudaLibraries() {
    }

    /** The CUDA driver API library ({@code libcuda.so.1}). */
    static NativeLibrary driver() {
        return load(DRIVER);
    }

    /** NVRTC, with its builtins library loaded first from the same folder. */
    static NativeLibrary nvrtc() {
        return load(NVRTC);
    }

    /** cuBLASLt. */
    static NativeLibrary cublasLt() {
        return load(CUBLAS_LT);
    }

    /** NCCL. */
    static NativeLibrary nccl() {
        return load(NCCL);
    }

    /** Loads once per JVM; a failure is remembered and thrown again with the same message. */
    private static synchronized NativeLibrary load(Spec spec) {
        Object known = LOADED.get(spec);
        if (known == null) {
            try {
                Search search = Search.fromEnvironment();
                Path path = search.find(spec);
                if (spec == NVRTC) {
                    NativeLibrary.load(NVRTC_BUILTINS.what(), search.findBuiltinsFor(path));
                }
                known = NativeLibrary.load(spec.what(), path);
            } catch (CudaException e) {
                known = e;
            }
            LOADED.put(spec, known);
        }
        if (known instanceof CudaException e) {
            throw new CudaException(e.getMessage(), e);
        }
        return (NativeLibrary) known;
    }

    /** The search itself, with its inputs explicit so that tests can point it anywhere. */
    static final class Search {
        private final Map<String, String> env;
        private final boolean usualPlaces;
        private final List<Path> linkerCache;

        /**
         * @param env         the environment variables to read ({@value #PATH_VARIABLE}, CUDA_HOME, LD_LIBRARY_PATH)
         * @param usualPlaces whether to look in the system's usual folders as well
         * @param linkerCache library paths the linker cache lists, or null where it was not read
         */
        Search(Map<String, String> env, boolean usualPlaces, List<Path> linkerCache) {
            this.env = env;
            this.usualPlaces = usualPlaces;
            this.linkerCache = linkerCache;
        }

        static Search fromEnvironment() {
            return new Search(System.getenv(), true, readLinkerCache());
        }

        Path find(Spec spec) {
            List<Path> dirs = directories(spec);
            for (Path dir : dirs) {
                Path hit = bestIn(dir, spec);
                if (hit != null) {
                    return hit;
                }
            }
            throw notFound(spec, dirs);
        }

        /**
         * NVRTC opens {@code libnvrtc-builtins.so.MAJOR.MINOR} by name: the one of NVRTC's major version beside
         * it, else any beside it, else the search's.
         */
        Path findBuiltinsFor(Path nvrtc) {
            Path dir = nvrtc.toAbsolutePath().getParent();
            int major = majorVersion(NVRTC, realName(nvrtc));
            Path beside = major == Integer.MAX_VALUE ? null : bestIn(dir, NVRTC_BUILTINS, major);
            if (beside == null) {
                beside = bestIn(dir, NVRTC_BUILTINS);
            }
            return beside != null ? beside : find(NVRTC_BUILTINS);
        }

        List<Path> directories(Spec spec) {
            Set<Path> dirs = new LinkedHashSet<>();
            for (String dir : split(env.get(PATH_VARIABLE))) {
                dirs.add(Path.of(dir));
            }
            String cudaHome = env.get("CUDA_HOME");
            if (cudaHome != null && !cudaHome.isBlank()) {
                dirs.addAll(toolkitDirs(Path.of(cudaHome)));
            }
            for (String dir : split(env.get("LD_LIBRARY_PATH"))) {
                dirs.add(Path.of(dir));
            }
            if (usualPlaces) {
                List<Path> driverDirs = List.of(Path.of("/usr/lib/" + multiarch()), Path.of("/usr/local/nvidia/lib64"),
                        Path.of("/usr/lib64"), Path.of("/usr/lib/wsl/lib"));
                List<Path> toolkits = new ArrayList<>(toolkitDirs(Path.of("/usr/local/cuda")));
                for (Path home : versionedToolkits()) {
                    toolkits.addAll(toolkitDirs(home));
                }
                if (spec.driverFirst()) {
                    dirs.addAll(driverDirs);
                    dirs.addAll(toolkits);
                } else {
                    dirs.addAll(toolkits);
                    dirs.addAll(driverDirs);
                }
            }
            for (Path lib : linkerCache == null ? List.<Path>of() : linkerCache) {
                Path name = lib.getFileName();
                if (name != null && matches(spec, name.toString()) && lib.getParent() != null) {
                    dirs.add(lib.getParent());
                }
            }
            return new ArrayList<>(dirs);
        }

        private CudaException notFound(Spec spec, List<Path> dirs) {
            String variable = env.get(PATH_VARIABLE);
            StringBuilder where = new StringBuilder();
            for (Path dir : dirs) {
                where.append(where.isEmpty() ? "" : ", ").append(dir);
            }
            return new CudaException(spec.what() + " (" + spec.shownName() + ") not found: looked in "
                    + (dirs.isEmpty() ? "no folder" : where)
                    + (linkerCache == null ? " (the linker cache could not be read)" : " and the linker cache (ldconfig -p)")
                    + "; " + PATH_VARIABLE + (variable == null ? " is unset" : "=" + variable)
                    + ". Set " + PATH_VARIABLE + " to the folder that holds it.");
        }
    }

    /** The best match for {@code spec} in one folder, or null. */
    static Path bestIn(Path dir, Spec spec) {
        return bestIn(dir, spec, -1);
    }

    /** The best match of major version {@code major} (-1: any) for {@code spec} in one folder, or null. */
    static Path bestIn(Path dir, Spec spec, int major) {
        if (!Files.isDirectory(dir)) {
            return null;
        }
        for (String name : major < 0 ? spec.preferred() : List.<String>of()) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> matches(spec, p.getFileName().toString()) && Files.isRegularFile(p))
                    .filter(p -> major < 0 || majorVersion(spec, p.getFileName().toString()) == major)
                    .min(Comparator.comparingInt((Path p) -> -majorVersion(spec, p.getFileName().toString()))
                            .thenComparingInt(p -> p.getFileName().toString().length())
                            .thenComparing(p -> p.getFileName().toString()))
                    .orElse(null);
        } catch (IOException e) {
            return null;
        }
    }

    static boolean matches(Spec spec, String fileName) {
        return fileName.equals(spec.base()) || versionPattern(spec).matcher(fileName).matches();
    }

    /** The file name a link resolves to (libnvrtc.so -> libnvrtc.so.13.0.88). */
    private static String realName(Path file) {
        try {
            return file.toRealPath().getFileName().toString();
        } catch (IOException e) {
            return file.getFileName().toString();
        }
    }

    private static int majorVersion(Spec spec, String fileName) {
        Matcher m = versionPattern(spec).matcher(fileName);
        return m.matches() ? Integer.parseInt(m.group(1)) : Integer.MAX_VALUE;
    }

    private static Pattern versionPattern(Spec spec) {
        return Pattern.compile(Pattern.quote(spec.base()) + "\\.(\\d+)(\\.\\d+)*");
    }

    private static List<Path> toolkitDirs(Path home) {
        return List.of(home.resolve("lib64"), home.resolve("targets/" + targetName() + "/lib"), home.resolve("lib"));
    }

    /** {@code /usr/local/cuda-X.Y}, newest first. */
    private static List<Path> versionedToolkits() {
        Path local = Path.of("/usr/local");
        if (!Files.isDirectory(local)) {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(local)) {
            return entries.filter(p -> p.getFileName().toString().matches("cuda-\\d+(\\.\\d+)*"))
                    .sorted(Comparator.comparing((Path p) -> versionKey(p.getFileName().toString().substring(5))).reversed())
                    .toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static String versionKey(String version) {
        StringBuilder key = new StringBuilder();
        for (String part : version.split("\\.")) {
            key.append(String.format("%06d", Integer.parseInt(part)));
        }
        return key.toString();
    }

    private static List<String> split(String pathList) {
        if (pathList == null || pathList.isBlank()) {
            return List.of();
        }
        return Stream.of(pathList.split(":")).filter(s -> !s.isBlank()).toList();
    }

    private static boolean arm() {
        String arch = System.getProperty("os.arch");
        return arch.equals("aarch64") || arch.equals("arm64");
    }

    private static String multiarch() {
        return arm() ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
    }

    private static String targetName() {
        return arm() ? "sbsa-linux" : "x86_64-linux";
    }

    /** The library paths {@code ldconfig -p} lists, or null where it cannot be run. */
    static List<Path> readLinkerCache() {
        for (String ldconfig : List.of("/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig")) {
            if (ldconfig.startsWith("/") && !Files.isExecutable(Path.of(ldconfig))) {
                continue;
            }
            try {
                Process p = new ProcessBuilder(ldconfig, "-p").redirectErrorStream(true).start();
                List<Path> libs = new ArrayList<>();
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        int arrow = line.indexOf("=> ");
                        if (arrow >= 0) {
                            libs.add(Path.of(line.substring(arrow + 3).trim()));
                        }
                    }
                }
                if (p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0) {
                    return libs;
                }
                p.destroyForcibly();
            } catch (IOException e) {
                // not installed here: try the next name
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
        return null;
    }
}
