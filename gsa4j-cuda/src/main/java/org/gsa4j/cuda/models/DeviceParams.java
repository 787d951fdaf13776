package org.gsa4j.cuda.models;

import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.gsa4j.Gsa4jException;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;
import org.gsa4j.models.CausalLM;
import org.gsa4j.tensor.Tensor;

/**
 * A {@link CausalLM}'s parameters on the GPU: the float32 master weights under the CPU engine's names and
 * shapes (one device tensor each), in bf16 mode a bfloat16 copy of each (what the products and the kernels read:
 * {@link #weight}; the optimizer refreshes it from the master weights, {@link #copy}), and, once
 * {@link #allocateGradients()} is called, a float32 gradient per weight. {@link #download} writes the weights back into a CPU model of the same config, whose
 * checkpoint ({@code ModelLoader.save}, {@code Checkpoints}) is then the CPU engine's own: a model trained on
 * the GPU continues on the CPU and the other way round.
 *
 * <p>Every method may be called from any thread: the copies run on the device's thread.
 */
public final class DeviceParams implements AutoCloseable {

    private final CudaDevice device;
    private final Precision precision;
    private final Map<String, DeviceTensor> values;
    /** The bf16 copies in bf16 mode; empty in float32 mode, where the products read the master weights. */
    private final Map<String, DeviceTensor> copies;
    private final Map<String, DeviceTensor> grads = new LinkedHashMap<>();

    private DeviceParams(CudaDevice device, Precision precision, Map<String, DeviceTensor> values, Map<String, DeviceTensor> copies) {
        this.device = device;
        this.precision = precision;
        this.values = values;
        this.copies = copies;
    }

    /** Copies every parameter of {@code model} to {@code device} as float32 (float64 weights are rounded). */
    public static DeviceParams upload(CudaDevice device, CausalLM model) {
        return upload(device, model, Precision.F32);
    }

    /**
     * Copies every parameter of {@code model} to {@code device} as float32 master weights (float64 weights are
     * rounded) and, for {@link Precision#BF16}, as the bfloat16 copies too (rounded to nearest even).
     */
    public static DeviceParams upload(CudaDevice device, CausalLM model, Precision precision) {
        return device.call(() -> {
            Map<String, DeviceTensor> values = new LinkedHashMap<>(), copies = new LinkedHashMap<>();
            try {
                for (Map.Entry<String, Tensor> e : model.params().entrySet()) {
                    Tensor host = float32(e.getKey(), e.getValue());
                    values.put(e.getKey(), DeviceTensor.upload(device, host, Precision.F32));
                    if (precision == Precision.BF16) copies.put(e.getKey(), DeviceTensor.upload(device, host, Precision.BF16));
                }
            } catch (RuntimeException failure) {
                values.values().forEach(DeviceTensor::close);
                copies.values().forEach(DeviceTensor::close);
                throw failure;
            }
            return new DeviceParams(device, precision, values, copies);
        });
    }

    /** The storage precision of {@link #weight}: float32, or bfloat16 copies of the float32 masters. */
    public Precision precision() {
        return precision;
    }

    private static Tensor float32(String name, Tensor t) {
        if (t.isBf16()) {
            throw new Gsa4jException("weight " + name + " is held as BF16, which is for inference on the CPU only;"
                    + " load the model with F32 weights to run it on the GPU");
        }
        return t.isF64() ? t.toF32() : t;
    }

    /** The parameter names, in the CPU model's order. */
    public Set<String> names() {
        return Collections.unmodifiableSet(values.keySet());
    }

    /** The weight named {@code name} (float32, the CPU shape). */
    public DeviceTensor value(String name) {
        DeviceTensor t = values.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no parameter " + name + " on the GPU");
        }
        return t;
    }

    /** The weight as the model's kernels read it: the master weight in float32 mode, its bf16 copy in bf16 mode. */
    public DeviceTensor weight(String name) {
        DeviceTensor master = value(name);   // names the parameter when there is none
        return copies.isEmpty() ? master : copies.get(name);
    }

    /** The bf16 copy the optimizer refreshes after each update of the master weight, or null in float32 mode. */
    public DeviceTensor copy(String name) {
        return copies.get(name);
    }

    /** Bytes of device memory the weights take: masters, copies and (once allocated) gradients. */
    public long bytes() {
        long n = 0;
        for (Map<String, DeviceTensor> m : List.of(values, copies, grads)) {
            for (DeviceTensor t : m.values()) n += t.size() * t.precision().bytes;
        }
        return n;
    }

    /** Its gradient (float32, same shape); {@link #allocateGradients()} first. */
    public DeviceTensor grad(String name) {
        DeviceTensor g = grads.get(name);
        if (g == null) {
            throw new IllegalStateException(grads.isEmpty() ? "gradients are not allocated (allocateGradients())" : "no gradient for " + name);
        }
        return g;
    }

    /** Every weight by name, in the CPU model's order. */
    public Map<String, DeviceTensor> values() {
        return Collections.unmodifiableMap(values);
    }

    /** Every gradient, in the weights' order (empty before {@link #allocateGradients()}). */
    public Collection<DeviceTensor> gradients() {
        return Collections.unmodifiableCollection(grads.values());
    }

    /** Number of scalars over all parameters. */
    public long count() {
        long n = 0;
        for (DeviceTensor t : values.values()) n += t.size();
        return n;
    }

    /** Allocates a float32 gradient per weight (zeroed); idempotent. */
    public void allocateGradients() {
        device.run(() -> {
            if (grads.isEmpty()) {
                for (Map.Entry<String, DeviceTensor> e : values.entrySet()) {
                    grads.put(e.getKey(), DeviceTensor.zeros(device, Precision.F32, e.getValue().shape()));
                }
            }
        });
    }

    /** Sets every gradient to zero, queued on {@code stream} (call on the device's thread). */
    public void zeroGradients(CudaStream stream) {
        for (DeviceTensor g : grads.values()) g.buffer().zeroAsync(stream);
    }

    /**
     * Writes the weights into {@code model}'s float32 tensors in place. The model must have exactly these
     * names and shapes (a CPU model of the same config).
     */
    public void download(CausalLM model) {
        Map<String, Tensor> cpu = model.params();
        if (!cpu.keySet().equals(values.keySet())) {
            throw new IllegalArgumentException("the CPU model has other parameters than the GPU's: " + difference(cpu.keySet(), values.keySet()));
        }
        device.run(() -> {
            for (Map.Entry<String, DeviceTensor> e : values.entrySet()) {
                Tensor t = cpu.get(e.getKey());
                if (!Arrays.equals(t.shape, e.getValue().shape()) || t.f == null) {
                    throw new IllegalArgumentException(e.getKey() + ": the CPU tensor " + Arrays.toString(t.shape)
                            + (t.f == null ? " is not float32" : "") + " cannot take the GPU's " + e.getValue());
                }
                e.getValue().buffer().copyTo(t.f);
            }
        });
    }

    /** The gradients as CPU tensors by name (float32), e.g. for a test. */
    public Map<String, Tensor> downloadGradients() {
        return device.call(() -> {
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (Map.Entry<String, DeviceTensor> e : grads.entrySet()) out.put(e.getKey(), e.getValue().download());
            return out;
        });
    }

    private static String difference(Set<String> cpu, Set<String> gpu) {
        Set<String> onlyCpu = new java.util.TreeSet<>(cpu), onlyGpu = new java.util.TreeSet<>(gpu);
        onlyCpu.removeAll(gpu);
        onlyGpu.removeAll(cpu);
        return "only on the CPU " + onlyCpu + ", only on the GPU " + onlyGpu;
    }

    @Override
    public void close() {
        if (device.isClosed()) {
            return;
        }
        device.run(() -> {
            values.values().forEach(DeviceTensor::close);
            copies.values().forEach(DeviceTensor::close);
            grads.values().forEach(DeviceTensor::close);
            values.clear();
            copies.clear();
            grads.clear();
        });
    }
}
