"""Incident layers: a density heatmap and a rate choropleth, each with its legend.

* :func:`heatmap` — a :class:`~gridmap.density.DensitySurface` drawn as one
  smooth image (a small PNG, resampled bilinearly onto the screen's lon/lat
  grid and clipped to the unit), classed with breaks fixed per level over the
  whole period (so a colour means the same density whatever the month window).
  The legend gives the unit (incidents per km²) and the radius in metres.
* :func:`rate_choropleth` — units (grids, communities …) coloured by incidents
  per 1,000 households, with quantile breaks computed once; units without
  households have no rate and are drawn in the no-data grey.

Both return a :class:`~layers.base.LayerSpec` in EPSG:4326 that the Dash map
and the folium export draw alike.
"""

from __future__ import annotations

import base64
import struct
import zlib
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

#: The heatmap image's size on its longer side, in pixels.
HEATMAP_PIXELS = 480
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
    lang: str = "zh",
    synthetic: bool = False,
    breaks: np.ndarray | None = None,
    clip: shapely.Geometry | None = None,
    pixels: int = HEATMAP_PIXELS,
) -> LayerSpec:
    """The density surface as one smooth image (a PNG over the unit), classed and clipped.

    The surface is resampled bilinearly onto a longitude/latitude pixel grid
    (``pixels`` on the longer side), so class edges are smooth curves at every
    level instead of the raster's staircase of cells, and drawn as an image
    overlay: a few tens of kB whatever the number of cells.

    Parameters
    ----------
    surface
        From :func:`gridmap.density.density_surface`; its ``floor`` is the
        lowest density drawn.
    lang
        ``zh`` or ``en``.
    synthetic
        Say in the legend that the data are synthetic.
    breaks
        The classes (upper bounds, per km²) to colour with: the level's, from
        every incident of the whole period (:func:`layers.unit_map.heatmap_breaks`),
        so the legend does not change with the month window or the categories.
        By default the surface's own :attr:`~gridmap.density.DensitySurface.breaks`.
    clip
        An EPSG:4326 polygon (the unit): the image covers its bounds and is
        transparent outside it; by default the surface's extent.
    pixels
        Image size on the longer side.

    Returns
    -------
    LayerSpec
        ``id="incident_density"``, ``kind="image"``, no features; its
        ``image`` is ``{"url": PNG data URL, "bounds": [[south, west], [north,
        east]], "opacity": …}`` (``None`` when nothing reaches the floor).
    """
    b = np.asarray(surface.breaks if breaks is None else breaks, dtype=float)
    colors = _palette_of(len(b)) if len(b) else []
    lowers = [surface.floor, *b[:-1]][: len(b)]
    image = _density_image(surface, b, colors, clip, pixels) if len(b) else None
    features = gpd.GeoDataFrame(
        {"_style": pd.Series([], dtype=object), "_tooltip": pd.Series([], dtype=str)},
        geometry=gpd.GeoSeries([], crs="EPSG:4326"),
    )

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
    # The filters go into the layer's name; the legend's title stays put (it
    # says what the fixed colours mean, whatever the window).
    name = title + (" · " + " · ".join(extra) if extra else "")
    note = t(
        "map.incidents.kernel",
        lang,
        s=f"{surface.sigma_m:.0f}",
        r=f"{surface.radius_m:.0f}",
        f=format_number(surface.floor),
    )
    if breaks is not None:
        note += "; " + t("map.incidents.fixed", lang)
    if synthetic:
        note += "; " + t("map.synthetic", lang)
    items = tuple(
        LegendItem(f"{format_number(lo)} – {format_number(hi)}", c)
        for lo, hi, c in zip(lowers, b, colors, strict=True)
    )
    return LayerSpec(
        "incident_density",
        name,
        features,
        Legend(title, items, note),
        kind="image",
        image=image,
    )


def _density_image(
    surface: DensitySurface,
    breaks: np.ndarray,
    colors: Sequence[str],
    clip: shapely.Geometry | None,
    pixels: int,
) -> dict | None:
    """The classed surface as a palette PNG over a lon/lat box (see :func:`heatmap`)."""
    from pyproj import Transformer
    from scipy.ndimage import map_coordinates

    grid = surface.grid
    a, _, c, _, e, f = surface.transform
    to_metric = Transformer.from_crs("EPSG:4326", surface.crs, always_xy=True)
    if clip is not None and not clip.is_empty:
        west, south, east, north = clip.bounds
    else:
        ny, nx = grid.shape
        xs = [c, c + a * nx, c, c + a * nx]
        ys = [f, f, f + e * ny, f + e * ny]
        lon, lat = to_metric.transform(xs, ys, direction="INVERSE")
        west, south, east, north = min(lon), min(lat), max(lon), max(lat)
    # Pixels square on the ground: a degree of longitude is cos(lat) of one of latitude.
    aspect = (east - west) * np.cos(np.radians((south + north) / 2)) / max(north - south, 1e-12)
    width = int(max(1, round(pixels if aspect >= 1 else pixels * aspect)))
    height = int(max(1, round(pixels / aspect if aspect >= 1 else pixels)))
    lons = west + (np.arange(width) + 0.5) * (east - west) / width
    lats = north - (np.arange(height) + 0.5) * (north - south) / height
    lon2, lat2 = np.meshgrid(lons, lats)
    x, y = to_metric.transform(lon2.ravel(), lat2.ravel())
    # Cell centres are at index + 0.5: bilinear between them is the smooth surface.
    cols = (np.asarray(x) - c) / a - 0.5
    rows = (np.asarray(y) - f) / e - 0.5
    values = map_coordinates(grid, [rows, cols], order=1, mode="constant", cval=0.0)
    drawn = (values > 0) & (values >= surface.floor)
    if clip is not None and not clip.is_empty:
        drawn &= shapely.contains_xy(clip, lon2.ravel(), lat2.ravel())
    if not drawn.any():
        return None
    cls = np.searchsorted(breaks, values, side="left").clip(0, len(breaks) - 1) + 1
    index = np.where(drawn, cls, 0).astype(np.uint8).reshape(height, width)
    rgb = [(0, 0, 0)] + [tuple(int(col[i : i + 2], 16) for i in (1, 3, 5)) for col in colors]
    steps = np.round(np.linspace(0, len(_HEAT_ALPHA) - 1, len(colors))).astype(int)
    alpha = [0] + [_HEAT_ALPHA[i] for i in steps]
    png = _png(index, rgb, alpha)
    return {
        "url": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "bounds": [[south, west], [north, east]],
        "opacity": 1.0,
    }


def _png(index: np.ndarray, rgb: Sequence[tuple[int, int, int]], alpha: Sequence[int]) -> bytes:
    """An 8-bit palette PNG of ``index`` (rows of palette indexes), with transparency."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    height, width = index.shape
    # Filter type 0 (none) on every row: the runs of one class compress well as they are.
    raw = np.hstack([np.zeros((height, 1), np.uint8), index]).tobytes()
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
        + chunk(b"PLTE", bytes(v for color in rgb for v in color))
        + chunk(b"tRNS", bytes(alpha))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


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
