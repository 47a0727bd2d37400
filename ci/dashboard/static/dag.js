/* The pipeline page: the dag drawn in layers (an op's layer is the longest path to it from an op
   that waits for none), ops ordered within a layer near the ops they wait for, edges as curves;
   each op's status is asked for every couple of seconds until the dag is done. */
"use strict";
(function () {
  var NS = "http://www.w3.org/2000/svg";
  var W = 168, H = 42, GAP_X = 72, GAP_Y = 14, PAD = 16, LONGEST_NAME = 22;

  function escape(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // Each op's layer, by Kahn's order: the server's graph has no cycle (a dag with one never
  // compiles), but an op left over is put first rather than lost.
  function layers(ops) {
    var byName = new Map(ops.map(function (op) { return [op.name, op]; }));
    var downs = new Map(ops.map(function (op) { return [op.name, []]; }));
    var waiting = new Map();
    ops.forEach(function (op) {
      op.up = op.up.filter(function (name) { return byName.has(name) && name !== op.name; });
      op.up.forEach(function (name) { downs.get(name).push(op.name); });
      waiting.set(op.name, op.up.length);
    });
    var layer = new Map(), ready = [];
    ops.forEach(function (op) { if (!op.up.length) { ready.push(op.name); layer.set(op.name, 0); } });
    for (var i = 0; i < ready.length; i += 1) {
      var name = ready[i];
      downs.get(name).forEach(function (down) {
        layer.set(down, Math.max(layer.get(down) || 0, layer.get(name) + 1));
        waiting.set(down, waiting.get(down) - 1);
        if (waiting.get(down) === 0) { ready.push(down); }
      });
    }
    var found = [];
    ops.forEach(function (op) {
      var at = layer.has(op.name) ? layer.get(op.name) : 0;
      (found[at] = found[at] || []).push(op);
    });
    return { layers: found.filter(Boolean), downs: downs };
  }

  // Within each layer, ops sorted by the mean row of their neighbours in the layer before
  // (then after): a sweep each way keeps most edges short and uncrossed.
  function order(found) {
    var row = new Map();
    function place(layer) { layer.forEach(function (op, i) { row.set(op.name, i); }); }
    function mean(names, fallback) {
      var known = names.filter(function (n) { return row.has(n); });
      if (!known.length) { return fallback; }
      return known.reduce(function (sum, n) { return sum + row.get(n); }, 0) / known.length;
    }
    function sweep(list, neighbours) {
      list.forEach(function (layer) {
        var keyed = layer.map(function (op, i) { return [mean(neighbours(op), i), i, op]; });
        keyed.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
        layer.splice.apply(layer, [0, layer.length].concat(keyed.map(function (k) { return k[2]; })));
        place(layer);
      });
    }
    found.layers.forEach(place);
    sweep(found.layers.slice(1), function (op) { return op.up; });
    sweep(found.layers.slice(0, -1).reverse(), function (op) { return found.downs.get(op.name); });
  }

  function label(name) {
    return name.length > LONGEST_NAME ? name.slice(0, LONGEST_NAME - 1) + "…" : name;
  }

  function draw(holder, graph) {
    var found = layers(graph.ops);
    order(found);
    var rows = Math.max.apply(null, found.layers.map(function (l) { return l.length; }).concat([1]));
    var tall = rows * (H + GAP_Y) - GAP_Y;
    var at = new Map();
    found.layers.forEach(function (layer, column) {
      var top = PAD + (tall - (layer.length * (H + GAP_Y) - GAP_Y)) / 2;
      layer.forEach(function (op, i) {
        at.set(op.name, { x: PAD + column * (W + GAP_X), y: top + i * (H + GAP_Y) });
      });
    });
    var width = PAD * 2 + found.layers.length * (W + GAP_X) - GAP_X;
    var height = PAD * 2 + tall;
    var edges = "", nodes = "";
    graph.ops.forEach(function (op) {
      var to = at.get(op.name);
      op.up.forEach(function (name) {
        var from = at.get(name);
        var x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2, bend = (x2 - x1) / 2;
        edges += '<path class="edge" data-from="' + escape(name) + '" data-to="' + escape(op.name) +
          '" d="M' + x1 + " " + y1 + " C" + (x1 + bend) + " " + y1 + " " + (x2 - bend) + " " + y2 +
          " " + x2 + " " + y2 + '"/>';
      });
      var href = holder.dataset.runUrl.replace("UUID", encodeURIComponent(op.uuid));
      nodes += '<a href="' + escape(href) + '"><g class="node ' + escape(op.status) + '" data-op="' +
        escape(op.name) + '" data-status="' + escape(op.status) + '" transform="translate(' +
        to.x + "," + to.y + ')"><title>' + escape(op.name) + " (" + escape(op.kind) + ")</title>" +
        '<rect width="' + W + '" height="' + H + '" rx="6"/><text x="10" y="17">' +
        escape(label(op.name)) + '</text><text class="state" x="10" y="33">' + escape(op.status) +
        "</text></g></a>";
    });
    holder.innerHTML = '<svg xmlns="' + NS + '" width="' + width + '" height="' + height +
      '" role="img" aria-label="the pipeline\'s ops">' + edges + nodes + "</svg>";
    holder.dataset.nodes = String(graph.ops.length);
    holder.dataset.layers = String(found.layers.length);
  }

  function update(holder, answer) {
    holder.querySelectorAll("g.node").forEach(function (node) {
      var status = answer.ops[node.dataset.op];
      if (!status || status === node.dataset.status) { return; }
      node.setAttribute("class", "node " + status);
      node.dataset.status = status;
      node.querySelector("text.state").textContent = status;
    });
    Axon.badge(document.getElementById("dag-status"), answer.status);
    count(answer.ops);
  }

  function count(statuses) {
    var tally = {}, total = 0;
    Object.keys(statuses).forEach(function (name) {
      tally[statuses[name]] = (tally[statuses[name]] || 0) + 1;
      total += 1;
    });
    var parts = Object.keys(tally).sort().map(function (s) { return tally[s] + " " + s; });
    document.getElementById("dag-counts").textContent = total + " op(s)" +
      (parts.length ? ": " + parts.join(", ") : "");
  }

  function follow(holder, done) {
    if (done) { return; }
    window.setTimeout(function () {
      Axon.getJSON(holder.dataset.statuses).then(function (answer) {
        update(holder, answer);
        follow(holder, answer.done);
      }, function () { follow(holder, false); });  // a dropped answer: ask again next time
    }, Number(holder.dataset.pollMs) || 1500);
  }

  var holder = document.getElementById("dag");
  Axon.getJSON(holder.dataset.source).then(function (graph) {
    draw(holder, graph);
    var statuses = {};
    graph.ops.forEach(function (op) { statuses[op.name] = op.status; });
    count(statuses);
    follow(holder, graph.done);
  }, function (error) {
    holder.innerHTML = "";
    var note = document.createElement("p");
    note.className = "error";
    note.textContent = "Could not load the pipeline: " + error.message;
    holder.appendChild(note);
  });
})();
