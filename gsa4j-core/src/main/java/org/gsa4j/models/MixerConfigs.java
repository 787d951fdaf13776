package org.gsa4j.models;

import org.gsa4j.layers.GsaConfig;

/** Reads and validates each architecture's layer configuration from config.json. */
public final class MixerConfigs {
    private MixerConfigs() {}

    /** SPEC §1.1, §3.1. */
    public static GsaConfig gsa(ConfigReader c) {
        int d = c.positiveInt("hidden_size", 2048);
        int heads = c.positiveInt("num_heads", 4);
        int kvHeads = c.isSet("num_kv_heads") ? c.positiveInt("num_kv_heads", null) : heads;
        if (heads % kvHeads != 0) throw c.error("num_kv_heads", kvHeads + " does not divide num_heads " + heads);
        double expandK = c.doubleValue("expand_k", 1.0), expandV = c.doubleValue("expand_v", 1.0);
        int keyDim = (int) (d * expandK), valueDim = (int) (d * expandV);
        if (keyDim <= 0 || keyDim % heads != 0) throw c.error("num_heads", heads + " heads do not divide key_dim " + keyDim + " (hidden_size·expand_k)");
        if (valueDim <= 0 || valueDim % heads != 0) throw c.error("num_heads", heads + " heads do not divide value_dim " + valueDim + " (hidden_size·expand_v)");
        int slots = c.isSet("num_slots") ? c.positiveInt("num_slots", null) : 64;
        String fm = c.string("feature_map", "swish");
        if (!fm.equals("swish") && !fm.equals("relu") && !fm.equals("t2r")) {
            throw c.error("feature_map", "must be swish, relu or t2r, found '" + fm + "'");
        }
        boolean affine = c.boolValue("elementwise_affine", true);
        if (affine && valueDim != d) {
            throw c.error("elementwise_affine", "g_norm's weight has hidden_size entries, so it needs expand_v = 1 (value_dim " + valueDim + " != " + d + ")");
        }
        double tau = c.doubleValue("gate_logit_normalizer", 8.0);
        if (!(tau > 0)) throw c.error("gate_logit_normalizer", "must be positive, found " + tau);
        boolean conv = c.boolValue("use_short_conv", false);
        int convSize = c.positiveInt("conv_size", 4);
        return new GsaConfig(d, heads, kvHeads, slots, keyDim, valueDim, conv, convSize, fm, tau, affine);
    }
}
