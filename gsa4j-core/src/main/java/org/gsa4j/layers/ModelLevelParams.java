package org.gsa4j.layers;

import java.util.List;

/**
 * A token mixer that also reads parameters stored at model level (full names, e.g. HGRN2's
 * {@code model.lower_bounds}); layers sharing one such parameter declare it with the same name
 * and the model keeps one copy.
 */
public interface ModelLevelParams {
    List<ParamSpec> modelParams();
}
