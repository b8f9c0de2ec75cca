// The console works without this file. With it, the ticket queue refreshes itself: every few
// seconds it asks the server for the same page as an HTML fragment and swaps the table in, and
// says how many tickets are new since the page was opened.
(function () {
  "use strict";
  var box = document.getElementById("queue");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-live");
  var countOf = function () {
    var p = document.getElementById("queue-count");
    return p ? parseInt(p.getAttribute("data-newest") || "0", 10) : 0;
  };
  var firstNewest = countOf();
  var busy = false;
  var refresh = function () {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var focused = document.activeElement && box.contains(document.activeElement);
        box.innerHTML = html;
        var newest = countOf();
        var p = document.getElementById("queue-count");
        if (p && newest > firstNewest) {
          p.textContent += " (new tickets since you opened the page)";
        }
        if (focused) { box.focus(); }
      })
      .catch(function () { /* offline for a moment: try again next time */ })
      .then(function () { busy = false; });
  };
  window.setInterval(refresh, parseInt(box.getAttribute("data-interval") || "5000", 10));
})();
