/* Line charts over uPlot (vendor/uplot), for any dashboard page. Load uPlot.iife.min.js and
   uPlot.min.css first.

   AxonCharts.numbers(values)      -> values with the API's "NaN"/"Infinity"/"-Infinity" (and
                                      anything else not a finite number) as null: a gap
   AxonCharts.smooth(values, w)    -> exponential moving average with weight w in [0, 1), as
                                      TensorBoard smooths (debiased, so the start is not pulled
                                      to 0); nulls stay gaps and do not move the average
   AxonCharts.line(element, spec)  -> a uPlot drawn into `element`, also kept as element.uplot;
       spec = { x: [numbers], time: bool (x is seconds since the epoch, shown in UTC),
                xLabel: the x values' name in the legend (default "time" or "x"),
                series: [{ label, values, color, width, alpha }], height: px (default 220) }
       The chart's element gets data-points (points drawn) and data-render-ms (time to draw).
   AxonCharts.resize(element)      -> fit a chart to its element's width again

   10,000 points draw in a few tens of milliseconds; longer series should be cut server-side
   (ci.runs.downsample) before they get here. */
"use strict";
window.AxonCharts = (function () {
  function numbers(values) {
    var out = new Array(values.length);
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      out[i] = typeof v === "number" && isFinite(v) ? v : null;
    }
    return out;
  }

  function smooth(values, weight) {
    if (!(weight > 0)) { return values.slice(); }
    var out = new Array(values.length), last = 0, seen = 0;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v === null) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * v;
      seen += 1;
      out[i] = last / (1 - Math.pow(weight, seen));
    }
    return out;
  }

  function width(element) {
    return Math.max(200, element.clientWidth || 600);
  }

  function line(element, spec) {
    var started = performance.now();
    var series = [{ label: spec.xLabel || (spec.time ? "time" : "x") }].concat(spec.series.map(function (s) {
      return {
        label: s.label,
        stroke: s.color || "#0969da",
        width: s.width || 1.5,
        alpha: s.alpha === undefined ? 1 : s.alpha,
        // uPlot marks points only where they are sparse: a value alone between gaps shows.
        spanGaps: false,
      };
    }));
    var options = {
      width: width(element),
      height: spec.height || 220,
      series: series,
      scales: { x: { time: !!spec.time } },
      // The server shows every time in UTC; the charts agree with it.
      tzDate: function (seconds) { return uPlot.tzDate(new Date(seconds * 1e3), "Etc/UTC"); },
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      // uPlot draws in a microtask after it is made: the first draw ends the measured time.
      hooks: { draw: [function () {
        if (!element.dataset.renderMs) {
          element.dataset.renderMs = (performance.now() - started).toFixed(1);
        }
      }] },
    };
    var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    if (element.uplot) { element.uplot.destroy(); }
    delete element.dataset.renderMs;
    var chart = new uPlot(options, data, element);
    element.uplot = chart;
    element.dataset.points = String(spec.x.length);
    return chart;
  }

  function resize(element) {
    if (element.uplot) {
      element.uplot.setSize({ width: width(element), height: element.uplot.height });
    }
  }

  return { numbers: numbers, smooth: smooth, line: line, resize: resize };
})();
