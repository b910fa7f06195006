"""One colour scheme per meaning: the one place every layer takes its colours from.

A map that stacks layers stays readable only if each meaning keeps its own
hue family, on the dashboard and in the export alike:

========== ===================== ================================================
meaning    family                used by
========== ===================== ================================================
units      blues (sequential)    the unit choropleth (:mod:`layers.grids`)
party      purples / violets     grid branches, building groups, central households
incidents  yellow-orange-red     the incident heatmap and incident-rate choropleth
service    teal / greens         service circles (light fill) and their coverage
                                 share (a ring inside each unit's edge)
gap        dark dashed outline   what is *not* covered: grids without a branch,
                                 buildings out of reach — a pattern, never a red fill
========== ===================== ================================================

Colours are ColorBrewer 2.0 (Apache 2.0) sequential schemes, 5 classes, light
to dark, so the darkest is always the most.
"""

from __future__ import annotations

__all__ = ["GAP", "SCHEMES", "gap_style"]

#: The sequential scheme (5 classes, light to dark) of each meaning.
SCHEMES: dict[str, tuple[str, ...]] = {
    "units": ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"),  # Blues
    "party": ("#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f"),  # Purples
    "incidents": ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"),  # YlOrRd
    # BuGn (7-class steps 2-6): coverage is drawn as rings, so no near-white class.
    "service": ("#ccece6", "#99d8c9", "#66c2a4", "#2ca25f", "#006d2c"),
}

#: The outline colour of a gap (not covered): near black, drawn dashed.
GAP = "#252525"
_GAP_DASH = "5 4"


def gap_style(weight: float = 2.0) -> dict[str, object]:
    """Leaflet path options of a gap: a dashed dark outline, no colour fill.

    The fill stays (transparent) so the feature keeps its tooltip and clicks.

    Parameters
    ----------
    weight
        The outline's width in pixels.
    """
    return {
        "color": GAP,
        "weight": weight,
        "dashArray": _GAP_DASH,
        "fill": True,
        "fillColor": GAP,
        "fillOpacity": 0.0,
    }
