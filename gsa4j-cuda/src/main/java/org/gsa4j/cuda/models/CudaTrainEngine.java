package org.gsa4j.cuda.models;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gsa4j.Gsa4jException;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.ops.Precision;
import org.gsa4j.models.CausalLM;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.train.AdamW;
import org.gsa4j.train.BatchSource;
import org.gsa4j.train.ScoringModel;
import org.gsa4j.train.TrainConfig;
import org.gsa4j.train.TrainEngine;

/**
 * The GPU's {@link TrainEngine}: a {@code Trainer}'s updates on one GPU. The weights (float32 master copies,
 * and their bf16 copies in bf16 mode), the float32 gradients and the AdamW moments live on the device ({@link CudaCausalLM},
 * {@link CudaTrainStep}); validation runs there too ({@link #scoring}). Only checkpoints (and the end of a
 * run) copy the weights and the moments to the CPU model and its {@link AdamW} ({@link #toHost}), so a
 * checkpoint has the CPU engine's format and continues on either engine.
 *
 * <pre>{@code
 * try (CudaDevice gpu = CudaDevice.open(0); Trainer t = run.trainer(listener).on(CudaTrainEngine.on(gpu, Precision.F32))) {
 *     t.run();
 * }
 * }</pre>
 */
public final class CudaTrainEngine implements TrainEngine {
    private final CudaDevice device;
    private final CausalLM host;
    private final AdamW hostOptimizer;
    private final TrainConfig config;
    private final Precision precision;
    private CudaCausalLM model;
    private CudaTrainStep step;

    private CudaTrainEngine(CudaDevice device, Precision precision, CausalLM host, TrainConfig config, AdamW hostOptimizer) {
        this.device = device;
        this.precision = precision;
        this.host = host;
        this.hostOptimizer = hostOptimizer;
        this.config = config;
        fromHost();
    }

    /**
     * The factory a {@code Trainer} takes ({@code trainer.on(CudaTrainEngine.on(gpu, Precision.F32))}); the caller
     * keeps and closes the device. {@code precision}: what the products and activations use (the master weights and
     * the moments are float32 either way).
     */
    public static TrainEngine.Factory on(CudaDevice device, Precision precision) {
        return (model, config, optimizer) -> new CudaTrainEngine(device, precision, model, config, optimizer);
    }

    /** The GPU model the engine trains (e.g. to decode with it afterwards). */
    public CudaCausalLM model() {
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
    public static ScoringModel scoring(CudaCausalLM model) {
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

    /** Loads the CPU model anew onto the GPU (weights and, in bf16, their copies), then the optimizer's state. */
    @Override
    public void fromHost() {
        close();
        model = CudaCausalLM.load(device, host, precision);
        try {
            step = CudaTrainStep.of(model, config, host.params());
            loadMoments();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
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
        return "cuda:" + device.ordinal() + " (" + device.name() + ", " + precision.name().toLowerCase(java.util.Locale.ROOT) + ")";
    }

    @Override
    public void close() {
        if (step != null) step.close();
        if (model != null) model.close();
        step = null;
        model = null;
    }
}
