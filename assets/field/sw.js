/* gridmap /field's service worker: the page and the user's area open offline once visited.
 *
 * Served by the app at /field-sw.js (gridmap/app/field.py fills in the version, the path
 * prefix and the shell's URLs). The shell (the page, Leaflet, the page's script and
 * styles) is cached at install; the data (the cases, the geometry, the photos) is fetched
 * from the network first and kept, so the last copy is there when the network is not.
 * Writes (POST) are never touched: the page's outbox (IndexedDB) keeps them until the
 * server confirms them.
 */
"use strict";

var VERSION = "__VERSION__";
var PREFIX = "__PREFIX__";
var SHELL_URLS = "__SHELL__";
var SHELL = "gridmap-field-shell-" + VERSION;
var DATA = "gridmap-field-data";
var PAGE = PREFIX + "field";

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL).then(function (cache) {
      // One by one: a page that redirects (signed out) must not fail the others.
      return Promise.all(SHELL_URLS.map(function (url) {
        return fetch(url, { credentials: "same-origin" }).then(function (resp) {
          if (resp.ok && !resp.redirected) {
            return url === PAGE
              ? caches.open(DATA).then(function (data) { return data.put(PAGE, resp); })
              : cache.put(url, resp);
          }
        }).catch(function () {});
      }));
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) {
        return n.indexOf("gridmap-field-shell-") === 0 && n !== SHELL;
      }).map(function (n) { return caches.delete(n); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function cacheFirst(request) {
  return caches.match(request).then(function (hit) {
    return hit || fetch(request).then(function (resp) {
      if (resp.ok) {
        var copy = resp.clone();
        caches.open(SHELL).then(function (cache) { cache.put(request, copy); });
      }
      return resp;
    });
  });
}

function networkFirst(request, key) {
  return fetch(request).then(function (resp) {
    // Keep answers, not redirects to the sign-in page nor refusals.
    if (resp.ok && !resp.redirected && resp.type === "basic") {
      var copy = resp.clone();
      caches.open(DATA).then(function (cache) { cache.put(key || request, copy); });
    }
    return resp;
  }, function (err) {
    return caches.open(DATA).then(function (cache) {
      return cache.match(key || request);
    }).then(function (hit) {
      if (hit) return hit;
      throw err;
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return; // map tiles: the browser's own cache
  var path = url.pathname;
  if (path.indexOf(PREFIX + "field-assets/") === 0) {
    event.respondWith(cacheFirst(request));
  } else if (path === PAGE && request.mode === "navigate") {
    event.respondWith(networkFirst(request, PAGE));
  } else if (path.indexOf(PREFIX + "_gridmap/") === 0 && path !== PREFIX + "_gridmap/ping") {
    event.respondWith(networkFirst(request));
  }
});
