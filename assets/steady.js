/* The map steady under a user's hands: one drill per intended click.
 *
 * Every drill re-renders the whole page, its map included (Dash Pages mounts a
 * new layout; React does not keep the old map). Between a click and the new
 * page there is a server round trip, so a double click, or two quick clicks,
 * used to drill twice: the second click landed on the old map (its VIEW still
 * the old level) or on the new level's units before anyone saw them.
 *
 * So clicks go through `guard` (a clientside callback) before the server's
 * `drill`: a click is let through (written to the `gm-click` store) only when
 * no drill is pending and, if this view came from a drill, it has been on
 * screen for SETTLE_MS. Every view reached otherwise (a page load, the back
 * button, a link) takes clicks at once: no burst of clicks is in flight there.
 * A new view is a new map: Leaflet's init hook below says when one appeared.
 *
 * Leaflet hooks (window.L is dash-leaflet's Leaflet):
 *  - a new map is a new view on screen (`steady.shown`);
 *  - a map removed during a zoom animation no longer throws
 *    "Cannot read properties of undefined (reading '_leaflet_pos')";
 *  - the map's minimum zoom is the district's fitted zoom - 1 (see `limitZoom`).
 */
(function () {
  "use strict";

  //: A new view takes clicks this long after it appeared (when a drill made it).
  var SETTLE_MS = 400;
  //: A drill that has not shown its page after this long is given up (a server
  //: error leaves the URL as it was): clicks are taken again.
  var PENDING_MS = 8000;

  var steady = {
    //: {from: code, t: ms} while a drill is on its way to the server and back.
    pending: null,
    //: {at: ms, drilled: bool} of the view on screen: when its map was made,
    //: and whether a drill made it.
    shown: null,
    //: The Leaflet map on screen.
    map: null,
  };

  function patchLeaflet() {
    var L = window.L;
    if (!L || !L.Map || L.Map.prototype._gmSteady) {
      return;
    }
    L.Map.prototype._gmSteady = true;
    var remove = L.Map.prototype.remove;
    L.Map.prototype.remove = function () {
      // A zoom animation ends in a 250 ms timer (Leaflet's _animateZoom) that
      // remove() does not cancel: on a removed map it moves panes that are gone
      // (`_leaflet_pos` of undefined). The map is going: its animation ends here.
      this._animatingZoom = false;
      return remove.apply(this, arguments);
    };
    L.Map.addInitHook(function () {
      var map = this;
      // The page's one map (tests and people debugging read its zoom and bounds).
      steady.map = map;
      steady.shown = {at: Date.now(), drilled: steady.pending !== null};
      steady.pending = null;
      map.whenReady(function () {
        limitZoom(map);
      });
      map.on("resize", function () {
        limitZoom(map);
      });
    });
  }

  // The page's maxBounds are the district's box grown by half its size on
  // each side (twice as wide and high), so the zoom that fits them is the
  // district's fitted zoom - 1: one step out from the whole district, no further.
  function limitZoom(map) {
    var bounds = map.options.maxBounds;
    var size = map.getSize();
    if (!bounds || !size.x || !size.y) {
      return;
    }
    var zoom = map.getBoundsZoom(L.latLngBounds(bounds), false);
    if (isFinite(zoom)) {
      map.setMinZoom(Math.min(zoom, map.getMaxZoom()));
    }
  }

  patchLeaflet();
  // Read-only use: tests and people debugging look at the guard's state and the map.
  window.gridmapSteady = steady;

  function codeOf(feature) {
    var props = feature && typeof feature === "object" ? feature.properties : null;
    if (!props || typeof props !== "object") {
      return "";
    }
    var code = props.code !== undefined && props.code !== null ? props.code : props.unit_code;
    return code === undefined || code === null ? "" : String(code);
  }

  var dc = (window.dash_clientside = window.dash_clientside || {});
  dc.gridmap = Object.assign({}, dc.gridmap, {
    // A click on the units layer or an overlay: let it through to `drill`, or not.
    guard: function (_units, _overlays, view) {
      var none = window.dash_clientside.no_update;
      var triggered = window.dash_clientside.callback_context.triggered || [];
      if (!triggered.length || !view || typeof view.code !== "string") {
        return none;
      }
      var code = codeOf(triggered[0].value);
      // Only a unit under the one on screen opens (the server checks it again).
      if (code.length <= view.code.length || code.indexOf(view.code) !== 0) {
        return none;
      }
      var now = Date.now();
      if (steady.pending && now - steady.pending.t < PENDING_MS) {
        return none; // the click before it is still on its way
      }
      var shown = steady.shown;
      if (shown && shown.drilled && now - shown.at < SETTLE_MS) {
        return none; // the second click of a burst, on a level just shown
      }
      steady.pending = {from: view.code, t: now};
      return {code: code, t: now};
    },
    // The "whole unit" button: the map frames the unit again (a new object, so
    // dash-leaflet applies it even when it equals the last one).
    home: function (_clicks, viewport) {
      if (!viewport) {
        return window.dash_clientside.no_update;
      }
      return Object.assign({}, viewport);
    },
  });
})();
