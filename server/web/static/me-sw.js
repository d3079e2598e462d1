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

function fromNetwork(request) {
  return fetch(request).then(function (answer) {
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
  }, function (failure) {
    return caches.open(CACHE).then(function (cache) { return cache.match(PAGE); }).then(function (saved) {
      if (!saved) { throw failure; }
      return saved.text().then(function (text) {
        var shown = text.replace("data-kk-offline hidden", "data-kk-offline");
        return new Response(shown, { headers: { "Content-Type": "text/html; charset=utf-8" } });
      });
    });
  });
}
