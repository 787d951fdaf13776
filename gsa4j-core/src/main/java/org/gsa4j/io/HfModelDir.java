package org.gsa4j.io;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.tensor.Tensor;

import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A Hugging Face model directory: {@code config.json} plus weights in {@code model.safetensors} or
 * in shards listed by {@code model.safetensors.index.json} (as {@code transformers} looks for them:
 * the single file first, then the index). Tensors are read lazily from memory-mapped files.
 *
 * <p>Everything a user can get wrong in the directory is a {@link Gsa4jException} naming the file
 * and the field or tensor: a missing or malformed config, a wrongly typed config field, a malformed
 * index, a shard name that escapes the directory, a missing shard, a tensor listed but absent, a
 * missing tensor, a tensor of the wrong shape.
 */
public final class HfModelDir implements Closeable {

    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";
    private static final Pattern SHARD = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");

    static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final Path dir;
    private final JsonNode configJson;
    private final Path weightsSource; // model.safetensors or the index
    private final List<SafeTensors> shards;
    private final Map<String, SafeTensors> byName; // tensor name → the file holding it

    private HfModelDir(Path dir, JsonNode configJson, Path weightsSource, List<SafeTensors> shards, Map<String, SafeTensors> byName) {
        this.dir = dir;
        this.configJson = configJson;
        this.weightsSource = weightsSource;
        this.shards = shards;
        this.byName = byName;
    }

    // ------------------------------------------------------------------------------------------
    // Opening
    // ------------------------------------------------------------------------------------------

    public static HfModelDir open(Path dir) {
        if (!Files.isDirectory(dir)) throw Gsa4jException.at(dir, null, "is not a directory (a model directory holds config.json and model.safetensors)");
        JsonNode config = readJson(dir.resolve(CONFIG));
        Path single = dir.resolve(WEIGHTS);
        Path index = dir.resolve(INDEX);
        List<SafeTensors> opened = new ArrayList<>();
        try {
            if (Files.exists(single)) {
                SafeTensors st = SafeTensors.open(single);
                opened.add(st);
                Map<String, SafeTensors> byName = new LinkedHashMap<>();
                for (String n : st.names()) byName.put(n, st);
                return new HfModelDir(dir, config, single, List.copyOf(opened), Collections.unmodifiableMap(byName));
            }
            if (Files.exists(index)) {
                Map<String, SafeTensors> byName = openShards(dir, index, opened);
                return new HfModelDir(dir, config, index, List.copyOf(opened), byName);
            }
            String hint = Files.exists(dir.resolve("pytorch_model.bin")) || Files.exists(dir.resolve("pytorch_model.bin.index.json"))
                    ? " (found PyTorch pickle weights, which are not read: convert them to safetensors)" : "";
            throw Gsa4jException.at(dir, null, "no " + WEIGHTS + " or " + INDEX + hint);
        } catch (RuntimeException e) {
            for (SafeTensors st : opened) st.close();
            throw e;
        }
    }

    private static Map<String, SafeTensors> openShards(Path dir, Path index, List<SafeTensors> opened) {
        JsonNode root = readJson(index);
        if (!root.isObject()) throw Gsa4jException.at(index, null, "must be a JSON object, found " + SafeTensors.kind(root));
        JsonNode wm = root.get("weight_map");
        if (wm == null || wm.isNull()) throw Gsa4jException.at(index, "weight_map", "missing");
        if (!wm.isObject()) throw Gsa4jException.at(index, "weight_map", "must be an object of tensor name → shard file, found " + SafeTensors.kind(wm));
        Map<String, SafeTensors> files = new LinkedHashMap<>();
        Map<String, SafeTensors> byName = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : wm.properties()) {
            String tensor = e.getKey();
            JsonNode v = e.getValue();
            if (!v.isTextual()) throw Gsa4jException.at(index, "weight_map." + tensor, "shard file must be a string, found " + SafeTensors.kind(v));
            String shard = v.textValue();
            Path file = safeShardPath(dir, index, tensor, shard);
            SafeTensors st = files.get(shard);
            if (st == null) {
                if (!Files.isRegularFile(file)) {
                    throw Gsa4jException.at(index, "weight_map." + tensor, "shard file '" + shard + "' does not exist in " + dir);
                }
                st = SafeTensors.open(file);
                opened.add(st);
                files.put(shard, st);
            }
            if (!st.contains(tensor)) {
                throw Gsa4jException.at(index, "weight_map." + tensor, "tensor is listed in shard '" + shard + "' but " + file + " does not contain it");
            }
            byName.put(tensor, st);
        }
        return Collections.unmodifiableMap(byName);
    }

    /** The shard path, refusing names that are absolute or climb out of the directory. */
    static Path safeShardPath(Path dir, Path index, String tensor, String shard) {
        String field = "weight_map." + tensor;
        if (shard.isEmpty() || shard.indexOf('\0') >= 0) throw Gsa4jException.at(index, field, "invalid shard file name '" + shard + "'");
        if (shard.startsWith("/") || shard.startsWith("\\") || shard.matches("^[A-Za-z]:.*")) {
            throw Gsa4jException.at(index, field, "shard file '" + shard + "' is an absolute path; only names inside the model directory are allowed");
        }
        for (String part : shard.split("[/\\\\]")) {
            if (part.equals("..")) {
                throw Gsa4jException.at(index, field, "shard file '" + shard + "' escapes the model directory ('..')");
            }
        }
        Path p;
        try {
            p = dir.resolve(shard).normalize();
        } catch (java.nio.file.InvalidPathException ex) {
            throw Gsa4jException.at(index, field, "invalid shard file name '" + shard + "': " + ex.getMessage());
        }
        if (p.isAbsolute() != dir.isAbsolute() || !p.startsWith(dir.normalize())) {
            throw Gsa4jException.at(index, field, "shard file '" + shard + "' escapes the model directory");
        }
        return p;
    }

    static JsonNode readJson(Path file) {
        if (!Files.exists(file)) throw Gsa4jException.at(file, null, "missing");
        if (!Files.isRegularFile(file)) throw Gsa4jException.at(file, null, "is not a regular file");
        try {
            long size = Files.size(file);
            if (size > SafeTensors.MAX_HEADER_BYTES) throw Gsa4jException.at(file, null, "is " + size + " bytes, too large for a JSON file");
            JsonNode n = JSON.readTree(Files.readAllBytes(file));
            if (n == null || n.isMissingNode()) throw Gsa4jException.at(file, null, "is empty");
            if (!n.isObject()) throw Gsa4jException.at(file, null, "must be a JSON object, found " + SafeTensors.kind(n));
            return n;
        } catch (IOException e) {
            throw Gsa4jException.at(file, null, "invalid JSON: " + SafeTensors.jsonMessage(e), e);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Config
    // ------------------------------------------------------------------------------------------

    public Path dir() {
        return dir;
    }

    public Path configFile() {
        return dir.resolve(CONFIG);
    }

    /** The config.json object (typed, checked reads: {@code config.ConfigReader}). */
    public JsonNode configJson() {
        return configJson;
    }

    public String modelType() {
        JsonNode t = configJson.get("model_type");
        return t != null && t.isTextual() ? t.asText() : null;
    }

    // ------------------------------------------------------------------------------------------
    // Tensors
    // ------------------------------------------------------------------------------------------

    /** model.safetensors, or the index file for a sharded checkpoint. */
    public Path weightsFile() {
        return weightsSource;
    }

    public boolean sharded() {
        return weightsSource.getFileName().toString().equals(INDEX);
    }

    /** The safetensors files in use (one, or every shard). */
    public List<Path> weightFiles() {
        return shards.stream().map(SafeTensors::file).toList();
    }

    public Set<String> tensorNames() {
        return byName.keySet();
    }

    public boolean has(String name) {
        return byName.containsKey(name);
    }

    private SafeTensors holder(String name) {
        SafeTensors st = byName.get(name);
        if (st == null) throw Gsa4jException.at(weightsSource, null, "missing tensor " + name);
        return st;
    }

    /** The file holding the tensor. */
    public Path fileOf(String name) {
        return holder(name).file();
    }

    public int[] shape(String name) {
        return holder(name).entry(name).shape().clone();
    }

    public SafeTensors.DType dtype(String name) {
        return holder(name).entry(name).dtype();
    }

    /** The tensor as float32, whatever its stored dtype. */
    public Tensor f32(String name) {
        return holder(name).f32(name);
    }

    /** The tensor as bfloat16 bits (copied if stored so, else rounded). */
    public Tensor bf16(String name) {
        return holder(name).bf16(name);
    }

    /** The tensor as float64, whatever its stored dtype. */
    public Tensor f64(String name) {
        return holder(name).f64(name);
    }

    /** The tensor as float32, after checking it has exactly {@code shape}. */
    public Tensor expect(String name, int... shape) {
        SafeTensors st = holder(name);
        int[] actual = st.entry(name).shape();
        if (!Arrays.equals(actual, shape)) {
            throw Gsa4jException.at(st.file(), name, "shape " + Arrays.toString(actual) + " does not match the expected "
                    + Arrays.toString(shape) + " (config " + configFile() + ")");
        }
        return st.f32(name);
    }

    @Override
    public void close() {
        for (SafeTensors st : shards) st.close();
    }

    // ------------------------------------------------------------------------------------------
    // Saving
    // ------------------------------------------------------------------------------------------

    /** config.json + a single model.safetensors, every tensor as {@code dtype}. */
    public static void save(Path dir, JsonNode config, Map<String, Tensor> weights, SafeTensors.DType dtype) {
        save(dir, config, weights, n -> dtype, 0);
    }

    /** As above with the config given as a map (converted by Jackson). */
    public static void save(Path dir, Map<String, ?> config, Map<String, Tensor> weights, SafeTensors.DType dtype) {
        save(dir, JSON.valueToTree(config), weights, n -> dtype, 0);
    }

    /**
     * config.json (written as {@code transformers} does: sorted keys, indent 2) and the weights.
     * With {@code maxShardBytes > 0} the weights are split as {@code huggingface_hub} does (greedy, in
     * the map's iteration order; a tensor larger than the limit gets a shard of its own) into
     * {@code model-0000i-of-0000n.safetensors} plus {@code model.safetensors.index.json}; a split that
     * yields one shard is written as plain {@code model.safetensors}. Stale weights from an earlier
     * save (a single file, an index, old shards) are removed so they cannot shadow the new ones.
     * Every file is written atomically.
     */
    public static void save(Path dir, JsonNode config, Map<String, Tensor> weights, Function<String, SafeTensors.DType> dtypeOf,
                            long maxShardBytes) {
        if (weights == null) throw Gsa4jException.at(dir.resolve(WEIGHTS), null, "no weights given");
        Map<String, SafeTensors.Pending> pending = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : weights.entrySet()) {
            Tensor t = e.getValue();
            if (t == null) throw Gsa4jException.at(dir.resolve(WEIGHTS), e.getKey(), "tensor is null");
            pending.put(e.getKey(), new SafeTensors.Pending(dtypeOf.apply(e.getKey()), t.shape, () -> t));
        }
        saveStreaming(dir, config, pending, maxShardBytes);
    }

    /**
     * {@link #save(Path, JsonNode, Map, Function, long)} for tensors produced one at a time when
     * they are written (a conversion holds one tensor in memory, not the model).
     */
    public static void saveStreaming(Path dir, JsonNode config, Map<String, SafeTensors.Pending> weights, long maxShardBytes) {
        if (config == null || !config.isObject()) throw Gsa4jException.at(dir.resolve(CONFIG), null, "config must be a JSON object");
        if (weights == null) throw Gsa4jException.at(dir.resolve(WEIGHTS), null, "no weights given");
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw Gsa4jException.at(dir, null, "cannot create directory: " + e, e);
        }
        List<Map<String, SafeTensors.Pending>> shards = split(weights, maxShardBytes);
        AtomicFiles.write(dir.resolve(CONFIG), PyJson.dumps(config).getBytes(StandardCharsets.UTF_8));
        if (shards.size() <= 1) {
            SafeTensors.writeStreaming(dir.resolve(WEIGHTS), shards.isEmpty() ? Map.of() : shards.get(0), null);
            deleteStale(dir, Set.of(WEIGHTS));
            return;
        }
        int n = shards.size();
        Map<String, String> weightMap = new TreeMap<>();
        long total = 0;
        List<String> names = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String name = String.format("model-%05d-of-%05d.safetensors", i + 1, n);
            names.add(name);
            SafeTensors.writeStreaming(dir.resolve(name), shards.get(i), null);
            for (Map.Entry<String, SafeTensors.Pending> e : shards.get(i).entrySet()) {
                weightMap.put(e.getKey(), name);
                total += bytes(e.getValue());
            }
        }
        // A single model.safetensors would win over the index when loading: remove it first.
        try {
            Files.deleteIfExists(dir.resolve(WEIGHTS));
        } catch (IOException e) {
            throw Gsa4jException.at(dir.resolve(WEIGHTS), null, "cannot remove the stale single-file weights: " + e, e);
        }
        ObjectNode index = JSON.createObjectNode();
        index.putObject("metadata").put("total_size", total);
        ObjectNode wm = index.putObject("weight_map");
        weightMap.forEach(wm::put);
        AtomicFiles.write(dir.resolve(INDEX), PyJson.dumps(index).getBytes(StandardCharsets.UTF_8));
        List<String> keep = new ArrayList<>(names);
        keep.add(INDEX);
        deleteStale(dir, Set.copyOf(keep));
    }

    private static long bytes(SafeTensors.Pending p) {
        return (long) Tensor.sizeOf(p.shape()) * p.dtype().bytes;
    }

    /** huggingface_hub's split_state_dict_into_shards: greedy in iteration order. */
    static List<Map<String, SafeTensors.Pending>> split(Map<String, SafeTensors.Pending> weights, long max) {
        List<Map<String, SafeTensors.Pending>> out = new ArrayList<>();
        Map<String, SafeTensors.Pending> cur = new LinkedHashMap<>();
        long curSize = 0;
        for (Map.Entry<String, SafeTensors.Pending> e : weights.entrySet()) {
            if (max <= 0) {
                cur.put(e.getKey(), e.getValue());
                continue;
            }
            if (e.getValue() == null) throw Gsa4jException.at(Path.of(WEIGHTS), e.getKey(), "tensor is null");
            if (e.getValue().dtype() == null) throw Gsa4jException.at(Path.of(WEIGHTS), e.getKey(), "no dtype given for this tensor");
            long size = bytes(e.getValue());
            if (size > max) {
                out.add(Map.of(e.getKey(), e.getValue()));
                continue;
            }
            if (curSize + size > max && !cur.isEmpty()) {
                out.add(cur);
                cur = new LinkedHashMap<>();
                curSize = 0;
            }
            cur.put(e.getKey(), e.getValue());
            curSize += size;
        }
        if (!cur.isEmpty() || out.isEmpty()) out.add(cur);
        return out;
    }

    /** Removes weights files of an earlier save that are not part of this one. */
    private static void deleteStale(Path dir, Set<String> keep) {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String f = p.getFileName().toString();
                boolean ours = f.equals(WEIGHTS) || f.equals(INDEX) || SHARD.matcher(f).matches();
                if (ours && !keep.contains(f)) Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw Gsa4jException.at(dir, null, "cannot remove stale weights files: " + e, e);
        }
        AtomicFiles.fsyncDirectory(dir);
    }
}
