/* Helpers every dashboard page shares. Pages read their data from JSON and event-stream routes
   beside them (same origin, the login session), never from another origin. */
"use strict";
window.Axon = (function () {
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) {
        if (!answer.ok) { throw new Error(url + " answered " + answer.status); }
        return answer.json();
      });
  }

  // An EventSource that calls `onEvent(name, data, message)` with parsed JSON; the browser
  // reconnects by itself, and `Last-Event-ID` lets the server resume where it broke off.
  // `where` is the stream's URL, or a function giving it, asked at each (re)opening.
  // The stream is closed while its page sits in the back/forward cache and opened again when
  // the page is shown: Chromium gives a site six connections, and a few pages left behind with
  // open streams would stall the next page until their streams ended.
  function stream(where, names, onEvent) {
    var handle = { source: null, closed: false };
    function open() {
      var source = new EventSource(typeof where === "function" ? where() : where);
      names.forEach(function (name) {
        source.addEventListener(name, function (message) {
          onEvent(name, JSON.parse(message.data), message);
        });
      });
      handle.source = source;
    }
    handle.close = function () {
      handle.closed = true;
      if (handle.source) { handle.source.close(); }
    };
    window.addEventListener("pagehide", function () {
      if (handle.source) { handle.source.close(); }
    });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted && !handle.closed) { open(); }
    });
    open();
    return handle;
  }

  function badge(element, status) {
    element.className = "badge " + status;
    element.textContent = status;
  }

  return { getJSON: getJSON, stream: stream, badge: badge };
})();
