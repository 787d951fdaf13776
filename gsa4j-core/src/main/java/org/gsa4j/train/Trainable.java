package org.gsa4j.train;

import org.gsa4j.Gsa4jException;
import org.gsa4j.models.CausalLM;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * Which parameters a run trains ({@code train_only} / {@code --train-only}): {@code all} (the default),
 * or a comma-separated list of groups; the others are frozen — bound as constants, so they get no
 * gradient, no optimizer state and no weight decay, and stay bit-identical.
 *
 * <ul>
 *   <li>{@code new}: what a softmax attention layer does not have, i.e. the parameters a
 *       Transformer-to-RNN conversion adds (GSA's {@code f_proj}, GLA's {@code gk_proj}, the output
 *       norms {@code g_norm} ...): every token-mixer parameter except the q/k/v/o projections;</li>
 *   <li>{@code attention}: every token-mixer parameter (q/k/v/o projections and the new ones);</li>
 *   <li>{@code mlp}: the MLPs; {@code norms}: the pre-mixer, pre-MLP and final RMSNorm weights;
 *       {@code embeddings}: the input embeddings; {@code head}: the output projection (lm_head).</li>
 * </ul>
 * The paper's T2R recipe (docs/MATH.md#t2r-conversion) trains everything; {@code new,attention} is the cheaper
 * variant measured in docs/T2R.md.
 */
public final class Trainable {
    private Trainable() {}

    public static final List<String> GROUPS = List.of("all", "new", "attention", "mlp", "norms", "embeddings", "head");

    private static final Pattern QKVO = Pattern.compile(".*\\.[qkvo]_proj\\.weight$");

    /** The groups of a spec (validated); null or blank means all. */
    public static Set<String> groups(String spec) {
        Set<String> out = new LinkedHashSet<>();
        if (spec == null || spec.isBlank()) return Set.of("all");
        for (String g : spec.split(",")) {
            String s = g.trim().toLowerCase(Locale.ROOT);
            if (s.isEmpty()) continue;
            if (!GROUPS.contains(s)) {
                throw new Gsa4jException("training settings: field 'train_only': unknown parameter group '" + s + "' (known: "
                        + String.join(", ", GROUPS) + ")");
            }
            out.add(s);
        }
        if (out.isEmpty()) throw new Gsa4jException("training settings: field 'train_only': no parameter group given");
        return out;
    }

    /** Whether parameter {@code name} of {@code model} is trained under {@code spec}. */
    public static Predicate<String> predicate(String spec, CausalLM model) {
        Set<String> g = groups(spec);
        if (g.contains("all")) return n -> true;
        var nm = model.naming;
        int layers = model.config.numLayers();
        return name -> {
            String mixerOf = null;
            boolean mlp = false, norm = false;
            for (int i = 0; i < layers && mixerOf == null && !mlp && !norm; i++) {
                String l = nm.layer(i);
                if (!name.startsWith(l)) continue;
                String rest = name.substring(l.length());
                if (rest.startsWith(nm.mixer())) mixerOf = rest;
                else if (rest.startsWith(nm.mlp())) mlp = true;
                else if (rest.equals(nm.mixerNorm()) || rest.equals(nm.mlpNorm())) norm = true;
            }
            if (mixerOf != null) return g.contains("attention") || (g.contains("new") && !QKVO.matcher(name).matches());
            if (mlp) return g.contains("mlp");
            if (norm || name.equals(nm.finalNorm())) return g.contains("norms");
            if (name.equals(nm.embeddings())) return g.contains("embeddings");
            if (name.equals(nm.lmHead())) return g.contains("head");
            return false;
        };
    }

    /** The names trained under {@code spec}, refusing a spec that selects none of the model's parameters. */
    public static Set<String> trainedNames(String spec, CausalLM model) {
        Predicate<String> p = predicate(spec, model);
        Set<String> out = new TreeSet<>();
        for (Map.Entry<String, ?> e : model.params().entrySet()) if (p.test(e.getKey())) out.add(e.getKey());
        if (out.isEmpty()) {
            throw new Gsa4jException("training settings: field 'train_only': '" + spec + "' selects none of the " + model.config.modelType()
                    + " model's parameters (e.g. 'new' is empty for a softmax-attention model)");
        }
        return out;
    }
}
