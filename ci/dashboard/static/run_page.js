/* The run page: metric and system charts (x by step or time, smoothing), and while the run
   lives, its logs and status followed over server-sent events. AxonRunPage lets
   run_page_live.js show a series again as it grows; "axon:run-ended" on the document says the
   run is done. */
"use strict";
(function () {
  var page = JSON.parse(document.getElementById("run-page-data").textContent);
  var loaded = [];  // {element, plot, series, values} of every chart whose data arrived

  function xAxis() {
    var select = document.getElementById("chart-x");
    return select ? select.value : "step";
  }

  function smoothing() {
    var input = document.getElementById("chart-smoothing");
    return input ? Math.min(0.99, Math.max(0, parseFloat(input.value) || 0)) : 0;
  }

  function seriesFor(raw, weight) {
    if (!(weight > 0)) {
      return [{ label: "value", values: raw, color: "#0969da" }];
    }
    return [
      { label: "value", values: raw, color: "#0969da", alpha: 0.25, width: 1 },
      { label: "smoothed", values: AxonCharts.smooth(raw, weight), color: "#0969da", width: 2 },
    ];
  }

  function draw(entry) {
    var time = xAxis() === "time";
    entry.plot.dataset.x = time ? "time" : "step";
    AxonCharts.line(entry.plot, {
      x: time ? entry.series.times : entry.series.steps,
      time: time,
      xLabel: time ? "time" : "step",
      series: seriesFor(entry.values, smoothing()),
    });
  }

  function restyle(entry) {
    var chart = entry.plot.uplot;
    if (!chart) { return; }
    var weight = smoothing();
    // A change in the number of lines needs new options; otherwise new data is enough.
    if ((weight > 0) !== (chart.series.length === 3)) { draw(entry); return; }
    var lines = seriesFor(entry.values, weight).map(function (s) { return s.values; });
    chart.setData([chart.data[0]].concat(lines));
  }

  function note(element, series, values) {
    var gaps = values.filter(function (v) { return v === null; }).length;
    var text = series.count > series.steps.length
      ? series.steps.length + " of " + series.count + " points (min/max of each bucket)"
      : series.count + (series.count === 1 ? " point" : " points");
    if (gaps) { text += "; " + gaps + " NaN or infinite, drawn as gaps"; }
    var caption = element.querySelector(".chart-note");
    if (!caption) {
      caption = document.createElement("div");
      caption.className = "muted chart-note";
      element.appendChild(caption);
    }
    caption.textContent = text;
    element.dataset.count = String(series.count);
    element.dataset.gaps = String(gaps);
  }

  // A series arrived, first or again: a chart shown already keeps its uPlot and takes the data.
  function show(element, series) {
    var values = AxonCharts.numbers(series.values);
    var entry = loaded.filter(function (e) { return e.element === element; })[0];
    if (entry) {
      entry.series = series;
      entry.values = values;
      var chart = entry.plot.uplot, lines = seriesFor(values, smoothing());
      if (chart && chart.series.length === lines.length + 1) {
        var x = xAxis() === "time" ? series.times : series.steps;
        chart.setData([x].concat(lines.map(function (s) { return s.values; })));
        entry.plot.dataset.points = String(x.length);
      } else {
        draw(entry);
      }
    } else {
      entry = { element: element, plot: element.querySelector(".plot"), series: series, values: values };
      loaded.push(entry);
      draw(entry);
    }
    note(element, series, values);
    element.classList.add("loaded");
  }

  function load(element) {
    var kind = element.dataset.kind, name = element.dataset.name;
    var url = page.urls[kind] + "?points=" + page.points + "&name=" + encodeURIComponent(name);
    Axon.getJSON(url).then(function (answer) {
      show(element, answer[0]);
    }).catch(function (error) {
      element.classList.add("error");
      element.appendChild(document.createTextNode(String(error.message || error)));
    });
  }

  function charts() {
    document.querySelectorAll(".metric-chart").forEach(load);
    var select = document.getElementById("chart-x");
    var input = document.getElementById("chart-smoothing");
    var shown = document.getElementById("chart-smoothing-value");
    if (select) { select.addEventListener("change", function () { loaded.forEach(draw); }); }
    if (input) {
      input.addEventListener("input", function () {
        shown.textContent = smoothing().toFixed(2);
        loaded.forEach(restyle);
      });
    }
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        loaded.forEach(function (entry) { AxonCharts.resize(entry.plot); });
      }, 150);
    });
  }

  function follow() {
    var logs = document.getElementById("logs");
    var live = document.getElementById("logs-live");
    var stop = document.getElementById("stop-form");
    var offset = page.logsOffset;
    var where = function () { return page.urls.logs + "?offset=" + offset; };
    var source = Axon.stream(where, ["logs", "reset", "status", "done"], function (name, data, message) {
      if (name === "logs") {
        offset = Number(message.lastEventId) || offset;
        var atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
        logs.appendChild(document.createTextNode(data.text));
        if (atEnd) { logs.scrollTop = logs.scrollHeight; }
      } else if (name === "reset") {
        offset = 0;
        logs.textContent = "";
      } else if (name === "status" && data.status) {
        Axon.badge(document.getElementById("run-status"), data.status);
      } else if (name === "done") {
        source.close();
        document.dispatchEvent(new Event("axon:run-ended"));
        if (live) { live.textContent = "ended"; }
        if (stop) { stop.remove(); }
      }
    });
  }

  window.AxonRunPage = { page: page, show: show };
  charts();
  if (page.live) { follow(); }
})();
