/* The run page's charts follow a live run: every few seconds the summary of each kind (the
   page's metrics.json and system.json without a name: each series' count and last point) says
   which series grew or first appeared, and only those are fetched again, in one request per
   kind, cut to the page's points as at load. A whole series rather than its new points: once a
   series is longer than a chart shows, each new point moves the min/max buckets of the cut.
   After the run ends, one last look catches what it wrote at the end, then the polling stops
   (the body's data-charts-live reads "following", then "ended"). */
"use strict";
(function () {
  var page = window.AxonRunPage && AxonRunPage.page;
  if (!page || !page.live) { return; }
  var EVERY = 3000;  // ms between looks
  var KINDS = ["metric", "system"];
  var seen = { metric: {}, system: {} };  // kind -> name -> the summary last fetched for
  var ended = false, timer = null;

  function signature(last) { return last.count + "@" + last.step + "@" + last.time; }

  function chartOf(kind, name) {
    var charts = document.querySelectorAll(".metric-chart[data-kind='" + kind + "']");
    for (var i = 0; i < charts.length; i++) {
      if (charts[i].dataset.name === name) { return charts[i]; }
    }
    return null;
  }

  // A series that appeared after the page was made: a chart in its kind's section, in the
  // section's (sorted) order, the section shown with the chart controls if none are in sight.
  function newChart(kind, name) {
    var section = document.querySelector("section.charts[data-kind='" + kind + "']");
    var grid = section.querySelector(".chart-grid");
    var element = document.createElement("div");
    element.className = "metric-chart";
    element.dataset.kind = kind;
    element.dataset.name = name;
    var title = document.createElement("div");
    title.className = "chart-title";
    title.textContent = name;
    var plot = document.createElement("div");
    plot.className = "plot";
    element.appendChild(title);
    element.appendChild(plot);
    var after = Array.prototype.filter.call(grid.children, function (c) { return c.dataset.name > name; })[0];
    grid.insertBefore(element, after || null);
    if (section.hidden) {
      section.hidden = false;
      var controls = document.querySelector(".chart-controls");
      if (controls && controls.closest("section").hidden) { section.insertBefore(controls, grid); }
    }
    return element;
  }

  function changed(kind, summary) {
    return Object.keys(summary).filter(function (name) {
      var now = signature(summary[name]), element = chartOf(kind, name);
      var before = seen[kind][name];
      if (before === undefined && element) {
        // Drawn at load: nothing new unless the count moved (a chart still loading waits).
        if (!element.dataset.count) { return false; }
        before = element.dataset.count === String(summary[name].count) ? now : "";
      }
      seen[kind][name] = now;
      return before !== now;
    });
  }

  function look(kind) {
    return Axon.getJSON(page.urls[kind]).then(function (summary) {
      var names = changed(kind, summary);
      if (!names.length) { return null; }
      var query = names.map(function (n) { return "&name=" + encodeURIComponent(n); }).join("");
      return Axon.getJSON(page.urls[kind] + "?points=" + page.points + query).then(function (answer) {
        answer.forEach(function (series) {
          AxonRunPage.show(chartOf(kind, series.name) || newChart(kind, series.name), series);
        });
      });
    });
  }

  function tick() {
    timer = null;
    var last = ended;
    if (document.hidden && !last) {  // a tab in the background costs the server nothing
      timer = setTimeout(tick, EVERY);
      return;
    }
    Promise.all(KINDS.map(function (kind) {
      // A look that failed (a restart, a dropped connection) is simply taken again next time.
      return look(kind).catch(function () { return null; });
    })).then(function () {
      if (last) {
        document.body.dataset.chartsLive = "ended";
      } else {
        timer = setTimeout(tick, EVERY);
      }
    });
  }

  document.addEventListener("axon:run-ended", function () {
    ended = true;
    if (timer !== null) {
      clearTimeout(timer);
      tick();
    }
  });
  document.body.dataset.chartsLive = "following";
  timer = setTimeout(tick, EVERY);
})();
