/* The search page: its trials as parallel coordinates (parallel.js) and a scatter of the param
   the select names against the metric, the best trial marked in both; a click opens a trial. */
"use strict";
(function () {
  var P = window.AxonPlots;
  var INSET = 0.04;  // the scatter's dots keep off its axes

  function open(uuid) { window.location.href = "/runs/" + encodeURIComponent(uuid); }

  function horizontal(left, y, width, s) {
    var out = '<g class="axis"><line x1="' + left + '" x2="' + (left + width) + '" y1="' + y +
      '" y2="' + y + '"/>';
    var every = Math.max(1, Math.ceil(s.ticks.length / 12));
    s.ticks.forEach(function (tick, i) {
      if (i % every) { return; }
      var x = left + s.at(tick) * width;
      out += '<line x1="' + x + '" x2="' + x + '" y1="' + y + '" y2="' + (y + 4) + '"/>' +
        '<text x="' + x + '" y="' + (y + 16) + '" text-anchor="middle">' +
        P.escape(P.short(tick)) + "</text>";
    });
    return out + "</g>";
  }

  function inset(s) {
    if (!s.numeric) { return s; }
    return {
      numeric: true,
      ticks: s.ticks,
      at: function (v) { var t = s.at(v); return t === null ? null : INSET + t * (1 - 2 * INSET); },
    };
  }

  function scatter(holder, data, name) {
    var param = data.params.filter(function (p) { return p.name === name; })[0] || data.params[0];
    var read = function (trial) { return trial.params[param.name]; };
    var xs = inset(P.scale(data.trials.map(read), param.scale));
    var ys = inset(P.scale(data.trials.map(function (t) { return t.value; }), "linear"));
    var paint = P.colourer(data.trials, data.metric.optimization);
    var width = Math.max(480, holder.clientWidth), height = 320;
    var left = 70, right = 20, top = 28, bottom = 36;
    var w = width - left - right, h = height - top - bottom;
    var bestUuid = data.best ? data.best.uuid : "";
    var dots = [], best = "";
    data.trials.forEach(function (trial, i) {
      var x = xs.at(read(trial)), y = ys.at(trial.value);
      if (x === null || y === null || !P.isNumber(trial.value)) { return; }
      if (!xs.numeric) {  // spread a category's dots across its slot, else they hide each other
        x += ((i * 0.618034) % 1 - 0.5) * 0.6 / xs.ticks.length;
      }
      var isBest = trial.uuid === bestUuid;
      var dot = '<circle class="trial' + (isBest ? " best" : "") + '" data-uuid="' + trial.uuid +
        '" cx="' + (left + x * w).toFixed(1) + '" cy="' + (top + (1 - y) * h).toFixed(1) +
        '" r="' + (isBest ? 7 : 3.5) + '" fill="' + paint(trial.value) + '"><title>' +
        P.escape(trial.name) + " · " + P.escape(param.name) + " " + P.escape(P.short(read(trial))) +
        " · " + P.escape(data.metric.name) + " " + P.escape(P.short(trial.value)) +
        "</title></circle>";
      if (isBest) { best = dot; } else { dots.push(dot); }
    });
    var body = horizontal(left, top + h, w, xs) + P.vertical(left, top, h, ys, data.metric.name) +
      '<text class="name" x="' + (left + w / 2) + '" y="' + (height - 2) +
      '" text-anchor="middle">' + P.escape(param.name) + "</text>" + dots.join("") + best;
    holder.innerHTML = P.svg(width, height, body, param.name + " against " + data.metric.name);
    holder.dataset.points = String(dots.length + (best ? 1 : 0));
    holder.dataset.param = param.name;
    holder.dataset.best = best ? bestUuid : "";
    P.pickable(holder, open);
  }

  function show(data) {
    P.parallel(document.getElementById("parallel"), data, open);
    var holder = document.getElementById("scatter");
    var select = document.getElementById("scatter-param");
    if (holder && select && data.metric && data.params.length) {
      scatter(holder, data, select.value);
      select.addEventListener("change", function () { scatter(holder, data, select.value); });
    }
    document.body.dataset.searchDrawnAt = performance.now().toFixed(1);
  }

  show(JSON.parse(document.getElementById("search-data").textContent));
})();
