/* gridmap /field: a grid supervisor's cases, reports and moves, with an outbox that loses nothing.
 *
 * Every report and every move is first written to the outbox (IndexedDB), then sent; an
 * item leaves the outbox only when the server has answered it with 2xx. Sent in order,
 * each with its idempotency key (made when the item was written), so a retry after a
 * dropped answer gets the first answer back instead of a second case. An item the server
 * refuses (a conflict, a case closed meanwhile, a place outside the grid) stays, with the
 * reason and a choice (retry, discard). Nothing from the data is ever put into the page as
 * markup: text nodes only (a description is text, never HTML).
 *
 * The page's catalogue, the first list of cases and the URLs come in <body data-config>.
 */
(function () {
  "use strict";

  var cfg = JSON.parse(document.body.getAttribute("data-config"));
  var STEP_COLOURS = {
    collected: "#6a3d9a",
    registered: "#1f78b4",
    dispatched: "#ff7f00",
    handling: "#e6ab02",
    reported_back: "#33a02c"
  };
  var DB_NAME = "gridmap-field";
  var STORE = "outbox";
  var DATA_CACHE = "gridmap-field-data";
  var PHOTO_BYTES = 100 * 1024; // 2 s at 50 kB/s: a report with a photo within 3 s
  // [longest side, JPEG quality], tried in turn until the photo fits PHOTO_BYTES.
  var ENCODINGS = [[1600, 0.82], [1600, 0.7], [1600, 0.58], [1280, 0.58], [1024, 0.55], [800, 0.5]];

  // -- small helpers ------------------------------------------------------------------

  function T(key, values) {
    var s = cfg.text[key] || key;
    if (values) {
      Object.keys(values).forEach(function (k) {
        s = s.split("{" + k + "}").join(String(values[k]));
      });
    }
    return s;
  }

  function $(sel, root) {
    return (root || document).querySelector(sel);
  }

  /* An element with attributes and children (strings become text nodes, never markup). */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "on") Object.keys(v).forEach(function (ev) { node.addEventListener(ev, v[ev]); });
      else node.setAttribute(k, v === true ? "" : String(v));
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /* A random key (crypto.getRandomValues works on plain http too, randomUUID does not). */
  function newKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function duration(seconds) {
    var s = Math.abs(seconds);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (cfg.lang === "zh") {
      if (d) return d + "天" + h + "小时";
      if (h) return h + "小时" + m + "分";
      return m + "分钟";
    }
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + m + " min";
    return m + " min";
  }

  function countdown(c) {
    if (!c.deadline) return T("field.no_deadline");
    var left = (Date.parse(c.deadline) - Date.now()) / 1000;
    return left < 0 ? T("field.overdue", { t: duration(left) }) : T("field.left", { t: duration(left) });
  }

  function isOverdue(c) {
    return !!c.deadline && Date.parse(c.deadline) < Date.now();
  }

  var LOCALE = cfg.lang === "zh" ? "zh-CN" : "en-GB";

  function when(iso) {
    return new Date(iso).toLocaleString(LOCALE, { dateStyle: "short", timeStyle: "short" });
  }

  function stepName(s) {
    return cfg.steps[s] || s;
  }

  function toast(text) {
    var node = $("[data-testid=toast]");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { node.hidden = true; }, 4000);
  }

  // -- the outbox (IndexedDB) ---------------------------------------------------------

  var dbPromise = null;

  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = function () {
          req.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbPromise;
  }

  function tx(mode, work) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction(STORE, mode);
        var out = work(t.objectStore(STORE));
        t.oncomplete = function () { resolve(out && out.result !== undefined ? out.result : out); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error); };
      });
    });
  }

  function outboxAll() {
    return tx("readonly", function (s) { return s.getAll(); }).then(function (items) {
      return (items || []).sort(function (a, b) { return a.seq - b.seq; });
    });
  }

  function outboxPut(item) {
    return tx("readwrite", function (s) { return s.put(item); });
  }

  function outboxDelete(seq) {
    return tx("readwrite", function (s) { return s.delete(seq); });
  }

  /* Write an item to the outbox first, then try to send everything (nothing is sent unsaved). */
  function enqueue(item) {
    item.key = newKey();
    item.user = cfg.user;
    item.created = new Date().toISOString();
    item.status = "pending";
    return outboxPut(item).then(function () {
      renderOutbox();
      return flush();
    });
  }

  function formOf(item) {
    var form = new FormData();
    form.append("key", item.key);
    form.append("lang", cfg.lang);
    Object.keys(item.fields).forEach(function (k) {
      var v = item.fields[k];
      if (v !== null && v !== undefined && v !== "") form.append(k, v);
    });
    (item.photos || []).forEach(function (blob, i) {
      form.append("photo", blob, "photo-" + (i + 1) + ".jpg");
    });
    return form;
  }

  var flushing = null;
  var online = navigator.onLine;

  function setOnline(state) {
    online = state;
    var node = $("[data-testid=net-state]");
    node.textContent = state ? T("field.online") : T("field.offline");
    node.className = "gm-field-net " + (state ? "gm-on" : "gm-off");
  }

  /* Send the pending items of this user, oldest first. Stops at the first network failure
     (the rest wait for the connection), goes on past a refusal (kept with its reason). */
  function flush() {
    if (flushing) return flushing;
    var refused = 0;
    flushing = outboxAll().then(function (items) {
      var sent = 0;
      var pending = items.filter(function (i) { return i.status === "pending" && i.user === cfg.user; });
      function next(k) {
        if (k >= pending.length) return sent;
        var item = pending[k];
        var url = cfg.api + (item.kind === "report" ? "report" : "move");
        return fetch(url, { method: "POST", body: formOf(item), credentials: "same-origin" }).then(
          function (resp) {
            setOnline(true);
            if (resp.status === 401) {
              toast(T("field.sign_in_again"));
              return sent;
            }
            if (resp.status >= 500 || resp.status === 429) return sent; // try again later
            return resp.json().catch(function () { return {}; }).then(function (body) {
              if (resp.ok) {
                sent++;
                return outboxDelete(item.seq).then(function () { return next(k + 1); });
              }
              refused++;
              item.status = "refused";
              item.reason = body.message || body.error || String(resp.status);
              item.hint = body.hint || null;
              item.code = resp.status;
              item.current = body.current || null;
              item.changed = body.changed || null;
              return outboxPut(item).then(function () { return next(k + 1); });
            });
          },
          function () {
            setOnline(false);
            return sent;
          }
        );
      }
      return next(0);
    }).then(function (sent) {
      flushing = null;
      if (refused) {
        // A refusal needs the user's choice: show it now, not only in the count.
        closeSheets();
        $("#gm-outbox").hidden = false;
        toast(T("field.refused"));
      }
      renderOutbox();
      if (sent) {
        toast(T("field.sent") + " · " + sent);
        refreshCases();
      }
      return sent;
    }, function (err) {
      flushing = null;
      throw err;
    });
    return flushing;
  }

  function renderOutbox() {
    return outboxAll().then(function (items) {
      $("[data-testid=outbox-count]").textContent = String(items.length);
      var box = $("#gm-outbox");
      if (box.hidden) return items;
      clear(box);
      box.appendChild(el("h2", { text: T("field.outbox_title") }));
      if (!items.length) box.appendChild(el("p", { "data-testid": "outbox-empty", text: T("field.outbox_empty") }));
      var list = el("ul", { class: "gm-outbox-items" });
      items.forEach(function (item) { list.appendChild(outboxItem(item)); });
      box.appendChild(list);
      box.appendChild(el("button", { type: "button", class: "gm-big", text: T("field.close"),
        on: { click: function () { box.hidden = true; } } }));
      return items;
    });
  }

  function outboxItem(item) {
    var kind = item.kind === "report" ? T("field.report_kind") : T("field.move_kind");
    var li = el("li", { class: "gm-outbox-item gm-" + item.status, "data-testid": "outbox-item",
      "data-status": item.status, "data-kind": item.kind },
      el("strong", { text: kind + " · " + (item.label || "") }),
      el("span", { class: "gm-when", text: when(item.created) }));
    if (item.user !== cfg.user) {
      li.appendChild(el("p", { text: T("field.other_user", { user: item.user }) }));
      return li;
    }
    if (item.status === "pending") {
      li.appendChild(el("p", { text: T("field.pending") }));
      return li;
    }
    li.appendChild(el("p", { class: "gm-error", "data-testid": "outbox-reason",
      text: T("field.refused") + (cfg.lang === "zh" ? "：" : ": ") + item.reason }));
    if (item.changed && item.changed.length) {
      var what = item.changed.map(function (e) {
        return (e.actor || "") + " " + stepName(e.from_step) + " → " + stepName(e.to_step);
      }).join("；");
      li.appendChild(el("p", { "data-testid": "outbox-changed", text: T("field.changed", { what: what }) }));
    }
    if (item.current) {
      li.appendChild(el("p", { text: T("field.conflict_now", { step: stepName(item.current.step) }) }));
    }
    var row = el("div", { class: "gm-row" });
    var possible = !item.current || (item.current.moves || []).some(function (m) {
      return m.name === item.fields.move && m.to_step === item.fields.to_step;
    });
    if (possible) {
      row.appendChild(el("button", { type: "button", class: "gm-big gm-primary", "data-testid": "outbox-retry",
        text: item.current ? T("field.changed_retry") : T("field.retry"),
        on: { click: function () {
          if (item.current) item.fields.version = item.current.version;
          item.status = "pending";
          item.current = item.changed = item.reason = null;
          outboxPut(item).then(flush);
        } } }));
    }
    row.appendChild(el("button", { type: "button", class: "gm-big", "data-testid": "outbox-discard",
      text: T("field.discard"),
      on: { click: function () {
        if (window.confirm(T("field.discard_confirm"))) outboxDelete(item.seq).then(renderOutbox);
      } } }));
    li.appendChild(row);
    return li;
  }

  // -- the map ------------------------------------------------------------------------

  var map = null, caseLayer = null, placeMarker = null, areaBounds = null;

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    });
  }

  function tip(text) {
    return el("span", { text: text }); // Leaflet puts a string tooltip in as HTML: an element is text
  }

  function initMap() {
    map = L.map("gm-field-map", { zoomControl: true, minZoom: 10, maxZoom: 19, preferCanvas: false });
    map.setView([28.2, 112.9], 13);
    (cfg.tiles || []).forEach(function (t) {
      L.tileLayer(t.url, { subdomains: t.subdomains || "abc", attribution: t.attribution, maxZoom: 19 }).addTo(map);
    });
    if (cfg.basemap) {
      getJSON(cfg.basemap).then(function (g) {
        L.geoJSON(g, { interactive: false, style: function () {
          return { color: "#8c8c8c", weight: 1.5, opacity: 0.8, fill: false };
        } }).addTo(map).bringToBack();
      }).catch(function () {});
    }
    getJSON(cfg.units).then(function (g) {
      L.geoJSON(g, {
        style: function () { return { color: "#4d4d4d", weight: 1, fillColor: "#c6dbef", fillOpacity: 0.45 }; },
        onEachFeature: function (f, layer) {
          layer.bindTooltip(tip(f.properties.name + " · " + f.properties.code), { sticky: true });
          layer.on("click", function (e) { mapClick(e); });
        }
      }).addTo(map);
      if (caseLayer) caseLayer.bringToFront();
    }).catch(function () {});
    getJSON(cfg.outline).then(function (g) {
      var outline = L.geoJSON(g, { interactive: false, style: function () {
        return { color: "#0b3d91", weight: 3, fill: false };
      }, filter: function (f) { return f.geometry && f.geometry.type !== "Point"; } }).addTo(map);
      areaBounds = outline.getBounds();
      if (areaBounds.isValid()) map.fitBounds(areaBounds, { padding: [16, 16] });
    }).catch(function () {});
    map.on("click", mapClick);
    legend().addTo(map);
  }

  function legend() {
    var control = L.control({ position: "bottomright" });
    control.onAdd = function () {
      var box = el("div", { class: "gm-field-legend", "data-testid": "legend-field" },
        el("strong", { text: T("field.legend") }));
      Object.keys(STEP_COLOURS).forEach(function (s) {
        box.appendChild(el("div", {}, el("i", { class: "gm-swatch", style: "background:" + STEP_COLOURS[s] }),
          stepName(s)));
      });
      box.appendChild(el("div", {}, el("i", { class: "gm-swatch gm-swatch-overdue" }), T("field.legend_overdue")));
      return box;
    };
    return control;
  }

  function drawCases(cases) {
    if (!map) return;
    if (caseLayer) caseLayer.remove();
    caseLayer = L.layerGroup();
    cases.forEach(function (c) {
      if (c.lat === null || c.lon === null) return;
      var late = isOverdue(c);
      var m = L.circleMarker([c.lat, c.lon], {
        radius: 11, color: late ? "#000" : "#fff", weight: late ? 4 : 2,
        fillColor: STEP_COLOURS[c.step] || "#999", fillOpacity: 0.95
      });
      m.bindTooltip(tip(cfg.categories[c.category] + " · " + stepName(c.step)));
      m.on("click", function (e) { L.DomEvent.stop(e); if (!reportOpen()) openCase(c.id); });
      caseLayer.addLayer(m);
    });
    caseLayer.addTo(map);
  }

  // -- the list -----------------------------------------------------------------------

  var cases = cfg.cases || [];
  var pendingMoves = {};

  function filtered() {
    var step = $("[data-testid=filter-step]").value;
    var cat = $("[data-testid=filter-category]").value;
    var queue = $("[data-testid=filter-queue]").checked;
    return cases.filter(function (c) {
      return (!step || c.step === step) && (!cat || c.category === cat) && (!queue || (c.moves && c.moves.length));
    }).sort(function (a, b) {
      var la = isOverdue(a) ? 0 : a.deadline ? 1 : 2, lb = isOverdue(b) ? 0 : b.deadline ? 1 : 2;
      if (la !== lb) return la - lb;
      if (la < 2) return Date.parse(a.deadline) - Date.parse(b.deadline);
      return Date.parse(b.reported_at) - Date.parse(a.reported_at);
    });
  }

  function renderList() {
    var list = $("[data-testid=case-list]");
    var shown = filtered();
    clear(list);
    $("[data-testid=case-count]").textContent = T("field.cases") + " · " + shown.length;
    if (!shown.length) {
      list.appendChild(el("li", { class: "gm-case-empty", "data-testid": "case-empty", text: T("field.empty") }));
    }
    shown.forEach(function (c) {
      var late = isOverdue(c);
      var item = el("li", { class: "gm-case" + (late ? " gm-late" : ""), "data-testid": "case-item",
        "data-case-id": c.id, "data-step": c.step, "data-overdue": late ? "1" : "0" },
        el("button", { type: "button", class: "gm-case-button", on: { click: function () { openCase(c.id); } } },
          el("span", { class: "gm-step", style: "border-color:" + (STEP_COLOURS[c.step] || "#999"),
            text: stepName(c.step) }),
          el("strong", { text: cfg.categories[c.category] || c.category }),
          el("span", { class: "gm-due" + (late ? " gm-late" : ""), "data-testid": "case-due", text: countdown(c) }),
          el("span", { class: "gm-desc", text: c.description }),
          el("span", { class: "gm-meta", text: c.id + (pendingMoves[c.id] ? " · " + T("field.pending") : "") })));
      list.appendChild(item);
    });
    drawCases(shown);
  }

  function refreshCases() {
    return getJSON(cfg.api + "cases.json").then(function (body) {
      cases = body.cases;
      pendingMoves = {};
      return outboxAll().then(function (items) {
        items.forEach(function (i) { if (i.kind === "move") pendingMoves[i.fields.id] = true; });
        renderList();
      });
    }).catch(function () { /* offline: keep the list we have */ });
  }

  // -- a case -------------------------------------------------------------------------

  var sheet = $("#gm-case");

  function openCase(id) {
    var known = cases.filter(function (c) { return c.id === id; })[0];
    closeSheets();
    sheet.hidden = false;
    clear(sheet);
    if (known) renderCase(known, true);
    getJSON(cfg.api + "case/" + encodeURIComponent(id) + ".json").then(function (c) {
      if (!sheet.hidden && sheet.getAttribute("data-case-id") === id) renderCase(c, false);
    }).catch(function () {});
  }

  /* The case view. The list's copy of the case is drawn at once (it works offline), the full
     case (photos, history, reporter) when it arrives: then only the details are redrawn, so a
     move form the user has opened meanwhile is kept — unless the case changed (its version). */
  function renderCase(c, partial) {
    var same = sheet.getAttribute("data-case-id") === c.id &&
      sheet.getAttribute("data-version") === String(c.version) && $("#gm-case-details", sheet);
    if (!partial && same) {
      fillDetails($("#gm-case-details", sheet), c, false);
      return;
    }
    clear(sheet);
    sheet.setAttribute("data-case-id", c.id);
    sheet.setAttribute("data-version", c.version);
    var late = isOverdue(c);
    sheet.appendChild(el("h2", {}, (cfg.categories[c.category] || c.category) + " · ",
      el("span", { "data-testid": "case-step", "data-step": c.step, text: stepName(c.step) })));
    sheet.appendChild(el("p", { class: "gm-due" + (late ? " gm-late" : ""), "data-testid": "case-countdown",
      text: countdown(c) }));
    var details = el("div", { id: "gm-case-details" });
    fillDetails(details, c, partial);
    sheet.appendChild(details);
    var moves = el("div", { class: "gm-moves", "data-testid": "case-moves" });
    (c.moves || []).forEach(function (m) {
      var id = m.name === "whistle" ? "whistle" : m.to_step;
      moves.appendChild(el("button", { type: "button", class: "gm-big gm-move", "data-testid": "move-" + id,
        text: cfg.moves[m.name] || m.name, on: { click: function () { moveForm(c, m); } } }));
    });
    sheet.appendChild(moves);
    sheet.appendChild(el("div", { id: "gm-move-form" }));
    sheet.appendChild(el("button", { type: "button", class: "gm-big", "data-testid": "case-close", text: T("field.close"),
      on: { click: function () { sheet.hidden = true; } } }));
  }

  function fillDetails(box, c, partial) {
    clear(box);
    var dl = el("dl", { class: "gm-facts" });
    function fact(k, v) { if (v) { dl.appendChild(el("dt", { text: k })); dl.appendChild(el("dd", { text: v })); } }
    fact("ID", c.id);
    fact(T("field.grid"), c.grid_code);
    fact(T("field.building"), c.building_code || T("field.no_building"));
    fact(T("field.department"), c.department);
    if (c.whistled) fact(T("field.whistled"), c.whistle_department || "✓");
    fact(T("field.reporter"), [c.reporter_name, c.reporter_phone].filter(Boolean).join(" "));
    box.appendChild(dl);
    box.appendChild(el("p", { class: "gm-description", "data-testid": "case-description", text: c.description }));
    if (partial) return;
    box.appendChild(el("h3", { text: T("field.photos") }));
    var photos = el("div", { class: "gm-thumbs", "data-testid": "case-photos" });
    (c.photos || []).forEach(function (p) {
      photos.appendChild(el("a", { href: cfg.photos + p.hash + ".jpg", target: "_blank", rel: "noopener" },
        el("img", { src: cfg.photos + p.hash + ".thumb.jpg", alt: stepName(p.step), "data-testid": "case-photo" })));
    });
    if (!(c.photos || []).length) photos.appendChild(el("span", { text: T("field.no_photos") }));
    box.appendChild(photos);
    box.appendChild(el("h3", { text: T("field.events") }));
    var ev = el("ol", { class: "gm-events", "data-testid": "case-events" });
    (c.events || []).forEach(function (e) {
      ev.appendChild(el("li", {}, el("time", { datetime: e.at, text: when(e.at) }), " ",
        (e.actor || "") + " · " + (e.from_step ? stepName(e.from_step) + " → " : "") + stepName(e.to_step),
        e.note ? el("span", { class: "gm-note", text: " — " + e.note }) : null));
    });
    box.appendChild(ev);
  }

  function select(testid, options, chosen) {
    var s = el("select", { "data-testid": testid });
    Object.keys(options).forEach(function (k) {
      s.appendChild(el("option", { value: k, selected: k === chosen, text: options[k] }));
    });
    return s;
  }

  function moveForm(c, m) {
    var box = $("#gm-move-form");
    clear(box);
    var fields = {};
    var note = el("textarea", { "data-testid": "move-note", rows: 2, maxlength: 1000 });
    box.appendChild(el("label", {}, T("field.move_note"), note));
    if (m.needs.indexOf("department") >= 0) {
      var deps = {};
      cfg.departments.forEach(function (d) { deps[d] = d; });
      fields.department = select("move-department", deps, c.department || cfg.departments[0]);
      box.appendChild(el("label", {}, T("field.department"), fields.department));
    }
    if (m.needs.indexOf("closed_level") >= 0) {
      fields.closed_level = select("move-closed-level", cfg.closed_levels, "grid");
      box.appendChild(el("label", {}, T("field.closed_level"), fields.closed_level));
    }
    if (m.needs.indexOf("satisfaction") >= 0) {
      fields.satisfaction = select("move-satisfaction", cfg.satisfaction, "satisfied");
      box.appendChild(el("label", {}, T("field.satisfaction"), fields.satisfaction));
    }
    if (m.needs.indexOf("hours") >= 0) {
      fields.hours = el("input", { type: "number", min: 1, max: 720, value: 24, "data-testid": "move-hours" });
      box.appendChild(el("label", {}, T("field.hours"), fields.hours));
    }
    var photo = el("input", { type: "file", accept: "image/*", "data-testid": "move-photo" });
    box.appendChild(el("label", {}, T("field.move_photo"), photo));
    box.appendChild(el("button", { type: "button", class: "gm-big gm-primary", "data-testid": "move-submit",
      text: T("field.move_submit") + " · " + (cfg.moves[m.name] || m.name),
      on: { click: function (ev) {
        ev.target.disabled = true;
        var files = Array.prototype.slice.call(photo.files || [], 0, 1);
        Promise.all(files.map(resize)).then(function (blobs) {
          var values = { id: c.id, move: m.name, to_step: m.to_step, version: c.version, note: note.value };
          Object.keys(fields).forEach(function (k) { values[k] = fields[k].value; });
          pendingMoves[c.id] = true;
          sheet.hidden = true;
          renderList();
          return enqueue({ kind: "move", fields: values, photos: blobs,
            label: c.id + " → " + (cfg.moves[m.name] || m.name) });
        }).then(function () {
          if (!online) toast(T("field.saved_offline"));
        }, function (err) { toast(String(err && err.message || err)); ev.target.disabled = false; });
      } } }));
  }

  // -- a report -----------------------------------------------------------------------

  var report = $("#gm-report");
  var place = null;
  var photos = [];

  function reportOpen() {
    return !report.hidden;
  }

  function closeSheets() {
    report.hidden = true;
    sheet.hidden = true;
    $("#gm-outbox").hidden = true;
  }

  function showPlace() {
    var p = $("[data-testid=report-place]");
    if (!place) {
      p.textContent = T("field.place_none");
      p.removeAttribute("data-frame");
      return;
    }
    p.textContent = place.frame === "gps" ? T("field.place_gps", { m: Math.round(place.accuracy || 0) })
      : T("field.place_tap");
    p.setAttribute("data-frame", place.frame);
    if (map) {
      if (placeMarker) placeMarker.remove();
      placeMarker = L.circleMarker([place.lat, place.lon], { radius: 12, color: "#d7191c", weight: 4, fill: false })
        .addTo(map);
    }
  }

  function mapClick(e) {
    if (!reportOpen()) return;
    place = { lon: e.latlng.lng, lat: e.latlng.lat, frame: "map", accuracy: null };
    showPlace();
  }

  function here() {
    var p = $("[data-testid=report-place]");
    if (!navigator.geolocation) { p.textContent = T("field.gps_failed", { reason: "-" }); return; }
    p.textContent = T("field.gps_wait");
    p.removeAttribute("data-frame");
    navigator.geolocation.getCurrentPosition(function (pos) {
      place = { lon: pos.coords.longitude, lat: pos.coords.latitude, frame: "gps", accuracy: pos.coords.accuracy };
      showPlace();
      if (map) map.panTo([place.lat, place.lon]);
    }, function (err) {
      p.textContent = T("field.gps_failed", { reason: err.message || err.code });
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 });
  }

  /* A photo as a JPEG of at most 1600 px (drawing it on a canvas also drops its EXIF, GPS
     included). A phone line carries ~50 kB/s, and a detailed 1600 px photo at quality 0.85 is
     300–400 kB (6–8 s): the quality, then the size, step down until it fits PHOTO_BYTES. */
  function resize(file) {
    var load = window.createImageBitmap
      ? createImageBitmap(file, { imageOrientation: "from-image" })
      : Promise.reject(new Error("no createImageBitmap"));
    return load.then(function (bmp) {
      function encode(k) {
        var side = ENCODINGS[k][0], quality = ENCODINGS[k][1];
        var scale = Math.min(1, side / Math.max(bmp.width, bmp.height));
        var canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(bmp.width * scale));
        canvas.height = Math.max(1, Math.round(bmp.height * scale));
        canvas.getContext("2d").drawImage(bmp, 0, 0, canvas.width, canvas.height);
        return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality); })
          .then(function (blob) {
            if (blob && blob.size > PHOTO_BYTES && k + 1 < ENCODINGS.length) return encode(k + 1);
            if (bmp.close) bmp.close();
            return blob;
          });
      }
      return encode(0);
    }, function () {
      return file; // the server resizes what the browser could not
    });
  }

  function showThumbs() {
    var box = $("[data-testid=report-thumbs]");
    clear(box);
    photos.forEach(function (blob, i) {
      var url = URL.createObjectURL(blob);
      box.appendChild(el("span", { class: "gm-thumb" },
        el("img", { src: url, alt: String(i + 1), "data-testid": "report-thumb", "data-bytes": blob.size }),
        el("button", { type: "button", text: "×", "aria-label": T("field.discard"),
          on: { click: function () { photos.splice(i, 1); showThumbs(); } } })));
    });
  }

  function reportError(text) {
    var e = $("[data-testid=report-error]");
    e.textContent = text || "";
    e.hidden = !text;
  }

  function openReport() {
    closeSheets();
    report.hidden = false;
    place = null;
    photos = [];
    showThumbs();
    reportError(null);
    $("[data-testid=report-description]").value = "";
    $("[data-testid=report-category]").value = "";
    $("[data-testid=report-subcategory]").value = "";
    showPlace();
  }

  function submitReport() {
    var category = $("[data-testid=report-category]").value;
    var description = $("[data-testid=report-description]").value.trim();
    if (!place) return reportError(T("field.need_place"));
    if (!category) return reportError(T("field.need_category"));
    if (!description) return reportError(T("field.need_description"));
    var button = $("[data-testid=report-submit]");
    button.disabled = true;
    var fields = {
      lon: place.lon, lat: place.lat, frame: place.frame, accuracy: place.accuracy,
      category: category, subcategory: $("[data-testid=report-subcategory]").value.trim(),
      description: description
    };
    var item = { kind: "report", fields: fields, photos: photos.slice(),
      label: (cfg.categories[category] || category) + " · " + description.slice(0, 30) };
    report.hidden = true;
    if (placeMarker) { placeMarker.remove(); placeMarker = null; }
    enqueue(item).then(function () {
      button.disabled = false;
      if (!online) toast(T("field.saved_offline"));
    }, function (err) {
      button.disabled = false;
      toast(String(err && err.message || err));
    });
  }

  // -- start --------------------------------------------------------------------------

  function start() {
    // A shared tablet: what the last account cached of its area is not for this one.
    try {
      if (window.localStorage.getItem("gm-field-user") !== cfg.user) {
        if (window.caches) caches.delete(DATA_CACHE);
        window.localStorage.setItem("gm-field-user", cfg.user);
      }
    } catch (e) { /* private mode: nothing cached either */ }
    // Signing out of a shared tablet: the next person must not open this area offline.
    // (The outbox stays: what was entered is never lost, and is sent by its author.)
    $(".gm-field-logout").addEventListener("submit", function (e) {
      var form = e.target;
      if (!window.caches || form.getAttribute("data-cleared")) return;
      e.preventDefault();
      caches.delete(DATA_CACHE).catch(function () {}).then(function () {
        form.setAttribute("data-cleared", "1");
        form.submit();
      });
    });
    $("[data-testid=filter-queue]").checked = !!cfg.queue;
    ["filter-step", "filter-category", "filter-queue"].forEach(function (id) {
      $("[data-testid=" + id + "]").addEventListener("change", renderList);
    });
    $("[data-testid=report-open]").addEventListener("click", openReport);
    $("[data-testid=report-here]").addEventListener("click", here);
    $("[data-testid=report-submit]").addEventListener("click", submitReport);
    $("[data-testid=report-cancel]").addEventListener("click", function () {
      report.hidden = true;
      if (placeMarker) { placeMarker.remove(); placeMarker = null; }
    });
    $("[data-testid=report-photo]").addEventListener("change", function (e) {
      var files = Array.prototype.slice.call(e.target.files || []);
      if (photos.length + files.length > 3) toast(T("field.photos_max"));
      files = files.slice(0, Math.max(0, 3 - photos.length));
      Promise.all(files.map(resize)).then(function (blobs) {
        photos = photos.concat(blobs.filter(Boolean)).slice(0, 3);
        showThumbs();
        e.target.value = "";
      });
    });
    $("[data-testid=outbox-open]").addEventListener("click", function () {
      var box = $("#gm-outbox");
      var wasHidden = box.hidden;
      closeSheets();
      box.hidden = !wasHidden;
      renderOutbox();
    });
    window.addEventListener("online", function () { setOnline(true); flush(); });
    window.addEventListener("offline", function () { setOnline(false); });
    setOnline(navigator.onLine);
    renderList();
    if (window.L) initMap();
    renderList();
    renderOutbox().then(function () { flush().catch(function () {}); });
    // The connection may come back without an "online" event (a captive portal, a tunnel).
    setInterval(function () { flush().catch(function () {}); }, 10000);
    setInterval(refreshCases, 60000);
    setInterval(function () {
      Array.prototype.forEach.call(document.querySelectorAll("[data-testid=case-item]"), function (li) {
        var c = cases.filter(function (x) { return x.id === li.getAttribute("data-case-id"); })[0];
        if (c) $("[data-testid=case-due]", li).textContent = countdown(c);
      });
    }, 30000);
    refreshCases();
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register(cfg.sw, { scope: cfg.prefix + "field" }).catch(function () {});
    }
  }

  start();
})();
