// The service worker of the volunteer's page (/ich): the last good copy, shown when the network fails.
//
// Network first: every visit of /ich goes to the server.  An answer marked
// "X-KK-Offline: keep" (a page with a session) replaces the saved copy; one marked
// "clear" (the login page) and the logout delete it.  When the network fails, the
// saved copy is shown with its "Stand" line revealed (the page printed its own time).
// Nothing else is touched: other paths, the API and the downloads go to the network.
"use strict";
var CACHE = "kk-ich-v1";
var PAGE = "/ich";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.method === "POST" && url.pathname === PAGE + "/abmelden") {
    event.respondWith(caches.delete(CACHE).then(function () { return fetch(request); }));
    return;
  }
  if (request.method !== "GET" || request.mode !== "navigate" || url.pathname !== PAGE) { return; }
  event.respondWith(fromNetwork(request));
});

// The page asks for its copy to be kept when the worker did not fetch it (the first visit).
self.addEventListener("message", function (event) {
  if (event.data !== "keep" || event.origin !== self.location.origin) { return; }
  event.waitUntil(keep(fetch(PAGE, { credentials: "same-origin", cache: "no-store" })).catch(function () {}));
});

function fromNetwork(request) {
  return keep(fetch(request)).catch(function (failure) { return saved(failure); });
}

// The answer as it came, after keeping it ("keep") or deleting the copy ("clear").
function keep(fetched) {
  return fetched.then(function (answer) {
    var mark = answer.headers.get("X-KK-Offline");
    if (mark === "keep" && answer.ok) {
      var copy = answer.clone();
      return caches.open(CACHE).then(function (cache) { return cache.put(PAGE, copy); })
        .then(function () { return answer; }, function () { return answer; });
    }
    if (mark === "clear") {
      return caches.delete(CACHE).then(function () { return answer; });
    }
    return answer;
  });
}

// The kept copy with its "no connection" line shown, or the network's failure when none is kept.
function saved(failure) {
  return caches.open(CACHE).then(function (cache) { return cache.match(PAGE); }).then(function (copy) {
    if (!copy) { throw failure; }
    return copy.text().then(function (text) {
      var shown = text.replace("data-kk-offline hidden", "data-kk-offline");
      return new Response(shown, { headers: { "Content-Type": "text/html; charset=utf-8" } });
    });
  });
}
