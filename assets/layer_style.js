/* gridmap's one style function for every dash-leaflet GeoJSON layer.
 *
 * dash-leaflet resolves {"variable": "gridmapStyle.fromProperties"} to this
 * function and calls it as fn(feature, context), context being the component's
 * props. The drill-down layer gets its styles through `hideout.styles`
 * ({code: Leaflet path options}), so changing the measure re-sends that small
 * table only, never the geometry; every other layer carries `_style` in its
 * feature properties (computed in Python by layers/*, the same as the export).
 */
window.gridmapStyle = {
  fromProperties: function (feature, context) {
    var props = feature.properties || {};
    var hideout = (context && context.hideout) || {};
    var styles = hideout.styles || {};
    var style = props._style || hideout.default || {};
    if (props.code !== undefined && styles[props.code]) {
      style = styles[props.code];
    }
    var code = props.code !== undefined ? props.code : props.unit_code;
    if (code !== undefined) {
      // A class per unit lets tests (and people debugging) find a unit's path by
      // its code: "gm-unit" on the drill-down layer (the one styled through its
      // hideout), "gm-feature" on overlays. Leaflet applies className when the
      // path is created only, which is enough: a layer's geometry is created once.
      // A layer may name its own kind (the unit's outline: "gm-outline", which
      // takes no clicks and must not pass for an overlay's feature).
      var kind = hideout.kind || (hideout.styles ? "gm-unit" : "gm-feature");
      style = Object.assign({}, style, {className: kind + " " + kind + "-" + code});
    }
    return style;
  },
  // Every layer's onEachFeature: the feature's tooltip (`properties.tip`) as a
  // text node, never as HTML. Names come from users' files: a name such as
  // <img src=x onerror=...> must show as those characters, not run. (dash-leaflet's
  // own binding, of `properties.tooltip` and `properties.popup`, sets innerHTML:
  // the app never sends those properties.)
  bindText: function (feature, layer) {
    var tip = feature.properties && feature.properties.tip;
    if (tip === undefined || tip === null || tip === "") {
      return;
    }
    layer.bindTooltip(function () {
      var span = document.createElement("span");
      span.textContent = String(tip);
      return span;
    }, {sticky: true});
  },
  // Points (party central households) are drawn as circle markers with their style.
  pointToLayer: function (feature, latlng) {
    var style = (feature.properties && feature.properties._style) || {};
    return L.circleMarker(latlng, style);
  },
  // A unit's name on the map: a marker whose icon is a span holding the name as
  // text (textContent; Leaflet takes the element as is, never parsing markup).
  labelToLayer: function (feature, latlng) {
    var props = feature.properties || {};
    var span = document.createElement("span");
    span.className = "gm-label-text";
    span.textContent = String(props.label === undefined ? "" : props.label);
    var marker = L.marker(latlng, {
      icon: L.divIcon({html: span, className: "gm-label", iconSize: null}),
      interactive: false,
      keyboard: false,
      gmRank: props.rank === undefined ? 0 : props.rank,
    });
    marker.on("add", function () {
      var map = marker._map;
      if (!map) {
        return;
      }
      if (!map._gmDeclutter) {
        // One pass per map after each zoom or pan (and after labels arrive),
        // batched into the next frame.
        var pending = false;
        map._gmDeclutter = function () {
          if (pending) {
            return;
          }
          pending = true;
          window.requestAnimationFrame(function () {
            pending = false;
            window.gridmapStyle.declutter(map);
          });
        };
        map.on("zoomend moveend resize", map._gmDeclutter);
      }
      map._gmDeclutter();
    });
    return marker;
  },
  // Greedy label placement: the largest unit's label first; a label whose box
  // overlaps one already placed is hidden (until a zoom makes room for it).
  declutter: function (map) {
    var labels = [];
    map.eachLayer(function (layer) {
      if (layer.options && layer.options.gmRank !== undefined && layer.getElement()) {
        labels.push(layer);
      }
    });
    labels.sort(function (a, b) { return a.options.gmRank - b.options.gmRank; });
    var size = map.getSize();
    var placed = [];
    labels.forEach(function (layer) {
      var el = layer.getElement();
      var text = el.firstChild || el;
      el.classList.remove("gm-label-hidden");
      var box = text.getBoundingClientRect();
      var pad = 2;
      var free = box.width > 0 && placed.every(function (p) {
        return box.right + pad <= p.left || box.left - pad >= p.right ||
          box.bottom + pad <= p.top || box.top - pad >= p.bottom;
      });
      if (free) {
        placed.push(box);
      } else {
        el.classList.add("gm-label-hidden");
      }
    });
    return placed.length + "/" + labels.length + " " + size.x;
  }
};
