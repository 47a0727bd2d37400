/* The runs list: the badges of the runs shown follow their statuses while the page is open.
   The table's data-stream names the event stream of the runs not yet done. */
"use strict";
(function () {
  var table = document.getElementById("runs");
  var url = table && table.getAttribute("data-stream");
  if (!url) { return; }
  var source = Axon.stream(url, ["runs", "end"], function (name, data) {
    if (name === "runs") { data.forEach(show); return; }
    // Every run shown is done: nothing more will change while the page is open.
    source.close();
  });

  function show(run) {
    var row = table.querySelector('tr[data-run="' + run.uuid + '"]');
    if (!row) { return; }
    var badge = row.querySelector(".badge");
    if (badge.textContent !== run.status) { Axon.badge(badge, run.status); }
    row.querySelector(".duration").textContent = run.duration;
  }
})();
