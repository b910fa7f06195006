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
  }
};
