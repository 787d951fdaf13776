package org.gsa4j.cuda.models;

import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
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
 * shapes (one device tensor each), and, once {@link #allocateGradients()} is called, a float32 gradient per
 * weight. {@link #download} writes the weights back into a CPU model of the same config, whose
 * checkpoint ({@code ModelLoader.save}, {@code Checkpoints}) is then the CPU engine's own: a model trained on
 * the GPU continues on the CPU and the other way round.
 *
 * <p>Every method may be called from any thread: the copies run on the device's thread.
 */
public final class DeviceParams implements AutoCloseable {

    private final CudaDevice device;
    private final Map<String, DeviceTensor> values;
    private final Map<String, DeviceTensor> grads = new LinkedHashMap<>();

    private DeviceParams(CudaDevice device, Map<String, DeviceTensor> values) {
        this.device = device;
        this.values = values;
    }

    /** Copies every parameter of {@code model} to {@code device} as float32 (float64 weights are rounded). */
    public static DeviceParams upload(CudaDevice device, CausalLM model) {
        return device.call(() -> {
            Map<String, DeviceTensor> values = new LinkedHashMap<>();
            try {
                for (Map.Entry<String, Tensor> e : model.params().entrySet()) {
                    values.put(e.getKey(), DeviceTensor.upload(device, float32(e.getKey(), e.getValue()), Precision.F32));
                }
            } catch (RuntimeException failure) {
                values.values().forEach(DeviceTensor::close);
                throw failure;
            }
            return new DeviceParams(device, values);
        });
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
            grads.values().forEach(DeviceTensor::close);
            values.clear();
            grads.clear();
        });
    }
}
