package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ReportTest {
    /** A decode suite's rows as the bench writes them: F32 then BF16 at each length, rows that did not fit included. */
    static JsonNode decodeDoc() {
        ObjectMapper om = new ObjectMapper();
        ObjectNode doc = om.createObjectNode();
        ArrayNode rows = doc.putObject("suites").putArray("decode");
        for (String arch : new String[]{"gsa", "llama"}) {
            for (String weights : new String[]{"F32", "BF16"}) {
                for (int ctx : new int[]{1024, 16384, 262144}) {
                    ObjectNode r = rows.addObject().put("name", arch + " " + weights + " ctx=" + ctx).put("arch", arch).put("weights", weights).put("context", ctx);
                    if (arch.equals("llama") && ctx == 262144) {
                        r.put("status", "skipped");
                        continue;
                    }
                    double perToken = (weights.equals("F32") ? 0.013 : 0.007) + (arch.equals("llama") ? ctx * 2e-9 : 0);
                    r.put("status", "ok").put("seconds_per_token", perToken).put("roofline_s", perToken * 0.95);
                }
            }
        }
        return doc;
    }

    @Test
    void decodePlotHasOneLinePerModelAndWeightFormat() {
        XYSeriesCollection data = Report.decodeSeries(decodeDoc());
        assertEquals(8, data.getSeriesCount());
        XYSeries gsaBf16 = data.getSeries("GSA BF16 (measured)");
        assertEquals(3, gsaBf16.getItemCount());
        for (int i = 0; i < 3; i++) assertEquals(7.0, gsaBf16.getY(i).doubleValue(), 1e-9, "only BF16 rows in the BF16 line");
        XYSeries llamaF32 = data.getSeries("LLAMA F32 (measured)");
        assertEquals(2, llamaF32.getItemCount(), "the row that did not fit is not plotted");
        assertEquals(13.0 + 16384 * 2e-6, llamaF32.getY(1).doubleValue(), 1e-9);
        assertEquals(0.95 * 7.0, data.getSeries("GSA BF16 roofline").getY(0).doubleValue(), 1e-9);
    }
}
