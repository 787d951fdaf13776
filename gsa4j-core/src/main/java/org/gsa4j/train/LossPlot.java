package org.gsa4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.io.AtomicFiles;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
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

/** The loss curve (training loss per update, its moving average, validation loss) as a PNG, drawn headless. */
public final class LossPlot {
    private LossPlot() {}

    public static void write(Path metricsJsonl, Path png, String title) {
        System.setProperty("java.awt.headless", "true");
        // PNGs are encoded in memory: with ImageIO's default file cache each write registers a stream
        // closer on a shutdown hook, and a plot drawn while Ctrl-C shuts the JVM down failed ("closed")
        javax.imageio.ImageIO.setUseCache(false);
        List<JsonNode> records = MetricsLog.read(metricsJsonl);
        XYSeries train = new XYSeries("train loss");
        XYSeries smooth = new XYSeries("train loss (mean of the last 20)");
        XYSeries val = new XYSeries("validation loss");
        java.util.ArrayDeque<Double> window = new java.util.ArrayDeque<>();
        double windowSum = 0;
        for (JsonNode r : records) {
            long step = r.path("step").asLong();
            if ("train".equals(r.path("type").asText()) && r.has("loss")) {
                double l = r.get("loss").asDouble();
                if (!Double.isFinite(l)) continue;
                train.add(step, l);
                window.addLast(l);
                windowSum += l;
                if (window.size() > 20) windowSum -= window.removeFirst();
                smooth.add(step, windowSum / window.size());
            } else if ("val".equals(r.path("type").asText()) && r.has("val_loss")) {
                val.add(step, r.get("val_loss").asDouble());
            }
        }
        XYSeriesCollection data = new XYSeriesCollection();
        data.addSeries(train);
        data.addSeries(smooth);
        data.addSeries(val);
        JFreeChart chart = ChartFactory.createXYLineChart(title, "step", "loss (nats per token)", data,
                PlotOrientation.VERTICAL, true, false, false);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
        r.setSeriesPaint(0, new Color(120, 160, 220));
        r.setSeriesStroke(0, new BasicStroke(0.8f));
        r.setSeriesPaint(1, new Color(20, 60, 160));
        r.setSeriesStroke(1, new BasicStroke(2f));
        r.setSeriesPaint(2, new Color(220, 80, 20));
        r.setSeriesStroke(2, new BasicStroke(2f));
        r.setSeriesShapesVisible(2, true);
        plot.setRenderer(r);
        ((org.jfree.chart.axis.NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            ChartUtils.writeChartAsPNG(bytes, chart, 900, 540);
            AtomicFiles.write(png, bytes.toByteArray());
            Checkpoints.makeReadable(png);
        } catch (IOException e) {
            throw new org.gsa4j.Gsa4jException("cannot draw the loss plot " + png + ": " + e.getMessage(), e);
        }
    }
}
