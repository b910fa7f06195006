"""Incident layers: a density heatmap and a rate choropleth, each with its legend.

* :func:`heatmap` — a :class:`~gridmap.density.DensitySurface` drawn as a
  smooth image (resampled onto the web map's pixels), coloured in fixed classes
  (computed at the analysis resolution, so a colour means the same density at
  every zoom level; given those of the whole period, the same in every month
  window). The legend gives the unit (incidents per km², per month) and the
  radius in metres.
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
from layers.base import (
    NO_DATA,
    LayerSpec,
    Legend,
    LegendItem,
    RasterImage,
    class_breaks,
    classify,
    png_rgba,
)
from layers.palette import SCHEMES

if TYPE_CHECKING:
    from gridmap.density import DensitySurface

__all__ = ["heatmap", "rate_choropleth", "format_number"]

_PALETTE = SCHEMES["incidents"]

#: The classes' opacity in the image (0–255), light to dark: the layers under it
#: show through, most where there are fewest incidents.
_HEAT_ALPHA = (95, 115, 135, 160, 185)


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


def heatmap(
    surface: DensitySurface,
    *,
    bounds: tuple[float, float, float, float] | None = None,
    clip: shapely.Geometry | None = None,
    months: int | None = None,
    breaks: Sequence[float] | None = None,
    floor: float | None = None,
    lang: str = "zh",
    synthetic: bool = False,
) -> LayerSpec:
    """The density surface as a smooth image in fixed classes, with its legend.

    The surface is resampled onto a web map's pixels (:func:`gridmap.density.web_raster`,
    bilinear: no cell staircase at any zoom) and each pixel coloured by its class.

    Parameters
    ----------
    surface
        From :func:`gridmap.density.density_surface`; its ``floor`` is the lowest
        density drawn.
    bounds
        ``(west, south, east, north)`` of the image; default: the surface's extent.
    clip
        A lon/lat polygon outside which nothing is drawn (the unit shown).
    months
        How many months the surface's incidents span: the densities are then per
        month, so that one colour means one rate whatever the window.
    breaks
        Fixed class breaks (upper bounds; per km², per month with ``months``);
        default the surface's own. Give the breaks of the whole period to keep
        the legend still while the month window moves.
    floor
        The lowest density drawn, the first class's lower end (same unit as
        ``breaks``); default the surface's floor (per month with ``months``).
        With the breaks of the whole period, give its floor too.
    lang
        ``zh`` or ``en``.
    synthetic
        Say in the legend that the data are synthetic.

    Returns
    -------
    LayerSpec
        ``id="incident_density"``, ``kind="image"``; no features.
    """
    from gridmap.density import web_raster

    per = float(months) if months else 1.0
    breaks_ = np.asarray(surface.breaks / per if breaks is None else breaks, dtype=float)
    colors = _palette_of(len(breaks_)) if len(breaks_) else []
    floor = surface.floor / per if floor is None else float(floor)
    lowers = [floor, *breaks_[:-1]][: len(breaks_)]
    if bounds is None:
        box = gpd.GeoSeries([shapely.box(*surface.extent())], crs=surface.crs)
        bounds = tuple(float(v) for v in box.to_crs("EPSG:4326").total_bounds)
    grid, bounds = web_raster(surface, bounds, clip=clip)
    image = _colour_image(grid / per, floor, breaks_, colors)

    unit = t("map.incidents.density_month" if months else "map.incidents.density", lang)
    radius = t("map.incidents.radius", lang, r=f"{surface.radius_m:.0f}")
    legend_title = f"{unit} · {radius}"
    if surface.categories is not None:
        legend_title += " · " + "、".join(label("category", c, lang) for c in surface.categories)
    # The window goes in the layer's name, not the legend: the legend stays the
    # same while the window moves (the classes are fixed).
    title = legend_title
    if surface.start is not None or surface.end is not None:
        title += " · " + t(
            "map.incidents.window",
            lang,
            a="…" if surface.start is None else f"{surface.start:%Y-%m-%d}",
            b="…" if surface.end is None else f"{surface.end:%Y-%m-%d}",
        )
    note = t(
        "map.incidents.kernel_month" if months else "map.incidents.kernel",
        lang,
        s=f"{surface.sigma_m:.0f}",
        r=f"{surface.radius_m:.0f}",
        f=format_number(floor),
    )
    if breaks is not None:
        note += "; " + t("map.incidents.fixed", lang)
    if synthetic:
        note += "; " + t("map.synthetic", lang)
    items = tuple(
        LegendItem(f"{format_number(lo)} – {format_number(hi)}", c)
        for lo, hi, c in zip(lowers, breaks_, colors, strict=True)
    )
    empty = gpd.GeoDataFrame(
        {"_style": pd.Series([], dtype=object), "_tooltip": pd.Series([], dtype=str)},
        geometry=gpd.GeoSeries([], crs="EPSG:4326"),
    )
    return LayerSpec(
        "incident_density",
        title,
        empty,
        Legend(legend_title, items, note),
        kind="image",
        image=RasterImage(png_rgba(image), bounds),
    )


def _colour_image(
    values: np.ndarray, floor: float, breaks: np.ndarray, colors: Sequence[str]
) -> np.ndarray:
    """RGBA pixels: each value's class colour, transparent below ``floor`` (or no classes)."""
    rgba = np.zeros((*values.shape, 4), np.uint8)
    if not len(breaks):
        return rgba
    palette = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colors], np.uint8)
    # Stretched over the classes as the colours are (layers.base.classify).
    stretch = np.round(np.linspace(0, len(_HEAT_ALPHA) - 1, len(breaks))).astype(int)
    alpha = np.asarray(_HEAT_ALPHA, np.uint8)[stretch]
    # The class of a value: the first break at or above it (the top class above all).
    cls = np.minimum(np.searchsorted(breaks, values, side="left"), len(breaks) - 1)
    drawn = values >= floor
    rgba[..., :3] = palette[cls]
    rgba[..., 3] = np.where(drawn, alpha[cls], 0)
    return rgba


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
