package org.gsa4j.cuda.models;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gsa4j.Gsa4jException;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.models.CausalLM;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.train.AdamW;
import org.gsa4j.train.BatchSource;
import org.gsa4j.train.ScoringModel;
import org.gsa4j.train.TrainConfig;
import org.gsa4j.train.TrainEngine;

/**
 * The GPU's {@link TrainEngine}: a {@code Trainer}'s updates on one GPU, in float32. The weights (float32
 * master copies), the gradients and the AdamW moments live on the device ({@link CudaGsaModel},
 * {@link CudaTrainStep}); validation runs there too ({@link #scoring}). Only checkpoints (and the end of a
 * run) copy the weights and the moments to the CPU model and its {@link AdamW} ({@link #toHost}), so a
 * checkpoint has the CPU engine's format and continues on either engine.
 *
 * <pre>{@code
 * try (CudaDevice gpu = CudaDevice.open(0); Trainer t = run.trainer(listener).on(CudaTrainEngine.on(gpu))) {
 *     t.run();
 * }
 * }</pre>
 */
public final class CudaTrainEngine implements TrainEngine {
    private final CudaDevice device;
    private final CausalLM host;
    private final AdamW hostOptimizer;
    private final TrainConfig config;
    private final CudaGsaModel model;
    private final CudaTrainStep step;

    private CudaTrainEngine(CudaDevice device, CausalLM host, TrainConfig config, AdamW hostOptimizer) {
        this.device = device;
        this.host = host;
        this.hostOptimizer = hostOptimizer;
        this.config = config;
        this.model = CudaGsaModel.load(device, host);
        CudaTrainStep s = null;
        try {
            s = CudaTrainStep.of(model, config, host.params());
            this.step = s;
            loadMoments();
        } catch (RuntimeException e) {
            if (s != null) s.close();
            model.close();
            throw e;
        }
    }

    /** The factory a {@code Trainer} takes ({@code trainer.on(CudaTrainEngine.on(gpu))}); the caller keeps and closes the device. */
    public static TrainEngine.Factory on(CudaDevice device) {
        return (model, config, optimizer) -> new CudaTrainEngine(device, model, config, optimizer);
    }

    /** The GPU model the engine trains (e.g. to decode with it afterwards). */
    public CudaGsaModel model() {
        return model;
    }

    @Override
    public Update update(List<BatchSource.Batch> microBatches, double lr, Ranks ranks) {
        if (ranks != null) throw new Gsa4jException("training with several ranks on GPUs is not built yet: train on one GPU");
        if (microBatches.size() != config.gradAccum()) {
            throw new IllegalArgumentException(microBatches.size() + " micro-batches for grad_accum " + config.gradAccum());
        }
        CudaTrainStep.Update u = step.update(model, microBatches, lr, config.clipGradNorm());
        return new Update(u.loss(), u.gradNorm());
    }

    @Override
    public ScoringModel scoring() {
        return scoring(model);
    }

    /** A GPU model's forward as validation and scoring see it: the loss, and the logits when asked for, downloaded. */
    public static ScoringModel scoring(CudaGsaModel model) {
        return new ScoringModel() {
            @Override
            public Scores score(int[] ids, int[] targets, int batch, int seqLen, boolean withLogits) {
                double loss = model.loss(ids, targets, batch, seqLen);
                return new Scores(loss, withLogits ? model.logits(ids, batch, seqLen) : null);
            }

            @Override
            public int vocabSize() {
                return model.config().vocabSize();
            }
        };
    }

    @Override
    public void toHost() {
        model.params().download(host);
        hostOptimizer.restore(step.stateTensors(), step.stepCount(), host.params());
    }

    @Override
    public void fromHost() {
        DeviceParams p = model.params();
        device.run(() -> {
            for (String name : p.names()) {
                Tensor t = host.params().get(name);
                if (t == null || t.f == null) throw new IllegalStateException("the CPU model has no float32 " + name);
                p.value(name).buffer().copyFrom(t.f);
            }
        });
        loadMoments();
    }

    /**
     * The CPU optimizer's moments and update count onto the device; a parameter without moments there (not
     * updated yet) gets zeros, as the CPU optimizer would start it.
     */
    private void loadMoments() {
        Map<String, Tensor> saved = hostOptimizer.stateTensors(host.params());
        Map<String, Tensor> state = new LinkedHashMap<>();
        for (String name : model.params().names()) {
            for (String moment : new String[] {"exp_avg.", "exp_avg_sq."}) {
                Tensor t = saved.get(moment + name);
                state.put(moment + name, t != null ? t : Tensor.zeros(host.params().get(name).shape));
            }
        }
        step.loadState(state, hostOptimizer.stepCount());
    }

    @Override
    public String device() {
        return "cuda:" + device.ordinal() + " (" + device.name() + ")";
    }

    @Override
    public void close() {
        step.close();
        model.close();
    }
}
