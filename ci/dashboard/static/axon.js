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

  // An EventSource that calls `onEvent(name, data)` with parsed JSON; the browser reconnects
  // by itself, and `Last-Event-ID` lets the server resume where the stream broke off.
  function stream(url, names, onEvent) {
    var source = new EventSource(url);
    names.forEach(function (name) {
      source.addEventListener(name, function (message) { onEvent(name, JSON.parse(message.data)); });
    });
    return source;
  }

  function badge(element, status) {
    element.className = "badge " + status;
    element.textContent = status;
  }

  return { getJSON: getJSON, stream: stream, badge: badge };
})();
