"""Component ids of the dashboard, one constant each (pages and tests share them)."""

from __future__ import annotations

#: The page's own location: callbacks write ``?unit=…&lang=…`` into it.
URL = "gm-url"
MAP = "gm-map"
#: The offline basemap (district boundary, main roads).
BASEMAP = "gm-basemap"
#: The units of the current level (the drill-down layer).
UNITS = "gm-units"
#: The units' names as labels (points), placed without overlaps in the browser.
LABELS = "gm-labels"
#: The outline of the unit on screen.
OUTLINE = "gm-outline"
BREADCRUMB = "gm-breadcrumb"
MESSAGE = "gm-message"
NUMBERS = "gm-numbers"
TREND = "gm-trend"
BUILDING = "gm-building"
LANG_SWITCH = "gm-lang-switch"
#: Where the current view's state lives for callbacks (code, lang).
VIEW = "gm-view"
#: A click the page let through to the server (``{code, t}``): see assets/steady.js.
CLICK = "gm-click"
#: The "whole unit" button on the map: it frames the unit on screen again.
HOME = "gm-home"
#: The timer of the automatic refresh, and the version of the data on screen.
REFRESH = "gm-refresh"
DATA_VERSION = "gm-data-version"

LAYERS = "gm-layers"
LAYER_TOGGLES = "gm-layer-toggles"


def layer_on(layer: str) -> str:
    """The store saying whether ``layer`` (units, party, circles, heatmap) is on.

    Set in the browser from the toggles, and only when it changes: a layer's
    callback listens to its own store, so turning one layer on sends that layer only.
    """
    return f"gm-on-{layer}"


def layer_sent(layer: str) -> str:
    """The store holding the digest of what the page was last sent of an overlay.

    An overlay's callback compares it with what it would send, and sends nothing
    when they are the same (a refresh that changed other data).
    """
    return f"gm-sent-{layer}"


MEASURE = "gm-measure"
#: How the units are drawn when on: coloured by the measure, or outlines only.
UNITS_MODE = "gm-units-mode"
UNITS_LEGEND = "gm-legend-units"
PARTY = "gm-party"
PARTY_LEGEND = "gm-legend-party"
CIRCLES = "gm-circles"
CIRCLES_LEGEND = "gm-legend-circles"
FACILITY_TYPE = "gm-facility-type"
MINUTES = "gm-minutes"
HEATMAP = "gm-heatmap"
HEATMAP_LEGEND = "gm-legend-heatmap"
HEAT_MONTHS = "gm-heat-months"
HEAT_CATEGORIES = "gm-heat-categories"

#: The banner of a page that lost its server, and what ``assets/offline.js``
#: sets when the connection returns (the page then catches up). The script
#: names both ids itself: keep them in step.
OFFLINE = "gm-offline"
RECONNECT = "gm-reconnect"
