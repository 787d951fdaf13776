package org.gsa4j.ops;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.ReferenceCases;
import org.gsa4j.ops.gsa.GatedSlotAttention;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.gsa4j.ops.OpsTestSupport.check;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * Every reference/ops case (made by a float64 recurrence cross-checked against the library), both
 * precisions: whatever cases the reference folder holds.
 */
class GsaReferenceTest {
    private static final double TOL = 1e-5;

    @TestFactory
    List<DynamicTest> everyOpCaseMatchesTheReference() throws IOException {
        List<String> cases = ReferenceCases.opCases();
        assertFalse(cases.isEmpty(), "no operator cases under " + ReferenceCases.root().resolve("ops"));
        System.out.println("op conformance: " + cases.size() + " cases " + cases + " from " + ReferenceCases.root().resolve("ops")
                + ", each in float32 and float64");
        List<DynamicTest> tests = new ArrayList<>();
        for (String name : cases) {
            for (boolean float64 : new boolean[] {false, true}) {
                tests.add(DynamicTest.dynamicTest(name + " float64=" + float64, () -> matchesReference(name, float64)));
            }
        }
        return tests;
    }

    private static void matchesReference(String name, boolean float64) throws Exception {
        Path dir = ReferenceCases.root().resolve("ops");
        double scale = new ObjectMapper().readTree(dir.resolve(name + ".json").toFile()).get("scale").asDouble();
        try (SafeTensors st = SafeTensors.open(dir.resolve(name + ".safetensors"))) {
            java.util.function.Function<String, Tensor> in = n -> {
                if (!st.contains(n)) return null;
                Tensor t = st.f64(n);
                return float64 ? t : t.toF32();
            };
            Tensor hk0 = in.apply("hk0"), hv0 = in.apply("hv0");
            GatedSlotAttention.Result r = GatedSlotAttention.forward(in.apply("q"), in.apply("k"), in.apply("v"),
                    in.apply("s"), in.apply("g"), scale, hk0, hv0);
            GatedSlotAttention.Grads gr = GatedSlotAttention.backward(r, in.apply("do"),
                    in.apply("dhk_final"), in.apply("dhv_final"));
            System.out.println(name + (float64 ? " float64 recurrence" : " float32 chunk"));
            check("o", r.o(), st.f64("o"), TOL);
            check("hk_final", r.hkT(), st.f64("hk_final"), TOL);
            check("hv_final", r.hvT(), st.f64("hv_final"), TOL);
            check("grad_q", gr.dq(), st.f64("grad_q"), TOL);
            check("grad_k", gr.dk(), st.f64("grad_k"), TOL);
            check("grad_v", gr.dv(), st.f64("grad_v"), TOL);
            check("grad_s", gr.ds(), st.f64("grad_s"), TOL);
            check("grad_g", gr.dg(), st.f64("grad_g"), TOL);
            if (st.contains("grad_hk0")) check("grad_hk0", gr.dhk0(), st.f64("grad_hk0"), TOL);
            if (st.contains("grad_hv0")) check("grad_hv0", gr.dhv0(), st.f64("grad_hv0"), TOL);
        }
    }
}
