"""The service-circle layers of one facility type: reach, coverage by unit, uncovered buildings.

:func:`build` turns coverage results (from :mod:`gridmap.coverage`) into three
:class:`~layers.base.LayerSpec` s, each with its legend:

1. ``service_circles`` — the area reachable on foot within the threshold of
   each facility, built from the reached street segments (never a hull);
2. ``coverage`` — a choropleth of units by the share of the people the type
   serves who live within reach, with fixed class breaks (the same colours at
   every zoom level, in every unit and in the export);
3. ``uncovered`` — the buildings outside every circle, highlighted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.i18n import label, t
from layers.base import LayerSpec, Legend, LegendItem, classify
from layers.palette import GAP, SCHEMES, gap_style

if TYPE_CHECKING:
    from gridmap.coverage import CoverageModel

__all__ = ["SHARE_BREAKS", "build", "from_model"]

#: Upper bounds of the coverage-share classes: under 50 %, 50–70 %, 70–85 %,
#: 85–95 %, 95 % and over. Fixed, so a colour means the same in every view.
SHARE_BREAKS = np.array([0.4999, 0.6999, 0.8499, 0.9499, 1.0])
_SHARE_LABELS = ("< 50%", "50–70%", "70–85%", "85–95%", "≥ 95%")
#: Service reach is teal/green (:data:`layers.palette.SCHEMES`); buildings out of
#: reach are a gap (a dashed outline), not another red beside the incidents'.
_CIRCLE = SCHEMES["service"][3]


def build(
    *,
    ftype: str,
    meters: float,
    circles: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    uncovered: gpd.GeoDataFrame,
    minutes: float | None = None,
    lang: str = "zh",
    synthetic: bool = False,
) -> list[LayerSpec]:
    """The three service-circle layers of one facility type.

    Parameters
    ----------
    ftype
        The facility type (``clinic`` …).
    meters
        The walking threshold the coverage was judged by.
    circles
        One row per facility (or one merged row): ``id``, ``name`` (optional)
        and the reachable-area polygon, EPSG:4326.
    units
        Units with ``code``, ``name``, ``served`` (people the type serves),
        ``served_covered`` and the unit polygon, EPSG:4326.
    uncovered
        Uncovered buildings: ``code``, ``served``, ``distance_m`` (NaN when no
        facility is within reach) and the footprint, EPSG:4326.
    minutes
        The threshold in minutes, when the user asked in minutes.
    lang
        ``zh`` or ``en``.
    synthetic
        Say in every legend that the data are synthetic.
    """
    type_label = label("facility", ftype, lang)
    reach = (
        t("map.circles.reach_min", lang, min=minutes, m=meters)
        if minutes is not None
        else t("map.circles.reach_m", lang, m=meters)
    )
    note = t("map.circles.along", lang) + ("; " + t("map.synthetic", lang) if synthetic else "")

    circ = circles.copy()
    circ["_style"] = [
        {"color": _CIRCLE, "weight": 1.5, "fillColor": _CIRCLE, "fillOpacity": 0.12}
    ] * len(circ)
    names = circ["name"] if "name" in circ else circ["id"]
    circ["_tooltip"] = [f"{n} · {reach}" for n in names.astype("str")]
    circles_spec = LayerSpec(
        "service_circles",
        t("map.circles.circles", lang, ftype=type_label, reach=reach),
        circ,
        Legend(
            t("map.circles.circles", lang, ftype=type_label, reach=reach),
            (LegendItem(type_label, _CIRCLE),),
            note,
        ),
        properties=[c for c in ("id", "name") if c in circ],
    )

    u = units.copy()
    served = pd.to_numeric(u["served"], errors="coerce").astype(float)
    share = pd.to_numeric(u["served_covered"], errors="coerce").astype(float) / served.where(
        served > 0
    )
    u["share"] = share
    colors = classify(share.to_numpy(), SHARE_BREAKS, SCHEMES["service"])
    u["_style"] = [
        # A ring inside each unit's edge, not a fill: with the units coloured by
        # their measure under it, two fills of one unit would blend into neither.
        {"color": c, "weight": 4, "opacity": 0.95, "fillColor": c, "fillOpacity": 0.0}
        for c in colors
    ]
    u["_tooltip"] = [
        f"{n}（{c}）: "
        + t(
            "map.circles.covered",
            lang,
            a=int(a),
            b=int(b),
            p="—" if not np.isfinite(s) else f"{s:.1%}",
        )
        for n, c, a, b, s in zip(
            u["name"].astype("str"),
            u["code"].astype("str"),
            pd.to_numeric(u["served_covered"]).fillna(0),
            served.fillna(0),
            share,
            strict=True,
        )
    ]
    coverage_spec = LayerSpec(
        "coverage",
        t("map.circles.coverage", lang, ftype=type_label),
        u,
        Legend(
            t("map.circles.coverage", lang, ftype=type_label) + f" · {reach}",
            tuple(
                LegendItem(lbl, col, kind="line")
                for lbl, col in zip(_SHARE_LABELS, SCHEMES["service"], strict=True)
            ),
            note,
        ),
        properties=["code", "name", "share"],
    )

    unc = uncovered.copy()
    # Thin: at district zoom thousands of footprints would merge into black.
    unc["_style"] = [gap_style(1.2)] * len(unc)
    unc["_tooltip"] = [
        f"{code} · "
        + t("map.circles.served", lang, n=int(n))
        + " · "
        + (
            t("map.circles.none_within", lang)
            if not np.isfinite(d)
            else t("map.circles.nearest", lang, d=d)
        )
        for code, n, d in zip(
            unc["code"].astype("str"),
            pd.to_numeric(unc["served"]).fillna(0),
            pd.to_numeric(unc["distance_m"]).astype(float).fillna(np.inf),
            strict=True,
        )
    ]
    uncovered_spec = LayerSpec(
        "uncovered",
        t("map.circles.uncovered", lang, ftype=type_label),
        unc,
        Legend(
            t("map.circles.uncovered", lang, ftype=type_label),
            (LegendItem(t("level.building", lang), GAP, kind="gap"),),
            note,
        ),
        properties=["code"],
    )
    return [circles_spec, coverage_spec, uncovered_spec]


def from_model(
    model: CoverageModel,
    buildings: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    level: str,
    *,
    minutes: float | None = None,
    lang: str = "zh",
    synthetic: bool = False,
) -> list[LayerSpec]:
    """The three layers straight from a coverage model (what the app and the export call).

    Parameters
    ----------
    model
        A :class:`gridmap.coverage.CoverageModel` with its facilities.
    buildings
        The buildings the model was built on (EPSG:4326), for the footprints.
    units
        The units of ``level`` (``code``, ``name``, geometry; EPSG:4326).
    level
        Their level: ``district``, ``subdistrict``, ``community`` or ``grid``.
    minutes, lang, synthetic
        As in :func:`build`.
    """
    from gridmap.coverage import unit_coverage
    from gridmap.network import service_areas, snap

    facilities = model.facilities
    areas = service_areas(model.network, snap(model.network, facilities), limit=model.meters)
    circles = gpd.GeoDataFrame(
        {"id": facilities["id"].to_numpy()}, geometry=areas, crs=model.network.crs
    ).to_crs("EPSG:4326")
    per_building = model.coverage
    table = unit_coverage(per_building, buildings, level).set_index("code")
    shaped = units[["code", "name", "geometry"]].copy()
    shaped["served"] = table["residents"].reindex(shaped["code"]).fillna(0).to_numpy()
    shaped["served_covered"] = (
        table["residents_covered"].reindex(shaped["code"]).fillna(0).to_numpy()
    )
    outside = ~per_building["covered"].to_numpy(bool)
    uncovered = gpd.GeoDataFrame(
        {
            "code": per_building["code"].to_numpy()[outside],
            "served": per_building["served"].to_numpy()[outside],
            "distance_m": per_building["distance_m"].to_numpy(float)[outside],
        },
        geometry=buildings.geometry.to_numpy()[outside],
        crs=buildings.crs,
    )
    return build(
        ftype=model.ftype,
        meters=model.meters,
        circles=circles,
        units=shaped,
        uncovered=uncovered,
        minutes=minutes,
        lang=lang,
        synthetic=synthetic,
    )
