/* A page that lost its server says so, keeps what it shows, and catches up when back.
 *
 * Grid supervisors' tablets are on weak mobile connections; wall displays run
 * unattended. Without this, a request that fails leaves the page silent: a
 * breadcrumb link changes the URL but not the screen, and the panels of a view
 * whose data never came stay empty.
 *
 * - Offline is known from the browser (`offline` event, `navigator.onLine`) and
 *   from Dash's own requests: `window.fetch` is wrapped, and a callback request
 *   that fails on the network, or that a proxy answers 502/503/504 (the server
 *   behind it is gone), marks the page offline. <body> then carries
 *   `gm-is-offline`, which shows the banner (`data-testid="offline"`, its text
 *   in the page's language, from the server). The class is on <body>, outside
 *   React, so a re-rendered page keeps it.
 * - While offline, clicks that would open another view (links, the map's units
 *   and features) are held back, and the banner says so: the URL never names a
 *   view the screen does not show. Zooming and panning the map still work.
 * - A callback answered 401 (the session ended: gridmap/app/auth.py) opens the
 *   sign-in page, which comes back to this view afterwards.
 * - Every few seconds `/_gridmap/ping` (an empty 204) is asked; the first
 *   answer, or any callback that succeeds, means the server is back. The page
 *   then catches up: if the page itself failed to render (the back button while
 *   offline), Dash Pages renders the URL's view again; otherwise the dashboard's
 *   `gm-reconnect` store is set, and its data check runs at once (new data from
 *   the outage shows without waiting for the next refresh tick), and every
 *   figure and layer asks again if any of their requests failed.
 */
(function () {
  "use strict";

  var OFFLINE = "gm-is-offline";
  var HELD = "gm-held";
  // gridmap.app.ids.RECONNECT, and Dash Pages' own dcc.Location.
  var RECONNECT = "gm-reconnect";
  var PAGES_LOCATION = "_pages_location";
  var PING = "_gridmap/ping";
  var POLL_MS = 3000;

  var realFetch = window.fetch.bind(window);
  var state = {offline: false, missed: 0, pageMissed: false, timer: null, leaving: false};

  function body() {
    return document.body || document.documentElement;
  }

  function prefix() {
    // Where the app is mounted (Dash writes its config into the page).
    try {
      var config = JSON.parse(document.getElementById("_dash-config").textContent);
      return config.requests_pathname_prefix || "/";
    } catch (e) {
      return "/";
    }
  }

  function isCallback(url) {
    return String(url || "").indexOf("/_dash-update-component") !== -1;
  }

  function goOffline() {
    if (!state.offline) {
      state.offline = true;
      body().classList.add(OFFLINE);
    }
    if (state.timer === null) {
      state.timer = window.setInterval(ping, POLL_MS);
    }
  }

  function goOnline() {
    if (!state.offline) {
      return;
    }
    state.offline = false;
    window.clearInterval(state.timer);
    state.timer = null;
    body().classList.remove(OFFLINE, HELD);
    catchUp();
  }

  function catchUp() {
    var missed = state.missed;
    var page = state.pageMissed;
    state.missed = 0;
    state.pageMissed = false;
    var dc = window.dash_clientside;
    if (!dc || typeof dc.set_props !== "function") {
      return;
    }
    try {
      if (page) {
        // Render the view the URL names (Dash Pages' callback takes these as inputs).
        dc.set_props(PAGES_LOCATION, {pathname: location.pathname, search: location.search});
      } else {
        dc.set_props(RECONNECT, {data: {missed: missed, at: Date.now()}});
      }
    } catch (e) {
      // A page without the store (an empty one) has nothing to catch up.
    }
  }

  function missedOne(init) {
    if (state.leaving) {
      return;
    }
    state.missed += 1;
    var sent = init && typeof init.body === "string" ? init.body : "";
    if (sent.indexOf('"_pages_content') !== -1) {
      state.pageMissed = true;
    }
    goOffline();
  }

  function signIn() {
    // The session ended (idle, signed out elsewhere, the account disabled, the
    // wall token revoked): the sign-in page, back to this view afterwards.
    if (state.leaving) {
      return;
    }
    state.leaving = true;
    var here = location.pathname + location.search;
    location.assign(prefix() + "login?reason=ended&next=" + encodeURIComponent(here));
  }

  function ping() {
    realFetch(prefix() + PING, {cache: "no-store"}).then(
      function (res) {
        if (res.ok) {
          goOnline();
        }
      },
      function () {
        // Still offline: the next poll asks again.
      }
    );
  }

  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : input && input.url;
    var sent = realFetch(input, init);
    if (!isCallback(url)) {
      return sent;
    }
    return sent.then(
      function (res) {
        if (res.status === 401) {
          signIn();
          // Dash is told "nothing to update" (it would log the refusal as an error,
          // reading the body twice): the page is leaving for the login page anyway.
          return new Response(null, {status: 204});
        } else if (res.status === 502 || res.status === 503 || res.status === 504) {
          missedOne(init);
        } else if (state.offline) {
          goOnline();
        }
        return res;
      },
      function (error) {
        if (!(error && error.name === "AbortError")) {
          missedOne(init);
        }
        throw error;
      }
    );
  };

  // Hold back what would open another view, in the capture phase: before
  // dcc.Link or Leaflet see the click.
  document.addEventListener(
    "click",
    function (event) {
      if (!state.offline || !(event.target instanceof Element)) {
        return;
      }
      var link = event.target.closest("a[href]");
      var opens = link ? !link.closest(".leaflet-control") : false;
      if (opens || event.target.closest(".gm-map .leaflet-interactive")) {
        event.preventDefault();
        event.stopImmediatePropagation();
        body().classList.add(HELD);
      }
    },
    true
  );

  window.addEventListener("offline", goOffline);
  window.addEventListener("online", ping);
  // Requests cut short by leaving the page are no outage.
  window.addEventListener("pagehide", function () {
    state.leaving = true;
  });
  window.addEventListener("pageshow", function () {
    state.leaving = false;
  });
  if (navigator.onLine === false) {
    goOffline();
  }
})();
