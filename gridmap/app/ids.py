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
#: The timer of the automatic refresh, and the version of the data on screen.
REFRESH = "gm-refresh"
DATA_VERSION = "gm-data-version"

LAYERS = "gm-layers"
LAYER_TOGGLES = "gm-layer-toggles"
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
