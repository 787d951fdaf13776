package org.gsa4j.cuda.models;

import java.util.ArrayList;
import java.util.List;
import org.gsa4j.config.ModelConfig;
import org.gsa4j.models.Naming;

/**
 * The state-dict names of the block skeleton's parameters (org.gsa4j.models.CausalLM's): the embeddings, per layer
 * the two norms and the SwiGLU MLP, the final norm and the lm_head (null when tied to the embeddings). The mixers
 * name their own (e.g. {@link GsaParamNames}); together they are the CPU model's parameter list.
 */
record BlockNames(String embeddings, String finalNorm, String lmHead, List<Layer> layers) {

    /** One block's skeleton parameters. */
    record Layer(String mixerNorm, String mlpNorm, String gateProj, String upProj, String downProj) {
    }

    static BlockNames of(ModelConfig c, Naming n) {
        List<Layer> layers = new ArrayList<>();
        for (int i = 0; i < c.numLayers(); i++) {
            String l = n.layer(i), m = l + n.mlp();
            layers.add(new Layer(l + n.mixerNorm(), l + n.mlpNorm(), m + "gate_proj.weight", m + "up_proj.weight", m + "down_proj.weight"));
        }
        return new BlockNames(n.embeddings(), n.finalNorm(), c.tieWordEmbeddings() ? null : n.lmHead(), List.copyOf(layers));
    }

    /** The output projection's matrix: lm_head, or the embeddings when tied. */
    String head() {
        return lmHead != null ? lmHead : embeddings;
    }

    /** Every name, once each. */
    List<String> all() {
        List<String> out = new ArrayList<>(List.of(embeddings, finalNorm));
        for (Layer l : layers) out.addAll(List.of(l.mixerNorm, l.mlpNorm, l.gateProj, l.upProj, l.downProj));
        if (lmHead != null) out.add(lmHead);
        return out;
    }
}
