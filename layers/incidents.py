"""Incident layers: a density heatmap and a rate choropleth, each with its legend.

* :func:`heatmap` — a :class:`~gridmap.density.DensitySurface` drawn as
  polygons of classed cells: equal-class cells merged into one (multi)polygon
  per class, coloured with the surface's fixed breaks (computed at the analysis
  resolution, so a colour means the same density at every zoom level). The
  legend gives the unit (incidents per km²) and the radius in metres.
* :func:`rate_choropleth` — units (grids, communities …) coloured by incidents
  per 1,000 households, with quantile breaks computed once; units without
  households have no rate and are drawn in the no-data grey.

Both return a :class:`~layers.base.LayerSpec` in EPSG:4326 that the Dash map
and the folium export draw alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.i18n import label, t
from layers.base import NO_DATA, LayerSpec, Legend, LegendItem, class_breaks, classify
from layers.palette import SCHEMES

if TYPE_CHECKING:
    from gridmap.density import DensitySurface

__all__ = ["heatmap", "rate_choropleth", "format_number"]

_PALETTE = SCHEMES["incidents"]


def format_number(value: float) -> str:
    """A density or rate for a legend: three significant figures, no exponent."""
    v = float(value)
    if not np.isfinite(v):
        return "—"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def _palette_of(n_classes: int) -> list[str]:
    """The palette stretched over the classes, as :func:`layers.base.classify` does."""
    idx = np.round(np.linspace(0, len(_PALETTE) - 1, n_classes)).astype(int)
    return [_PALETTE[i] for i in idx]


# ---------------------------------------------------------------------------
# Heatmap


def heatmap(surface: DensitySurface, *, lang: str = "zh", synthetic: bool = False) -> LayerSpec:
    """The density surface as classed polygons (one feature per class).

    Parameters
    ----------
    surface
        From :func:`gridmap.density.density_surface`; its ``breaks`` are the
        classes (fixed for every zoom level), its ``floor`` the lowest density
        drawn.
    lang
        ``zh`` or ``en``.
    synthetic
        Say in the legend that the data are synthetic.

    Returns
    -------
    LayerSpec
        ``id="incident_density"``, features with ``class`` (0 = lowest),
        ``lower`` and ``upper`` (per km²), EPSG:4326.
    """
    breaks = np.asarray(surface.breaks, dtype=float)
    colors = _palette_of(len(breaks)) if len(breaks) else []
    lowers = [surface.floor, *breaks[:-1]][: len(breaks)]
    polys = _class_polygons(surface, breaks)
    rows = [(k, lowers[k], breaks[k], geom) for k, geom in enumerate(polys) if not geom.is_empty]
    features = gpd.GeoDataFrame(
        {
            "class": pd.Series([r[0] for r in rows], dtype="int64"),
            "lower": pd.Series([r[1] for r in rows], dtype="float64"),
            "upper": pd.Series([r[2] for r in rows], dtype="float64"),
        },
        geometry=[r[3] for r in rows],
        crs=surface.crs,
    ).to_crs("EPSG:4326")
    features["_style"] = [
        {"color": colors[k], "weight": 0, "fillColor": colors[k], "fillOpacity": 0.7}
        for k in features["class"]
    ]
    features["_tooltip"] = [
        t("map.incidents.cell_tip", lang, lo=format_number(lo), hi=format_number(hi))
        for lo, hi in zip(features["lower"], features["upper"], strict=True)
    ]

    radius = t("map.incidents.radius", lang, r=f"{surface.radius_m:.0f}")
    title = f"{t('map.incidents.density', lang)} · {radius}"
    extra = []
    if surface.categories is not None:
        extra.append("、".join(label("category", c, lang) for c in surface.categories))
    if surface.start is not None or surface.end is not None:
        extra.append(
            t(
                "map.incidents.window",
                lang,
                a="…" if surface.start is None else f"{surface.start:%Y-%m-%d}",
                b="…" if surface.end is None else f"{surface.end:%Y-%m-%d}",
            )
        )
    if extra:
        title += " · " + " · ".join(extra)
    note = t(
        "map.incidents.kernel",
        lang,
        s=f"{surface.sigma_m:.0f}",
        r=f"{surface.radius_m:.0f}",
        f=format_number(surface.floor),
    )
    if synthetic:
        note += "; " + t("map.synthetic", lang)
    items = tuple(
        LegendItem(f"{format_number(lo)} – {format_number(hi)}", c)
        for lo, hi, c in zip(lowers, breaks, colors, strict=True)
    )
    return LayerSpec(
        "incident_density",
        title,
        features,
        Legend(title, items, note),
        properties=["class", "lower", "upper"],
    )


def _class_polygons(surface: DensitySurface, breaks: np.ndarray) -> list[shapely.Geometry]:
    """One (multi)polygon per class, in the surface's CRS.

    Every drawn cell becomes a square and the squares of a class are dissolved
    with GEOS's coverage union, which only has to match shared edges: squares
    of one grid share exact corners (each computed by the same formula from its
    integer column and row), so it applies, and it dissolves 10⁵ cells in a few
    tenths of a second where a general ``union_all`` takes seconds. (Merging
    cells into row runs first would create T-junctions, which coverage union
    rejects.)
    """
    grid = surface.grid
    if not len(breaks):
        return []
    a, _, c, _, e, f = surface.transform
    # The class of each drawn cell exactly as layers.base.classify computes it.
    drawn = (grid > 0) & (grid >= surface.floor)
    cls = np.searchsorted(breaks, grid, side="left").clip(0, len(breaks) - 1)
    rows, cols = np.nonzero(drawn)
    klass = cls[rows, cols]
    out = []
    for k in range(len(breaks)):
        r, q = rows[klass == k], cols[klass == k]
        if not len(r):
            out.append(shapely.Polygon())
            continue
        # North-up (e < 0): row r spans f + e * (r + 1) … f + e * r.
        squares = shapely.box(c + a * q, f + e * (r + 1), c + a * (q + 1), f + e * r)
        out.append(shapely.coverage_union_all(squares))
    return out


# ---------------------------------------------------------------------------
# Rate choropleth


def rate_choropleth(
    units: gpd.GeoDataFrame,
    *,
    per: int = 1000,
    lang: str = "zh",
    synthetic: bool = False,
    k: int = 5,
    breaks: Sequence[float] | None = None,
) -> LayerSpec:
    """Units coloured by incidents per ``per`` households.

    Parameters
    ----------
    units
        ``code``, ``name``, ``households``, ``incidents`` (count) and the unit
        polygon, any CRS (drawn in EPSG:4326).
    per
        The rate's base: incidents per this many households.
    lang
        ``zh`` or ``en``.
    synthetic
        Say in the legend that the data are synthetic.
    k
        Number of quantile classes.
    breaks
        Fixed breaks (upper bounds of the rate) to reuse, e.g. to compare
        months in the same colours; by default quantiles of these units, computed
        once here (:func:`layers.base.class_breaks`).

    Returns
    -------
    LayerSpec
        ``id="incident_rate"``, with a ``rate`` column (NaN for units without
        households, drawn in the no-data grey).
    """
    missing = {"code", "name", "households", "incidents"} - set(units.columns)
    if missing:
        raise ValueError(f"rate_choropleth needs the columns {sorted(missing)}")
    u = units.to_crs("EPSG:4326") if units.crs is not None else units.copy()
    if u is units:
        u = u.copy()
    hh = pd.to_numeric(u["households"], errors="coerce").astype(float)
    n = pd.to_numeric(u["incidents"], errors="coerce").fillna(0).astype(float)
    # No households, no rate: NaN (no data), never an infinite or zero rate.
    rate = n / hh.where(hh > 0) * per
    u["rate"] = rate.to_numpy(float)
    b = (
        class_breaks(rate.to_numpy(float), k=k, method="quantile")
        if breaks is None
        else np.asarray(breaks, dtype=float)
    )
    colors = classify(u["rate"].to_numpy(), b, _PALETTE)
    u["_style"] = [
        {"color": "#636363", "weight": 1, "fillColor": col, "fillOpacity": 0.7} for col in colors
    ]
    per_label = f"{per:,}" if lang == "en" else _per_zh(per)
    u["_tooltip"] = [
        t(
            "map.incidents.rate_tip",
            lang,
            name=name,
            code=code,
            n=f"{int(cnt):,}",
            hh="—" if not np.isfinite(h) else f"{int(h):,}",
            rate=t("map.incidents.no_households", lang)
            if not np.isfinite(rt)
            else t("map.incidents.rate_value", lang, per=per_label, v=format_number(rt)),
        )
        for name, code, cnt, h, rt in zip(
            u["name"].astype("str"), u["code"].astype("str"), n, hh, u["rate"], strict=True
        )
    ]
    title = t("map.incidents.rate", lang, per=per_label)
    note = t("map.synthetic", lang) if synthetic else None
    pal = _palette_of(len(b)) if len(b) else []
    lowers = [np.nanmin(u["rate"]) if np.isfinite(u["rate"]).any() else 0.0, *b[:-1]]
    items = [
        LegendItem(f"{format_number(lo)} – {format_number(hi)}", col)
        for lo, hi, col in zip(lowers, b, pal, strict=True)
    ]
    if not np.isfinite(u["rate"]).all():
        items.append(LegendItem(t("map.incidents.no_households", lang), NO_DATA))
    return LayerSpec(
        "incident_rate",
        title,
        u,
        Legend(title, tuple(items), note),
        properties=["code", "name", "incidents", "households", "rate"],
    )


def _per_zh(per: int) -> str:
    """``1000`` → ``千``, ``10000`` → ``万``, ``100`` → ``百``; other numbers as digits."""
    return {100: "百", 1000: "千", 10000: "万"}.get(per, f"{per:,}")
