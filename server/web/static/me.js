// The volunteer's page (/ich): log in from the QR code's link, and make the page installable.
//
// The issuing sheet's QR code opens /ich#k=<secret>.  The fragment never reaches the
// server; this script takes it out of the address bar (and so out of the history) at
// once, posts the secret to /v1/me/session and reloads: the page then comes with the
// session cookie.  Without JavaScript the form on the page does the same.
// It also registers the service worker (/ich/sw.js) that keeps the last page for
// offline use (on the first visit, by asking it to fetch the page once more), and
// deletes that copy when the person logs out.
(function () {
  "use strict";
  var CACHE = "kk-ich-v1";
  var PAGE_PATH = "/ich";  // the one page the worker keeps (static/me-sw.js)

  // The secret in the fragment, which leaves the address bar at once (and so the history).
  function takeSecret() {
    var hash = window.location.hash;
    if (!hash) { return null; }
    var found = /^#k=([A-Za-z0-9_-]{1,200})$/.exec(hash);
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    return found ? found[1] : null;
  }
  var secret = takeSecret();

  function show(kind) {
    var box = document.querySelector("[data-kk-login-status]");
    if (!box) { return; }
    box.textContent = box.getAttribute("data-" + kind) || "";
    box.hidden = false;
  }

  function logIn(code) {
    show("busy");
    fetch("/v1/me/session", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ secret: code })
    }).then(function (answer) {
      if (answer.status === 204) {
        window.location.replace("/ich");
      } else {
        show(answer.status === 429 ? "limited" : answer.status === 401 ? "invalid" : "failed");
      }
    }, function () { show("failed"); });
  }

  function ready() {
    if (secret) { logIn(secret); }
    // The link opened in a tab already showing /ich changes only the fragment: no new page load.
    window.addEventListener("hashchange", function () {
      var again = takeSecret();
      if (again) { logIn(again); }
    });
    var logout = document.querySelector("form[data-kk-logout]");
    if (logout && window.caches) {
      logout.addEventListener("submit", function () { window.caches.delete(CACHE); });
    }
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/ich/sw.js", { scope: "/ich" }).catch(function () {});
      // A page the worker did not fetch is not kept yet: the first visit, or one whose request left
      // before the new worker took control (it claims pages as it activates). Ask the worker to fetch it.
      if (document.querySelector("[data-kk-offline]")) {
        var uncontrolled = !navigator.serviceWorker.controller;
        navigator.serviceWorker.ready.then(function (registration) {
          var kept = window.caches ? window.caches.match(PAGE_PATH) : Promise.resolve(undefined);
          return kept.then(function (copy) {
            if ((uncontrolled || !copy) && registration.active) { registration.active.postMessage("keep"); }
          });
        }).catch(function () {});
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
