package org.gsa4j.cuda.models;

import org.gsa4j.Gsa4jException;
import org.gsa4j.layers.GsaLayer;
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
        for (int i = 0; i < cpu.length; i++) {
            out[i] = switch (cpu[i]) {
                case GsaLayer gsa -> {
                    if (gsaOps == null) gsaOps = CudaGsaMixer.Ops.of(ctx);
                    yield new CudaGsaMixer(ctx, gsaOps, GsaParamNames.supported(model.config), i);
                }
                default -> throw new Gsa4jException("config.json field 'model_type': '" + model.config.modelType() + "' (layer " + i
                        + ": " + cpu[i].getClass().getSimpleName() + ") does not run on the GPU yet; use --device cpu");
            };
        }
        return out;
    }
}
