/* The wall display (/wall): asks the server what changed every few seconds and updates
   only that, in place. No framework: a page that runs for days must not grow, so every
   element is made once and its text replaced, markers are added and removed by id, and
   nothing is kept that the screen no longer shows. Every name from the data is text
   (textContent), never markup. */
(function () {
  "use strict";

  var cfg = JSON.parse(document.body.dataset.config);
  var T = cfg.text;
  var zone = cfg.tz;
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  var state = {
    home: cfg.unit,
    unit: cfg.unit,
    have: {},          // panel -> digest the page holds (of the unit on screen)
    data: {},          // panel -> its data
    at: {},            // panel -> client time its data was last confirmed current
    offset: 0,         // server clock - client clock (ms)
    lostSince: null,   // client time the connection was lost
    storeSince: null,  // server time the store was last seen, while it is lost
    signedOut: false,
    stops: [],
    stop: 0,
    nextStop: 0,
    seenAlerts: null,  // ids of alerts shown (null until the first answer)
    takeoverUntil: 0,
    markers: {},       // id -> circle marker
    firstSeen: {},     // id -> client time a marker first appeared (pulses a minute)
    geometryOf: null,  // the unit whose geometry is drawn
    loaded: Date.now(),
    reloadAt: 0,
    timer: null,
    inFlight: false,
    again: false
  };

  // -- time ----------------------------------------------------------------------------

  function serverNow() { return Date.now() + state.offset; }

  var fmtTime = new Intl.DateTimeFormat("zh-CN", {
    timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
  });
  var fmtHM = new Intl.DateTimeFormat("zh-CN", {
    timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false
  });
  var fmtDate = new Intl.DateTimeFormat(cfg.lang === "en" ? "en-GB" : "zh-CN", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", weekday: "short"
  });

  var fmtDay = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });

  function when(iso) {
    // A time of today as HH:MM; an older one with its date.
    var d = new Date(iso);
    var today = fmtDay.format(new Date(serverNow()));
    return fmtDay.format(d) === today ? fmtHM.format(d) : fmtDay.format(d).slice(5) + " " + fmtHM.format(d);
  }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] === undefined ? "" : values[k]; });
  }

  function setText(el, text) {
    if (el && el.textContent !== text) { el.textContent = text; }
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function percent(rate) {
    return rate === null || rate === undefined ? null : (Math.round(rate * 1000) / 10).toFixed(1);
  }

  // -- the panels ---------------------------------------------------------------------------

  var draw = {
    unit: function (u) {
      setText($("[data-testid=wall-unit]"), u.name);
      document.title = u.name + " · " + T["wall.title"];
      var level = u.children.length ? u.level : "";
      var key = { district: "wall.rank_units.subdistrict", subdistrict: "wall.rank_units.community",
                  community: "wall.rank_units.grid" }[level] || "wall.rank_units.subdistrict";
      setText($(".gm-rank-title"), T[key]);
      if (u.code === state.home) {
        state.stops = [u.code].concat(u.children.map(function (c) { return c.code; }));
      }
      if (state.geometryOf !== u.code) { loadGeometry(u); }
    },

    clock: function () { tick(); },

    kpis: function (k) {
      $$("[data-kpi]").forEach(function (tile) {
        var key = tile.dataset.kpi;
        var value = k[key];
        var fig = $(".gm-fig", tile);
        var rate = /rate|share/.test(key);
        // Rates in per cent, the sign in the label: the figure fits its tile at 1/15 of the height.
        var shown = rate ? percent(value) : (value === null || value === undefined ? null : String(value));
        setText(fig, shown === null ? T["wall.none"] : shown);
      });
    },

    rank_units: function (rows) {
      list($("[data-testid=ranking-subdistricts]"), rows, function (r, i) {
        var li = el("li");
        li.dataset.code = r.code;
        li.appendChild(el("span", "gm-n", String(i + 1)));
        li.appendChild(el("span", "gm-name", r.name));
        li.appendChild(el("span", "gm-val", r.rate === null ? T["wall.none"] : percent(r.rate) + "%"));
        return li;
      }, rows.length);
    },

    rank_departments: function (rows) {
      list($("[data-testid=ranking-departments]"), rows, function (r, i) {
        var li = el("li");
        li.appendChild(el("span", "gm-n", String(i + 1)));
        li.appendChild(el("span", "gm-name", r.name));
        li.appendChild(el("span", "gm-val", String(r.overdue)));
        return li;
      });
    },

    categories: function (rows) {
      list($("[data-testid=ranking-categories]"), rows, function (r) {
        var li = el("li");
        li.dataset.category = r.id;
        li.appendChild(el("span", "gm-name", cfg.categories[r.id] || r.id));
        li.appendChild(el("span", "gm-val", String(r.week)));
        var change = r.week - r.last_week;
        var sign = change > 0 ? "▲" + change : change < 0 ? "▼" + (-change) : "＝";
        li.appendChild(el("span", change > 0 ? "gm-up" : change < 0 ? "gm-down" : "", sign));
        return li;
      });
    },

    feed: function (rows) {
      list($("[data-testid=case-feed]"), rows, function (r) {
        var li = el("li", r["new"] ? "gm-new" : "");
        li.dataset.case = r.id;
        li.appendChild(el("span", "gm-time", fmtHM.format(new Date(r.at))));
        li.appendChild(el("span", "gm-where", r.grid + " · " + (cfg.categories[r.category] || r.category)));
        li.appendChild(el("span", "gm-step", r["new"] ? T["wall.feed_new"] : (cfg.steps[r.step] || r.step)));
        return li;
      });
    },

    trend: function (t) {
      chart($("[data-testid=trend-7]"), t, 7);
      chart($("[data-testid=trend-30]"), t, 30);
    },

    alerts: function (a) {
      var items = a.items || [];
      var box = $("[data-testid=alert-list]");
      if (!items.length) {
        box.replaceChildren(el("li", "gm-none", T["wall.alerts_none"]));
      } else {
        list(box, items, function (r) {
          var li = el("li");
          li.dataset.alert = r.id;
          li.appendChild(el("span", "gm-kind", T["wall.alert." + r.kind]));
          li.appendChild(el("span", "gm-where", r.grid + " · " + r["case"]));
          li.appendChild(el("span", "gm-time", when(r.since)));
          return li;
        }, a.total);
      }
      takeover(items, a.total);
    },

    map: function (m) {
      state.mapData = m;
      styleUnits();
      legend(m.breaks);
      var keep = {};
      var now = Date.now();
      m.markers.forEach(function (row) {
        var id = row[2];
        keep[id] = true;
        var late = row[4] === 1;
        var marker = state.markers[id];
        if (!marker) {
          marker = L.circleMarker([row[1], row[0]], markerStyle(late));
          marker.addTo(markerLayer);
          state.markers[id] = marker;
          // A case not there before (after the first answer) is new: it pulses a minute.
          if (state.markersReady || now - (row[5] - state.offset) < 60000) { state.firstSeen[id] = now; }
        } else {
          marker.setLatLng([row[1], row[0]]);
          if (marker.options.gmLate !== late) { marker.setStyle(markerStyle(late)); }
        }
      });
      Object.keys(state.markers).forEach(function (id) {
        if (!keep[id]) {
          markerLayer.removeLayer(state.markers[id]);
          delete state.markers[id];
          delete state.firstSeen[id];
        }
      });
      state.markersReady = true;
      pulse();
    }
  };

  function list(box, rows, make, total) {
    // Rebuilt whole (a few dozen nodes), then cut to what fits: no scrolling, no half rows.
    var nodes = rows.map(make);
    box.replaceChildren.apply(box, nodes);
    var bottom = box.getBoundingClientRect().bottom + 1;
    while (box.lastChild && box.lastChild.getBoundingClientRect().bottom > bottom) {
      box.removeChild(box.lastChild);
    }
    var shown = box.children.length;
    if (total !== undefined && total > shown && shown > 0) {
      box.removeChild(box.lastChild);
      box.appendChild(el("li", "gm-more", fill(T["wall.more"], { n: total })));
    }
  }

  function chart(box, t, days) {
    var n = t.days.length;
    var news = t["new"].slice(n - days);
    var closed = t.closed.slice(n - days);
    var labels = t.days.slice(n - days);
    var w = box.clientWidth || 400;
    var h = box.clientHeight || 150;
    var fs = window.innerHeight / 40;  // the labels' size (2.5vh)
    var top = fs * 1.3;
    var bottom = h - fs * 1.4;
    var max = Math.max(1, Math.max.apply(null, news.concat(closed)));
    var step = w / days;
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    var y = function (v) { return bottom - (bottom - top) * v / max; };
    var points = [];
    news.forEach(function (v, i) {
      var bar = document.createElementNS(ns, "rect");
      bar.setAttribute("class", "gm-bar");
      bar.setAttribute("x", String(i * step + step * 0.18));
      bar.setAttribute("width", String(step * 0.64));
      bar.setAttribute("y", String(y(v)));
      bar.setAttribute("height", String(Math.max(0, bottom - y(v))));
      svg.appendChild(bar);
      points.push((i * step + step / 2) + "," + y(closed[i]));
      if (days <= 7) {
        text(svg, i * step + step / 2, y(v) - fs * 0.25, String(v), "gm-v");
        text(svg, i * step + step / 2, h - fs * 0.3, labels[i].slice(5), "");
      }
    });
    var line = document.createElementNS(ns, "polyline");
    line.setAttribute("class", "gm-closed");
    line.setAttribute("points", points.join(" "));
    svg.appendChild(line);
    if (days > 7) {
      text(svg, step / 2, h - fs * 0.3, labels[0].slice(5), "", "start");
      text(svg, w - step / 2, h - fs * 0.3, labels[days - 1].slice(5), "", "end");
      text(svg, w / 2, h - fs * 0.3, T["wall.new"] + " ▮  " + T["wall.closed"] + " —", "", "middle");
      text(svg, 0, top - fs * 0.2, String(max), "gm-v", "start");
    }
    box.replaceChildren(svg);
  }

  function text(svg, x, y, value, cls, anchor) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", "text");
    node.setAttribute("x", String(x));
    node.setAttribute("y", String(y));
    node.setAttribute("text-anchor", anchor || "middle");
    if (cls) { node.setAttribute("class", cls); }
    node.textContent = value;
    svg.appendChild(node);
  }

  // -- alerts taking over the screen ----------------------------------------------------------

  function takeover(items, total) {
    var first = state.seenAlerts === null;
    var seen = state.seenAlerts || {};
    var fresh = items.filter(function (a) { return !seen[a.id]; });
    var next = {};
    items.forEach(function (a) { next[a.id] = true; });
    state.seenAlerts = next;
    if (!fresh.length) { return; }
    var box = $("[data-testid=alert-takeover]");
    setText($(".gm-takeover-title", box), T["wall.alerts"]);
    var ul = $(".gm-takeover-list", box);
    ul.replaceChildren.apply(ul, fresh.slice(0, 5).map(function (a) {
      var li = el("li");
      li.dataset.alert = a.id;
      li.textContent = T["wall.alert." + a.kind] + " · " + a.grid + " · " + a["case"] + " · " +
        fill(T["wall.alert_since"], { time: when(a.since) });
      return li;
    }));
    var more = (first ? total : fresh.length) - Math.min(5, fresh.length);
    setText($(".gm-takeover-more", box), more > 0 ? fill(T["wall.alert_more"], { n: more }) : "");
    box.hidden = false;
    state.takeoverUntil = Date.now() + cfg.alertSeconds * 1000;
  }

  function endTakeover() {
    var box = $("[data-testid=alert-takeover]");
    if (!box.hidden && Date.now() >= state.takeoverUntil) {
      box.hidden = true;
      // The tour resumes with a full dwell at its stop.
      state.nextStop = Date.now() + cfg.dwell * 1000;
    }
  }

  // -- the map --------------------------------------------------------------------------------

  var map = L.map("gm-wall-map", {
    zoomControl: false, attributionControl: false, dragging: false, scrollWheelZoom: false,
    doubleClickZoom: false, boxZoom: false, keyboard: false, touchZoom: false, tap: false,
    zoomSnap: 0.1, renderer: L.svg({ padding: 0.2 }), fadeAnimation: false, zoomAnimation: false
  });
  var unitLayer = L.geoJSON(null, { style: unitStyle }).addTo(map);
  // The cases above the units whenever the units' geometry arrives.
  map.createPane("gm-cases").style.zIndex = 450;
  var markerLayer = L.layerGroup().addTo(map);
  var palette = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];

  if (cfg.basemap) {
    fetch(cfg.basemap, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) {
          L.geoJSON(data, { style: { color: "#6b7c99", weight: 1, opacity: 0.6, fill: false },
                            interactive: false }).addTo(map).bringToBack();
        }
      }).catch(function () { /* the map goes on without its basemap */ });
  } else if (cfg.tiles.length) {
    cfg.tiles.forEach(function (tl) {
      L.tileLayer(tl.url, { subdomains: tl.subdomains || "abc" }).addTo(map);
    });
  }

  function loadGeometry(u) {
    state.geometryOf = u.code;
    fetch(cfg.units + encodeURIComponent(u.code) + ".geojson?v=" + u.version, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || state.geometryOf !== u.code) { return; }
        unitLayer.clearLayers();
        unitLayer.addData(data);
        unitLayer.eachLayer(function (layer) {
          var span = el("span", "", layer.feature.properties.name);
          layer.bindTooltip(span, { permanent: true, direction: "center", className: "gm-wall-label",
                                    interactive: false });
        });
        map.invalidateSize();
        if (unitLayer.getBounds().isValid()) { map.fitBounds(unitLayer.getBounds(), { padding: [8, 8] }); }
        styleUnits();
        declutter();
      }).catch(function () { state.geometryOf = null; });
  }

  function unitStyle(feature) {
    var m = state.mapData;
    var n = m && m.open ? m.open[feature.properties.code] : undefined;
    var fill = "#556070";
    if (n !== undefined && m.breaks.length) {
      var k = 0;
      while (k < m.breaks.length - 1 && n > m.breaks[k]) { k++; }
      var idx = Math.round(k * (palette.length - 1) / Math.max(1, m.breaks.length - 1));
      fill = palette[idx];
    }
    return { color: "#8aa0c0", weight: 1.5, fillColor: fill, fillOpacity: 0.55 };
  }

  function styleUnits() { unitLayer.setStyle(unitStyle); }

  function legend(breaks) {
    var box = $(".gm-legend-classes");
    var lo = 0;
    box.replaceChildren.apply(box, breaks.map(function (b, k) {
      var idx = Math.round(k * (palette.length - 1) / Math.max(1, breaks.length - 1));
      var span = el("span", "", (k === 0 ? "≤" + b : (lo + 1) + "–" + b));
      span.style.background = palette[idx];
      lo = b;
      return span;
    }));
  }

  function declutter() {
    // Labels largest unit first; one that would overlap a label already placed is hidden.
    var placed = [];
    var layers = [];
    unitLayer.eachLayer(function (layer) { layers.push(layer); });
    layers.sort(function (a, b) { return area(b) - area(a); });
    layers.forEach(function (layer) {
      var tip = layer.getTooltip();
      var node = tip && tip.getElement();
      if (!node) { return; }
      node.style.visibility = "";
      var r = node.getBoundingClientRect();
      var hit = placed.some(function (p) {
        return r.left < p.right && r.right > p.left && r.top < p.bottom && r.bottom > p.top;
      });
      if (hit) { node.style.visibility = "hidden"; } else { placed.push(r); }
    });
  }

  function area(layer) {
    var b = layer.getBounds();
    return (b.getEast() - b.getWest()) * (b.getNorth() - b.getSouth());
  }

  function markerStyle(late) {
    return { radius: Math.max(4, window.innerHeight / 180), color: "#ffffff", weight: 1.5,
             fillColor: late ? "#ff4b3a" : "#39b6ff", fillOpacity: 0.95, gmLate: late,
             interactive: false, pane: "gm-cases" };
  }

  function pulse() {
    var now = Date.now();
    Object.keys(state.firstSeen).forEach(function (id) {
      var marker = state.markers[id];
      var on = now - state.firstSeen[id] < 60000;
      var path = marker && marker.getElement && marker.getElement();
      if (path) { path.classList.toggle("gm-pulse", on); }
      if (!on) { delete state.firstSeen[id]; }
    });
  }

  // -- asking the server ---------------------------------------------------------------------

  function ask() {
    clearTimeout(state.timer);
    // One request at a time: asked again meanwhile (the tour moved on), it goes out
    // as soon as the one under way is answered (two loops would never merge again).
    if (state.inFlight) { state.again = true; return; }
    state.inFlight = true;
    var params = new URLSearchParams({ unit: state.unit, alerts: state.home });
    var have = Object.keys(state.have).map(function (k) { return state.have[k]; });
    if (have.length) { params.set("have", have.join(",")); }
    var controller = new AbortController();
    var timeout = setTimeout(function () { controller.abort(); }, 10000);
    var asked = state.unit;
    fetch(cfg.api + "?" + params.toString(), { credentials: "same-origin", cache: "no-store",
                                               signal: controller.signal })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) { return [r.status, body]; });
      })
      .then(function (answer) {
        var status = answer[0], body = answer[1];
        if (status === 200) {
          if (asked === state.unit) { apply(body); }
          connected();
        } else if (status === 401) {
          state.signedOut = true;
          lost(T["wall.signed_out"]);
        } else if (status === 503 && body.store === "lost") {
          state.storeSince = state.storeSince || (body.since ? Date.parse(body.since) : serverNow());
          lost(fill(T["wall.store_lost"], { time: fmtHM.format(new Date(state.storeSince)) }));
        } else {
          lostConnection();
        }
      })
      .catch(function () { lostConnection(); })
      .then(function () {
        clearTimeout(timeout);
        state.inFlight = false;
        clearTimeout(state.timer);
        state.timer = setTimeout(ask, state.again ? 0 : cfg.poll * 1000);
        state.again = false;
      });
  }

  function apply(body) {
    var now = Date.now();
    state.offset = Date.parse(body.now) - now;
    var checked = body.checked ? Date.parse(body.checked) - state.offset : now;
    Object.keys(body.panels).forEach(function (name) {
      state.have[name] = body.panels[name].digest;
      state.data[name] = body.panels[name].data;
    });
    // The unit first (titles, geometry), then the rest.
    ["unit", "clock", "kpis", "rank_units", "rank_departments", "categories", "feed", "trend", "map",
     "alerts"].forEach(function (name) {
      if (body.panels[name] && draw[name]) {
        try { draw[name](body.panels[name].data); } catch (e) { console.error(e); }
      }
    });
    Object.keys(state.data).forEach(function (name) { state.at[name] = checked; });
    ages();
  }

  function connected() {
    state.lostSince = null;
    state.storeSince = null;
    state.signedOut = false;
    $("[data-testid=connection-lost]").hidden = true;
    document.body.classList.remove("gm-lost");
  }

  function lostConnection() {
    state.lostSince = state.lostSince || serverNow();
    lost(fill(T["wall.lost"], { time: fmtHM.format(new Date(state.lostSince)) }));
  }

  function lost(message) {
    var banner = $("[data-testid=connection-lost]");
    setText(banner, message);
    banner.hidden = false;
    document.body.classList.add("gm-lost");
  }

  // -- every second ---------------------------------------------------------------------------

  function ages() {
    var now = Date.now();
    $$("[data-testid=data-age]").forEach(function (node) {
      var at = state.at[node.dataset.panel];
      if (!at) { return; }
      var seconds = Math.max(0, Math.round((now - at) / 1000));
      var text = seconds < 60 ? fill(T["wall.age_seconds"], { n: seconds })
        : seconds < 3600 ? fill(T["wall.age_minutes"], { n: Math.floor(seconds / 60) })
          : fill(T["wall.age"], { time: fmtHM.format(new Date(at + state.offset)) });
      setText(node, text);
      node.dataset.seconds = String(seconds);
      node.title = fmtTime.format(new Date(at + state.offset));
    });
  }

  function tick() {
    var now = new Date(serverNow());
    var clock = state.data.clock;
    setText($("[data-testid=wall-clock]"), fmtDate.format(now) + " " + fmtTime.format(now));
    if (clock) { document.body.dataset.day = clock.day; }
  }

  function tour() {
    if (!cfg.tour || state.stops.length < 2) { return; }
    var now = Date.now();
    var box = $("[data-testid=tour-stop]");
    box.hidden = false;
    setText(box, (state.stop + 1) + "/" + state.stops.length);
    if (!$("[data-testid=alert-takeover]").hidden) { return; }
    if (!state.nextStop) { state.nextStop = now + cfg.dwell * 1000; }
    if (now < state.nextStop) { return; }
    state.stop = (state.stop + 1) % state.stops.length;
    show(state.stops[state.stop]);
    state.nextStop = now + cfg.dwell * 1000;
  }

  function show(code) {
    // Another unit: its own panels (the alerts stay the home's).
    state.unit = code;
    var alerts = state.data.alerts, alertsDigest = state.have.alerts;
    state.have = {};
    state.data = {};
    if (alerts) { state.data.alerts = alerts; state.have.alerts = alertsDigest; }
    state.markersReady = false;
    Object.keys(state.markers).forEach(function (id) { markerLayer.removeLayer(state.markers[id]); });
    state.markers = {};
    state.firstSeen = {};
    ask();
  }

  function nightly() {
    // Once a night (03:00 on the wall's clock) the page reloads to start clean, when the
    // server answers (a reload without one would leave an error page on the wall).
    if (!state.reloadAt) {
      var d = new Date(serverNow());
      var parts = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "numeric", minute: "numeric",
                                                     second: "numeric", hour12: false }).formatToParts(d);
      var get = function (t) { return Number(parts.filter(function (p) { return p.type === t; })[0].value); };
      var since = ((get("hour") % 24) * 3600 + get("minute") * 60 + get("second")) * 1000;
      var until = (3 * 3600 * 1000 - since + 86400000) % 86400000 || 86400000;
      state.reloadAt = serverNow() + until;
    }
    if (serverNow() >= state.reloadAt && state.lostSince === null && state.storeSince === null) {
      window.location.reload();
    }
  }

  setInterval(function () {
    tick();
    ages();
    pulse();
    endTakeover();
    tour();
    nightly();
  }, 1000);
  window.addEventListener("resize", function () { map.invalidateSize(); declutter(); });
  // For tests and the soak benchmark: how many panels were drawn, and when.
  window.gmWall = { state: state, ask: ask };
  tick();
  ask();
})();
