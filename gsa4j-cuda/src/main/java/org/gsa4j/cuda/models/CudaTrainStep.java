package org.gsa4j.cuda.models;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.gsa4j.Gsa4jException;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.ops.CudaAdamW;
import org.gsa4j.cuda.ops.CudaGradNorm;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.train.AdamW;
import org.gsa4j.train.BatchSource;
import org.gsa4j.train.TrainConfig;

/**
 * One training update on the GPU, as {@code org.gsa4j.train.Trainer} makes it on the CPU: the micro-batches'
 * gradients summed, the global norm √(Σ g²)/A over them (A micro-batches), clipped to {@code clip_grad_norm},
 * then AdamW ({@link CudaAdamW}: {@code org.gsa4j.train.AdamW}'s arithmetic) on the float32 master weights with
 * float32 moments. The moments carry the CPU optimizer's names ({@code exp_avg.NAME}, {@code exp_avg_sq.NAME};
 * {@link #stateTensors()}, {@link #loadState}), so an optimizer state moves between the engines.
 */
public final class CudaTrainStep implements AutoCloseable {

    /** An update's mean loss and its gradient norm before clipping. */
    public record Update(double loss, double gradNorm) {
        public boolean finite() {
            return Double.isFinite(loss) && Double.isFinite(gradNorm);
        }
    }

    private final CudaDevice device;
    private final DeviceParams params;
    private final CudaAdamW adamw;
    private final CudaGradNorm gradNorm;
    private final Predicate<String> decays;
    private final Map<String, DeviceTensor> m = new LinkedHashMap<>();
    private final Map<String, DeviceTensor> v = new LinkedHashMap<>();
    private long t;

    private CudaTrainStep(CudaDevice device, DeviceParams params, TrainConfig c, Predicate<String> decays) {
        this.device = device;
        this.params = params;
        this.decays = decays;
        params.allocateGradients();
        this.adamw = device.call(() -> new CudaAdamW(device, c.beta1(), c.beta2(), c.eps(), c.weightDecay()));
        this.gradNorm = device.call(() -> new CudaGradNorm(device));
        device.run(() -> {
            for (Map.Entry<String, DeviceTensor> e : params.values().entrySet()) {
                m.put(e.getKey(), DeviceTensor.zeros(device, Precision.F32, e.getValue().shape()));
                v.put(e.getKey(), DeviceTensor.zeros(device, Precision.F32, e.getValue().shape()));
            }
        });
    }

    /**
     * The optimizer a training config describes for {@code model}: its β, ε, weight decay, and which parameters
     * decay: the CPU rule ({@link AdamW#defaultDecayRule} over the CPU model's parameters {@code cpuParams}),
     * or all of them with decay_norms_and_embeddings.
     */
    public static CudaTrainStep of(CudaCausalLM model, TrainConfig c, Map<String, Tensor> cpuParams) {
        Predicate<String> decays = c.decayNormsAndEmbeddings() ? n -> true : AdamW.defaultDecayRule(cpuParams);
        return new CudaTrainStep(model.device(), model.params(), c, decays);
    }

    /** Updates taken so far. */
    public long stepCount() {
        return t;
    }

    /**
     * One update from the micro-batches of one step, at learning rate {@code lr}, clipping to
     * {@code clipGradNorm} (≤ 0: no clipping). A non-finite loss or norm is returned without touching the
     * weights or the moments (the caller stops, as the CPU trainer does).
     */
    public Update update(CudaCausalLM model, List<BatchSource.Batch> micro, double lr, double clipGradNorm) {
        if (micro.isEmpty()) throw new IllegalArgumentException("an update needs at least one micro-batch");
        device.run(() -> params.zeroGradients(device.stream()));
        double lossSum = 0;
        for (BatchSource.Batch b : micro) {
            lossSum += model.forwardBackward(b.inputs(), b.targets(), b.batchSize(), b.seqLen());
        }
        double loss = lossSum / micro.size();
        double norm = device.call(() -> {
            gradNorm.compute(new ArrayList<>(params.gradients()), 1.0 / micro.size(), clipGradNorm, device.stream());
            return gradNorm.read()[0];
        });
        Update u = new Update(loss, norm);
        if (!u.finite()) return u;
        t++;
        device.run(() -> {
            for (String name : params.names()) {
                adamw.update(params.value(name), params.grad(name), m.get(name), v.get(name), params.copy(name), decays.test(name), lr, t, 1.0,
                        gradNorm.result(), device.stream());
            }
        });
        return u;
    }

    /** The moments as CPU tensors under the CPU optimizer's names ({@code AdamW.stateTensors}'s). */
    public Map<String, Tensor> stateTensors() {
        return device.call(() -> {
            Map<String, Tensor> out = new LinkedHashMap<>();
            if (t == 0) return out;   // no update yet: the CPU optimizer has no moments either
            for (String name : params.names()) {
                out.put("exp_avg." + name, m.get(name).download());
                out.put("exp_avg_sq." + name, v.get(name).download());
            }
            return out;
        });
    }

    /**
     * Continues from a saved optimizer state after {@code step} updates: the CPU optimizer's
     * {@code stateTensors} (every parameter's two moments, with its shape).
     */
    public void loadState(Map<String, Tensor> state, long step) {
        device.run(() -> {
            for (String name : params.names()) {
                load(state, "exp_avg." + name, m.get(name));
                load(state, "exp_avg_sq." + name, v.get(name));
            }
        });
        t = step;
    }

    private static void load(Map<String, Tensor> state, String key, DeviceTensor into) {
        Tensor saved = state.get(key);
        if (saved == null) throw new Gsa4jException("the optimizer state has no " + key);
        if (!Arrays.equals(saved.shape, into.shape())) {
            throw new Gsa4jException("the optimizer state's " + key + " has shape " + Arrays.toString(saved.shape)
                    + ", the parameter " + Arrays.toString(into.shape()));
        }
        into.buffer().copyFrom(saved.f);
    }

    @Override
    public void close() {
        if (device.isClosed()) {
            return;
        }
        device.run(() -> {
            m.values().forEach(DeviceTensor::close);
            v.values().forEach(DeviceTensor::close);
            gradNorm.close();
        });
    }
}
