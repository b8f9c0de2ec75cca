// Light refresh for pages whose <main> carries data-live="seconds": fetch the same URL, swap <main>
// when it changed. Revalidates with the server's ETag, so an unchanged page costs a 304.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !main.dataset.live || !window.fetch || !window.DOMParser) { return; }
  var every = Math.max(1, parseFloat(main.dataset.live)) * 1000;
  function poll() {
    fetch(location.href, { cache: "no-cache", credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        if (!fresh) { return; }
        var current = document.getElementById("main");
        if (fresh.innerHTML !== current.innerHTML) {
          var focused = document.activeElement && document.activeElement.id;
          current.innerHTML = fresh.innerHTML;
          current.dataset.version = fresh.dataset.version || "";
          if (focused && document.getElementById(focused)) { document.getElementById(focused).focus(); }
        }
        if (fresh.dataset.live) { setTimeout(poll, every); }
      })
      .catch(function () { setTimeout(poll, every * 2); });
  }
  setTimeout(poll, every);
})();
