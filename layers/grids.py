"""Units of any level as a choropleth of one measure (households, residents, density …).

:func:`build` colours units (subdistricts, communities, grids …) by a numeric
measure with quantile class breaks computed once, here in Python
(:func:`layers.base.class_breaks`). Passing ``breaks`` reuses classes computed
earlier, so a colour keeps its meaning while the user drills down, filters or
exports: the Dash map computes the breaks of the whole district once
(:func:`breaks_of`) and hands them to every later call.

Units without a value (a missing figure, or a density without area) are drawn
in the no-data grey :data:`layers.base.NO_DATA` and get their own legend entry.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.i18n import label, t
from layers.base import NO_DATA, PALETTES, LayerSpec, Legend, LegendItem, class_breaks, classify

__all__ = ["MEASURES", "breaks_of", "build", "floors_of", "measure_label"]

#: The measures offered, ``{column: (zh, en)}``; the labels carry the unit.
#: The measures offered (their labels, with the unit, are ``measure.<name>`` in the catalogue).
MEASURES: tuple[str, ...] = (
    "households",
    "population",
    "residents",
    "buildings",
    "residential_buildings",
    "elderly",
    "children",
    "density",
    "household_density",
    "area_km2",
    "grids",
    "members",
    "incidents",
)

#: Measures derived from a count and the unit's area when the column is absent.
_DENSITIES = {"density": ("population", "residents"), "household_density": ("households",)}
_OUTLINE = "#636363"


def measure_label(measure: str, lang: str = "zh") -> str:
    """The label of a measure, with its unit (a measure not in :data:`MEASURES`: its name)."""
    return label("measure", measure, lang)


def _values(units: gpd.GeoDataFrame, measure: str) -> np.ndarray:
    """The measure of every unit as floats (NaN for missing), deriving densities if needed.

    Densities are derived from the counts and the area measured in the units'
    UTM zone, so the Dash app may pass plain unit tables without a density column.
    """
    if measure in units.columns:
        return pd.to_numeric(units[measure], errors="coerce").to_numpy(dtype=float)
    if measure in _DENSITIES or measure == "area_km2":
        from gridmap.crs import to_metric

        area = (
            to_metric(units.geometry).area.to_numpy(dtype=float) / 1e6
            if len(units)
            else np.array([], dtype=float)
        )
        if measure == "area_km2":
            return area
        source = next((c for c in _DENSITIES[measure] if c in units.columns), None)
        if source is not None:
            counts = pd.to_numeric(units[source], errors="coerce").to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                # No area (an empty or degenerate polygon): no density, never infinity.
                return np.where(area > 0, counts / np.where(area > 0, area, 1.0), np.nan)
    raise ValueError(
        f"the units have no column {measure!r}"
        + (
            f" (nor {' or '.join(_DENSITIES[measure])} to derive it)"
            if measure in _DENSITIES
            else ""
        )
    )


def breaks_of(units: gpd.GeoDataFrame, measure: str, k: int = 5) -> np.ndarray:
    """Quantile breaks of ``measure`` over ``units``, to compute once and pass to :func:`build`.

    Parameters
    ----------
    units
        Units with the measure column (or what a density is derived from).
    measure
        The measure.
    k
        The number of classes.

    Returns
    -------
    numpy.ndarray
        Increasing upper bounds (see :func:`layers.base.class_breaks`).
    """
    return class_breaks(_values(units, measure), k=k, method="quantile")


def floors_of(units: gpd.GeoDataFrame, measure: str, breaks: np.ndarray) -> np.ndarray:
    """The smallest value of each class of ``breaks`` among ``units`` (NaN for an empty class).

    With :func:`breaks_of` over the same units, the legend can show each
    class as the range its units really span (``237 – 1,641``), not from the
    class below's upper bound, so no two labels share a figure.
    """
    values = _values(units, measure)
    values = values[np.isfinite(values)]
    b = np.asarray(breaks, dtype=float)
    cls = np.searchsorted(b, values, side="left").clip(0, max(len(b) - 1, 0))
    floors = np.full(len(b), np.nan)
    for i in range(len(b)):
        inside = values[cls == i]
        if len(inside):
            floors[i] = inside.min()
    return floors


def _who(name: str, code: str, lang: str) -> str:
    """``name（code）`` (``name (code)`` in English: full-width brackets look odd there)."""
    if name == code:
        return code
    return f"{name}（{code}）" if lang == "zh" else f"{name} ({code})"


def _fmt(measure: str, value: float, lang: str) -> str:
    """A value for a tooltip or legend: whole numbers with separators, small ones with decimals."""
    if not math.isfinite(value):
        return t("map.units.no_data", lang)
    if measure == "area_km2" or (abs(value) < 10 and value != int(value)):
        return f"{value:,.2f}"
    return f"{value:,.0f}"


def build(
    units: gpd.GeoDataFrame,
    *,
    measure: str,
    level: str = "grid",
    lang: str = "zh",
    synthetic: bool = False,
    breaks: np.ndarray | None = None,
    floors: np.ndarray | None = None,
    scope: tuple[int, str] | None = None,
    palette: str = "Blues",
) -> LayerSpec:
    """A choropleth of units by ``measure``.

    Parameters
    ----------
    units
        Units of one level: ``code``, ``name`` (buildings, which have none,
        are named by their code), the numeric ``measure`` column and the
        polygon (any CRS; drawn in EPSG:4326). ``density`` and
        ``household_density`` are derived from ``population`` / ``households``
        and the area when the column is absent; ``area_km2`` likewise.
    measure
        The column to colour by; :data:`MEASURES` lists the labelled ones.
    level
        The units' level (``district``, ``subdistrict``, ``community``,
        ``grid``): names the layer (``units_{level}``) and the legend.
    lang
        ``zh`` (default) or ``en``.
    synthetic
        Say in the legend that the data are synthetic.
    breaks
        Upper bounds of the classes to reuse (from :func:`breaks_of` or an
        earlier call), so the colours stay fixed; by default quantiles of these
        units, computed once here.
    floors
        The smallest value of each class (:func:`floors_of` over the units
        the breaks came from): the legend then reads ``floor – upper``.
    scope
        ``(n, level)`` of the units the breaks came from, for the legend's
        note (e.g. all 165 communities of the district).
    palette
        A key of :data:`layers.base.PALETTES` (units are blues:
        :data:`layers.palette.SCHEMES`).

    Returns
    -------
    LayerSpec
        ``id=f"units_{level}"``, features with ``code``, ``name``, ``level``
        and ``value`` (the measure, NaN when missing).

    Raises
    ------
    ValueError
        If the units lack ``code`` or the measure, or the palette is unknown.
    """
    if "code" not in units.columns:
        raise ValueError("the units lack the column 'code'")
    if palette not in PALETTES:
        raise ValueError(f"unknown palette {palette!r}; use one of {', '.join(PALETTES)}")
    u = units.to_crs("EPSG:4326") if units.crs is not None else units.copy()
    if u is units:
        u = u.copy()
    if "name" not in u.columns:
        # Buildings have no names: their code is what people look them up by.
        u["name"] = u["code"].astype("str")
    values = _values(u, measure)
    fixed = breaks is not None
    b = np.asarray(breaks, dtype=float) if fixed else class_breaks(values, k=5, method="quantile")
    colors = classify(values, b, PALETTES[palette])
    u["level"] = level
    u["value"] = values
    u["_style"] = [
        {"color": _OUTLINE, "weight": 1, "fillColor": c, "fillOpacity": 0.7} for c in colors
    ]
    m_label = measure_label(measure, lang)
    u["_tooltip"] = [
        _who(n, c, lang) + f": {m_label} {_fmt(measure, v, lang)}"
        for n, c, v in zip(u["name"].astype("str"), u["code"].astype("str"), values, strict=True)
    ]

    title = t("map.units.title", lang, level=t(f"level.{level}", lang), measure=m_label)
    pal = PALETTES[palette]
    # The palette stretched over the classes exactly as layers.base.classify does.
    idx = np.round(np.linspace(0, len(pal) - 1, len(b))).astype(int) if len(b) else []
    items: list[LegendItem] = []
    low: float | None = None
    for k, (upper, i) in enumerate(zip(b, idx, strict=True)):
        floor = floors[k] if floors is not None and k < len(floors) else np.nan
        if np.isfinite(floor):
            # The range the class's units really span, over the whole level:
            # fixed per level, and no figure in two labels.
            text = (
                _fmt(measure, upper, lang)
                if floor == upper
                else f"{_fmt(measure, floor, lang)} – {_fmt(measure, upper, lang)}"
            )
        else:
            # The first class reads "≤ b0" (not "min – b0"): with reused breaks the
            # legend then stays word for word the same in every view.
            text = (
                f"≤ {_fmt(measure, upper, lang)}"
                if low is None
                else f"{_fmt(measure, low, lang)} – {_fmt(measure, upper, lang)}"
            )
        items.append(LegendItem(text, pal[i]))
        low = float(upper)
    if not np.isfinite(values).all():
        items.append(LegendItem(t("map.units.no_data", lang), NO_DATA))
    if scope is not None:
        notes = [
            t(
                "map.units.level_breaks",
                lang,
                n=scope[0],
                level=t(f"level.{scope[1]}", lang),
                k=len(b),
            )
        ]
    else:
        notes = [t("map.units.fixed", lang) if fixed else t("map.units.breaks", lang, k=len(b))]
    if synthetic:
        notes.append(t("map.synthetic", lang))
    return LayerSpec(
        f"units_{level}",
        title,
        u,
        Legend(title, tuple(items), "; ".join(notes)),
        properties=["code", "name", "level", "value"],
    )
