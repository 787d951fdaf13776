package org.gsa4j.cuda.models;

import org.gsa4j.Gsa4jException;
import org.gsa4j.config.GlaConfig;
import org.gsa4j.config.Hgrn2Config;
import org.gsa4j.config.RetNetConfig;
import org.gsa4j.layers.GlaLayer;
import org.gsa4j.layers.GsaLayer;
import org.gsa4j.layers.Hgrn2Layer;
import org.gsa4j.layers.RetNetLayer;
import org.gsa4j.layers.SoftmaxAttentionLayer;
import org.gsa4j.layers.TokenMixer;
import org.gsa4j.models.CausalLM;

/**
 * The GPU token mixer of each layer of a CPU model: chosen by the class of the CPU engine's mixer of that layer
 * ({@code model.architecture().mixers()[i]}), so that a model's GPU twin has the same layers as the model, hybrids
 * included. A mixer without a GPU twin is refused with the config.json field that asked for it.
 */
final class CudaMixers {
    private CudaMixers() {
    }

    /** One mixer per layer of {@code model}; call on the device's thread. */
    static CudaMixer[] of(CausalLM model, CudaMixer.Context ctx) {
        TokenMixer[] cpu = model.architecture().mixers();
        CudaMixer[] out = new CudaMixer[cpu.length];
        CudaGsaMixer.Ops gsaOps = null;
        MixerOps ops = null;
        for (int i = 0; i < cpu.length; i++) {
            String prefix = model.naming.layer(i) + model.naming.mixer();
            if (!(cpu[i] instanceof GsaLayer) && ops == null) ops = MixerOps.of(ctx);
            out[i] = switch (cpu[i]) {
                case GsaLayer gsa -> {
                    if (gsaOps == null) gsaOps = CudaGsaMixer.Ops.of(ctx);
                    yield new CudaGsaMixer(ctx, gsaOps, GsaParamNames.supported(model.config), i);
                }
                case GlaLayer gla -> new CudaGlaMixer(ctx, ops, (GlaConfig) model.config, prefix);
                case RetNetLayer retnet -> new CudaRetNetMixer(ctx, ops, (RetNetConfig) model.config, prefix);
                case Hgrn2Layer hgrn2 -> new CudaHgrn2Mixer(ctx, ops, (Hgrn2Config) model.config, prefix, i);
                case SoftmaxAttentionLayer attention -> new CudaAttentionMixer(ctx, ops, attention.config(), prefix);
                default -> throw new Gsa4jException("config.json field 'model_type': '" + model.config.modelType() + "' (layer " + i
                        + ": " + cpu[i].getClass().getSimpleName() + ") does not run on the GPU yet; use --device cpu");
            };
        }
        return out;
    }
}
