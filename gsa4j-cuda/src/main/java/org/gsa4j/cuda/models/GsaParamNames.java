package org.gsa4j.cuda.models;

import java.util.ArrayList;
import java.util.List;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.GsaConfig;
import org.gsa4j.config.ModelConfig;
import org.gsa4j.models.Naming;

/**
 * The state-dict names GSA's GPU mixer reads, the CPU engine's own (org.gsa4j.layers.GsaLayer): one record per
 * layer, with null for what the config leaves out (g_norm without elementwise_affine, the short convolutions, the
 * t2r feature map's matrix). With {@link BlockNames} they are the CPU model's parameter list ({@link #all()} lists
 * every name once, so that a test can hold them against it).
 */
public record GsaParamNames(List<Layer> layers) {

    /** One layer's mixer parameters. */
    public record Layer(String qProj, String kProj, String vProj, String fProj, String gNorm, String oProj, String qConv,
                        String kConv, String vConv, String featureMap) {
    }

    /** The names of a GSA config, in the reference library's naming. */
    public static GsaParamNames of(GsaConfig c) {
        Naming n = Naming.FLA;
        List<Layer> layers = new ArrayList<>();
        for (int i = 0; i < c.numLayers(); i++) {
            String a = n.layer(i) + n.mixer();
            boolean conv = c.useShortConv();
            layers.add(new Layer(a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight", a + "f_proj.weight",
                    c.elementwiseAffine() ? a + "g_norm.weight" : null, a + "o_proj.weight",
                    conv ? a + "q_conv1d.weight" : null, conv ? a + "k_conv1d.weight" : null, conv ? a + "v_conv1d.weight" : null,
                    c.featureMap().equals("t2r") ? a + "feature_map.layer.weight" : null));
        }
        return new GsaParamNames(List.copyOf(layers));
    }

    /** Every name, once each. */
    public List<String> all() {
        List<String> out = new ArrayList<>();
        for (Layer l : layers) {
            for (String s : new String[] {l.qProj, l.kProj, l.vProj, l.fProj, l.gNorm, l.oProj, l.qConv, l.kConv, l.vConv, l.featureMap}) {
                if (s != null) out.add(s);
            }
        }
        return out;
    }

    /**
     * The GSA config of a model whose layer is a GSA layer, or an error naming the config.json field: the only
     * case is another model_type. Every field of a GSA config is supported, hybrid attention layers ({@code attn})
     * included: {@link CudaMixers} gives those layers the attention mixer.
     */
    public static GsaConfig supported(ModelConfig config) {
        if (!(config instanceof GsaConfig gsa)) {
            throw new Gsa4jException("config.json field 'model_type': '" + config.modelType() + "' is not gsa, whose mixer this is");
        }
        return gsa;
    }
}
