/* Parallel coordinates in SVG, and the scales and colours the search page's plots share.
   A plot is built as one SVG string and set at once: a thousand lines draw in one layout. */
"use strict";
window.AxonPlots = (function () {
  var NS = "http://www.w3.org/2000/svg";
  // Viridis, from worst (dark purple) to best (yellow).
  var RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  var NO_VALUE = "#afb8c1", PLAIN = "#0969da";

  function escape(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function isNumber(value) {
    return typeof value === "number" && isFinite(value);
  }

  // A value as one label: a mapping matrix may give a param a list or an object.
  function text(value) {
    return value !== null && typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  function short(value) {
    if (typeof value !== "number") { return text(value); }
    if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) {
      return value.toExponential(1);
    }
    return String(Number(value.toPrecision(3)));
  }

  /* A scale over `values` (null or undefined where a trial has none): `at(value)` is its place
     from 0 (bottom, left) to 1, or null; `ticks` the values to label. `kind` "category" (or
     values not all numbers) gives one slot per distinct value, numbers in order first; else a
     linear scale, or with "log" and all values positive a logarithmic one. */
  function scale(values, kind) {
    var present = values.filter(function (v) { return v !== null && v !== undefined; });
    if (kind !== "category" && present.length && present.every(isNumber)) {
      var low = Math.min.apply(null, present), high = Math.max.apply(null, present);
      var useLog = kind === "log" && low > 0;
      var f = useLog ? Math.log10 : function (v) { return v; };
      var a = f(low), b = f(high);
      if (a === b) { a -= 1; b += 1; }
      var ticks = [];
      for (var i = 0; i <= 4; i += 1) {
        var t = a + (b - a) * i / 4;
        ticks.push(useLog ? Math.pow(10, t) : t);
      }
      return {
        numeric: true,
        ticks: ticks,
        at: function (v) { return isNumber(v) && (!useLog || v > 0) ? (f(v) - a) / (b - a) : null; },
      };
    }
    var distinct = Array.from(new Map(present.map(function (v) { return [text(v), v]; })).values());
    distinct.sort(function (a, b) {
      if (isNumber(a) && isNumber(b)) { return a - b; }
      if (isNumber(a) !== isNumber(b)) { return isNumber(a) ? -1 : 1; }
      return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
    });
    var names = distinct.map(text);
    var slot = new Map(names.map(function (name, i) { return [name, i]; }));
    return {
      numeric: false,
      ticks: names,
      at: function (v) {
        if (v === null || v === undefined) { return null; }
        return (slot.get(text(v)) + 0.5) / names.length;
      },
    };
  }

  function colour(t) {
    if (t === null || !isFinite(t)) { return NO_VALUE; }
    var x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
    var i = Math.min(RAMP.length - 2, Math.floor(x)), f = x - i;
    var c = RAMP[i].map(function (low, k) { return Math.round(low + (RAMP[i + 1][k] - low) * f); });
    return "rgb(" + c.join(",") + ")";
  }

  /* A colour for each trial's metric value: yellow the best end (high when maximizing). */
  function colourer(trials, optimization) {
    var values = trials.map(function (trial) { return trial.value; });
    var s = scale(values.filter(isNumber), "linear");
    return function (value) {
      if (!isNumber(value)) { return NO_VALUE; }
      var t = s.at(value);
      return colour(optimization === "minimize" ? 1 - t : t);
    };
  }

  function svg(width, height, body, label) {
    return '<svg xmlns="' + NS + '" width="' + width + '" height="' + height + '" viewBox="0 0 ' +
      width + " " + height + '" role="img" aria-label="' + escape(label) + '">' + body + "</svg>";
  }

  function vertical(x, top, height, s, name) {
    var out = '<g class="axis"><line x1="' + x + '" x2="' + x + '" y1="' + top + '" y2="' +
      (top + height) + '"/><text class="name" x="' + x + '" y="' + (top - 12) +
      '" text-anchor="middle">' + escape(name) + "</text>";
    var every = Math.max(1, Math.ceil(s.ticks.length / 20));
    s.ticks.forEach(function (tick, i) {
      if (i % every) { return; }
      var y = top + (1 - s.at(tick)) * height;
      out += '<line x1="' + (x - 4) + '" x2="' + x + '" y1="' + y + '" y2="' + y + '"/>' +
        '<text x="' + (x - 6) + '" y="' + (y + 3.5) + '" text-anchor="end">' +
        escape(short(tick)) + "</text>";
    });
    return out + "</g>";
  }

  /* Draw `data` (the search page's trials.json) into `holder`: one axis per param and one for
     the metric, one line per trial coloured by its metric, the best trial's line on top. */
  function parallel(holder, data, onPick) {
    var started = performance.now();
    var axes = data.params.map(function (param) {
      return { name: param.name, scale: param.scale, read: function (t) { return t.params[param.name]; } };
    });
    if (data.metric) {
      axes.push({ name: data.metric.name, scale: "linear", read: function (t) { return t.value; } });
    }
    var width = Math.max(480, holder.clientWidth), height = 380;
    var left = 70, right = 50, top = 34, bottom = 16;
    var plotHeight = height - top - bottom;
    var step = axes.length > 1 ? (width - left - right) / (axes.length - 1) : 0;
    var xs = axes.map(function (_, i) { return axes.length > 1 ? left + i * step : width / 2; });
    var scales = axes.map(function (axis) {
      return scale(data.trials.map(axis.read), axis.scale);
    });
    // Without a metric there is nothing to rank by: every line in one colour.
    var paint = data.metric ? colourer(data.trials, data.metric.optimization)
      : function () { return PLAIN; };
    var bestUuid = data.best ? data.best.uuid : "";
    var lines = [], best = "";
    byValue(data.trials, data.metric).forEach(function (trial) {
      var d = "", pen = "M";
      axes.forEach(function (axis, i) {
        var t = scales[i].at(axis.read(trial));
        if (t === null) { pen = "M"; return; }
        d += pen + xs[i].toFixed(1) + " " + (top + (1 - t) * plotHeight).toFixed(1);
        pen = "L";
      });
      var isBest = trial.uuid === bestUuid;
      var line = '<path class="trial' + (isBest ? " best" : "") + '" data-uuid="' + trial.uuid +
        '" stroke="' + paint(trial.value) + '" d="' + d + '"><title>' + escape(trial.name) +
        (data.metric ? " · " + escape(data.metric.name) + " " + escape(short(trial.value)) : "") +
        "</title></path>";
      if (isBest) { best = line; } else { lines.push(line); }
    });
    var body = lines.join("") + best;
    axes.forEach(function (axis, i) { body += vertical(xs[i], top, plotHeight, scales[i], axis.name); });
    holder.innerHTML = svg(width, height, body, "trials across params") + legend(data);
    holder.dataset.lines = String(holder.querySelectorAll("path.trial").length);
    holder.dataset.axes = String(axes.length);
    holder.dataset.best = best ? bestUuid : "";
    holder.dataset.drawMs = (performance.now() - started).toFixed(1);
    pickable(holder, onPick);
  }

  // The worse trials first, so that the better ones are drawn over them; no value, first of all.
  function byValue(trials, metric) {
    var sign = metric && metric.optimization === "minimize" ? -1 : 1;
    return trials.slice().sort(function (a, b) {
      var x = isNumber(a.value), y = isNumber(b.value);
      if (x !== y) { return x ? 1 : -1; }
      return x ? sign * (a.value - b.value) : 0;
    });
  }

  function legend(data) {
    if (!data.metric) { return ""; }
    var ends = data.metric.optimization === "minimize" ? ["higher", "lower"] : ["lower", "higher"];
    return '<p class="scale-bar"><span>' + escape(data.metric.name) + " " + ends[0] +
      '</span><span class="ramp"></span><span>' + ends[1] + " (better)</span>" +
      '<span class="muted">· the thick dark line is the best trial</span></p>';
  }

  function pickable(holder, onPick) {
    holder.onclick = function (event) {
      var uuid = event.target.getAttribute && event.target.getAttribute("data-uuid");
      if (uuid && onPick) { onPick(uuid); }
    };
  }

  return {
    escape: escape, isNumber: isNumber, short: short, scale: scale, colourer: colourer,
    svg: svg, vertical: vertical, parallel: parallel, pickable: pickable,
  };
})();
