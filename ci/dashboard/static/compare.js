/* The compare page's charts: for each metric, one uPlot chart with every run's series overlaid
   on a shared step axis (a run without a value at a step leaves a gap that the line spans). */
"use strict";
(function () {
  var PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#1b7c83", "#bf3989",
    "#4d2d00", "#6e7781", "#0550ae"];

  function number(value) {
    // NaN and the infinities arrive spelled as text; a chart cannot place them.
    return typeof value === "number" ? value : null;
  }

  // The series aligned on the union of their steps: uPlot wants one x array for all.
  function aligned(series) {
    var steps = new Set();
    series.forEach(function (one) { one.steps.forEach(function (step) { steps.add(step); }); });
    var xs = Array.from(steps).sort(function (a, b) { return a - b; });
    var index = new Map(xs.map(function (step, at) { return [step, at]; }));
    var data = [xs];
    series.forEach(function (one) {
      var ys = new Array(xs.length).fill(null);
      one.steps.forEach(function (step, at) { ys[index.get(step)] = number(one.values[at]); });
      data.push(ys);
    });
    return data;
  }

  function draw(holder, chart) {
    var box = document.createElement("section");
    box.className = "chart metric-chart";
    box.dataset.metric = chart.name;
    box.dataset.series = String(chart.series.length);
    var title = document.createElement("h3");
    title.textContent = chart.name;
    box.appendChild(title);
    holder.appendChild(box);
    var series = [{ label: "step" }].concat(chart.series.map(function (one, at) {
      return {
        label: one.name + " (" + one.uuid.slice(0, 8) + ")",
        stroke: PALETTE[at % PALETTE.length],
        width: 1.5,
        spanGaps: true,
        points: { show: one.steps.length < 60 },
      };
    }));
    var options = {
      width: Math.max(320, holder.clientWidth - 8),
      height: 260,
      scales: { x: { time: false } },
      series: series,
      axes: [{ label: "step" }, {}],
    };
    new uPlot(options, aligned(chart.series), box);
  }

  function show(holder, answer) {
    var state = document.getElementById("compare-charts-state");
    holder.dataset.charts = String(answer.metrics.length);
    if (!answer.metrics.length) {
      state.textContent = "None of these runs reported metrics.";
      return;
    }
    state.remove();
    answer.metrics.forEach(function (chart) { draw(holder, chart); });
  }

  var holder = document.getElementById("compare-charts");
  if (!holder) { return; }
  Axon.getJSON(holder.dataset.source).then(function (answer) { show(holder, answer); },
    function (error) {
      var state = document.getElementById("compare-charts-state");
      state.className = "error";
      state.textContent = "Could not load the metrics: " + error.message;
    });
})();
