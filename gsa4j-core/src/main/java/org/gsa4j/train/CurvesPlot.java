package org.gsa4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.io.AtomicFiles;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Several runs' loss curves on one chart (e.g. the T2R finetuning runs of GSA, GLA and RetNet):
 * per run the training loss' moving average (thin) and the validation loss (thick, with points),
 * against tokens seen (optionally offset, so that finetuning continues where the teacher stopped),
 * and horizontal reference lines (e.g. the teacher's validation loss).
 */
public final class CurvesPlot {
    private CurvesPlot() {}

    /** One run: its label, metrics.jsonl, and the tokens to add to its x values. */
    public record Run(String label, Path metrics, long tokenOffset) {}

    private static final Color[] COLORS = {new Color(200, 40, 40), new Color(30, 100, 200), new Color(30, 150, 60),
            new Color(150, 80, 190), new Color(230, 140, 20), new Color(90, 90, 90), new Color(0, 170, 170), new Color(170, 120, 60)};

    public static void write(List<Run> runs, Map<String, Double> references, Path png, String title, boolean xInTokens) {
        System.setProperty("java.awt.headless", "true");
        // PNGs are encoded in memory: with ImageIO's default file cache each write registers a stream
        // closer on a shutdown hook, and a plot drawn while Ctrl-C shuts the JVM down failed ("closed")
        javax.imageio.ImageIO.setUseCache(false);
        XYSeriesCollection data = new XYSeriesCollection();
        for (Run run : runs) {
            XYSeries smooth = new XYSeries(run.label() + " (train, avg)");
            XYSeries val = new XYSeries(run.label() + " (validation)");
            double ema = Double.NaN;
            long tokensPerStep = 0;
            for (JsonNode r : MetricsLog.read(run.metrics())) {
                long step = r.path("step").asLong();
                if ("train".equals(r.path("type").asText()) && r.has("loss")) {
                    double l = r.get("loss").asDouble();
                    if (step > 0 && r.has("tokens")) tokensPerStep = r.get("tokens").asLong() / step;
                    if (!Double.isFinite(l)) continue;
                    ema = Double.isNaN(ema) ? l : 0.9 * ema + 0.1 * l;
                    smooth.add(x(step, tokensPerStep, run.tokenOffset(), xInTokens), ema);
                } else if ("val".equals(r.path("type").asText()) && r.has("val_loss")) {
                    val.add(x(step, tokensPerStep, run.tokenOffset(), xInTokens), r.get("val_loss").asDouble());
                }
            }
            data.addSeries(smooth);
            data.addSeries(val);
        }
        JFreeChart chart = ChartFactory.createXYLineChart(title, xInTokens ? "tokens seen (millions)" : "finetuning step",
                "loss (nats per token)", data, PlotOrientation.VERTICAL, true, false, false);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < runs.size(); i++) {
            Color c = COLORS[i % COLORS.length];
            r.setSeriesPaint(2 * i, new Color(c.getRed(), c.getGreen(), c.getBlue(), 110));
            r.setSeriesStroke(2 * i, new BasicStroke(1f));
            r.setSeriesPaint(2 * i + 1, c);
            r.setSeriesStroke(2 * i + 1, new BasicStroke(2.2f));
            r.setSeriesShapesVisible(2 * i + 1, true);
        }
        plot.setRenderer(r);
        for (Map.Entry<String, Double> ref : references.entrySet()) {
            ValueMarker m = new ValueMarker(ref.getValue(), Color.BLACK,
                    new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 1f, new float[] {6f, 4f}, 0f));
            m.setLabel(ref.getKey());
            m.setLabelAnchor(org.jfree.chart.ui.RectangleAnchor.TOP_RIGHT);
            m.setLabelTextAnchor(org.jfree.chart.ui.TextAnchor.BOTTOM_RIGHT);
            plot.addRangeMarker(m);
        }
        ((org.jfree.chart.axis.NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            ChartUtils.writeChartAsPNG(bytes, chart, 1000, 600);
            AtomicFiles.write(png, bytes.toByteArray());
        } catch (IOException e) {
            throw new org.gsa4j.Gsa4jException("cannot draw " + png + ": " + e.getMessage(), e);
        }
    }

    private static double x(long step, long tokensPerStep, long offset, boolean tokens) {
        return tokens ? (offset + step * tokensPerStep) / 1e6 : step;
    }
}
