"""The layers of one unit's map, built once for every renderer.

:func:`build_layers` is the one place that decides what a map of a unit shows:
which units are drawn and how they are coloured (class breaks over the whole
level, so a unit's colour does not depend on where one looks from), the
unit's outline, and the overlays — party organisations, service circles of a
facility type, the incident heatmap — with their legends. The Dash dashboard
(:mod:`gridmap.app`) and the HTML export (:mod:`layers.folium_map`) only draw
what it returns: the same features, the same colour per feature, the same
legends.

What is drawn for a unit ``code``:

- **units**: the units one level below it (a grid's buildings; at building
  level the building's grid's buildings, the building itself highlighted),
  coloured by :attr:`MapOptions.measure`;
- **outline**: the boundary of the unit whose units are drawn;
- **party** (:func:`layers.party.build`): grid party branches, building party
  groups and central households under that unit;
- **circles** (:func:`layers.service_circles.from_model`): the walking reach
  of one facility type, along the whole district's network (people walk
  across a unit's edge), cut to the unit;
- **heatmap** (:func:`layers.incidents.heatmap`): the incidents' density in
  the unit over a window of months and categories, clipped to the unit.

Each overlay group may be empty with a note saying why (no roads, no
incidents there), for the renderer to show in the legend's place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.codes import below, drawn_parent, level_of, under
from gridmap.i18n import t
from gridmap.schema import UNIT_MEASURES
from layers.base import LayerSpec, Legend, LegendItem

if TYPE_CHECKING:
    from gridmap.services.source import Source

__all__ = [
    "GROUPS",
    "MEASURES",
    "OUTLINE_ID",
    "LayerGroup",
    "MapOptions",
    "UnitLayers",
    "build_layers",
    "heatmap_breaks",
    "heatmap_radius",
    "incident_months",
    "legend_testid",
    "month_window",
    "outline_spec",
]

#: The layer groups, in drawing order (later on top).
GROUPS: tuple[str, ...] = ("units", "party", "circles", "heatmap")
#: The measures the units can be coloured by (columns of the level frames).
MEASURES: tuple[str, ...] = UNIT_MEASURES
#: The id of the outline layer (the unit whose units are drawn).
OUTLINE_ID = "outline"
#: How the selected building is outlined at building level.
SELECTED_STYLE = {"color": "#08306b", "weight": 3, "fillOpacity": 0.9}
_OUTLINE_STYLE = {"color": "#08306b", "weight": 3, "opacity": 0.8, "fill": False}
#: The incident heatmap's kernel reach by the level of the unit drawn, in metres:
#: a district needs a coarser kernel than a grid.
_HEATMAP_RADIUS_M = {"district": 400.0, "subdistrict": 250.0, "community": 120.0, "grid": 60.0}
_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class MapOptions:
    """What the user chose to see: the same options on the dashboard and in the export.

    Parameters
    ----------
    measure
        What the units are coloured by: one of :data:`MEASURES`.
    facility_type
        The facility type of the service circles (any of the 14 types).
    minutes
        The service circles' walking time, in minutes at the standard speed
        (60 m/min: 5 minutes are the 300 m of a 5-minute life circle).
    months
        ``(first, last)`` months (``YYYY-MM``, Beijing time, inclusive) of the
        incidents in the heatmap; ``None``: every month.
    categories
        Incident categories in the heatmap; empty: all.
    lang
        ``zh`` (default) or ``en``.
    """

    measure: str = "households"
    facility_type: str = "clinic"
    minutes: float = 5.0
    months: tuple[str, str] | None = None
    categories: tuple[str, ...] = ()
    lang: str = "zh"

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}; use one of {', '.join(MEASURES)}")
        if not (np.isfinite(self.minutes) and self.minutes > 0):
            raise ValueError(f"minutes must be a positive number, not {self.minutes!r}")
        # Sequences from callers (lists from a dropdown) become tuples: options are hashable.
        object.__setattr__(self, "categories", tuple(sorted(self.categories or ())))
        if self.months is not None:
            object.__setattr__(self, "months", tuple(self.months))


@dataclass
class LayerGroup:
    """One group's layers, and why it has none (``note``) when it is empty."""

    id: str
    specs: list[LayerSpec] = field(default_factory=list)
    note: str | None = None


@dataclass
class UnitLayers:
    """Everything a map of one unit draws (see :func:`build_layers`).

    Attributes
    ----------
    code
        The unit asked for.
    level
        Its level.
    parent
        The unit whose units are drawn (the grid at building level).
    child_level
        The level of the units drawn (what a click opens; ``None`` at building level).
    outline
        The parent's boundary.
    groups
        The groups asked for, by id, in drawing order.
    """

    code: str
    level: str
    parent: str
    child_level: str | None
    outline: LayerSpec
    groups: dict[str, LayerGroup]

    def specs(self) -> list[LayerSpec]:
        """Every layer in drawing order: the groups', then the outline on top."""
        return [spec for group in self.groups.values() for spec in group.specs] + [self.outline]

    def notes(self) -> list[str]:
        """Why some groups are empty, one line each."""
        return [group.note for group in self.groups.values() if group.note]


def legend_testid(group: str, spec: LayerSpec) -> str:
    """The ``data-testid`` of a layer's legend, the same in every renderer.

    The units' legend is ``legend-units`` whatever the level; every other
    layer's is ``legend-<layer id>`` (``legend-party_grid_branches`` …).
    """
    return "legend-units" if group == "units" else f"legend-{spec.id}"


def heatmap_radius(level: str) -> float:
    """The heatmap kernel's reach in metres for a unit of ``level`` (a building: its grid's)."""
    return _HEATMAP_RADIUS_M.get(level, _HEATMAP_RADIUS_M["grid"])


def build_layers(
    src: Source,
    code: str,
    options: MapOptions | None = None,
    *,
    groups: Iterable[str] = GROUPS,
) -> UnitLayers:
    """The layers of the map of ``code``: the one function both renderers draw from.

    Parameters
    ----------
    src
        The store, read once (:class:`gridmap.services.source.Source`).
    code
        A unit code of any level; a building is drawn among its grid's buildings.
    options
        The measure, facility type, minutes, months and categories (defaults:
        :class:`MapOptions`).
    groups
        Which of :data:`GROUPS` to build (the others are left out).

    Returns
    -------
    UnitLayers

    Raises
    ------
    gridmap.services.source.UnitNotFoundError
        If no unit has the code.
    ValueError
        For an unknown group.
    """
    options = options or MapOptions()
    wanted = list(dict.fromkeys(groups))
    unknown = [g for g in wanted if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown layer group(s) {', '.join(unknown)}; use {', '.join(GROUPS)}")
    src.unit(code)  # an unknown code fails here, before any work
    level = level_of(code)
    parent = drawn_parent(code)
    makers = {
        "units": _units_group,
        "party": _party_group,
        "circles": _circles_group,
        "heatmap": _heatmap_group,
    }
    built = {g: makers[g](src, code, options) for g in GROUPS if g in wanted}
    return UnitLayers(
        code=code,
        level=level,
        parent=parent,
        child_level=below(level),
        outline=_outline(src, parent, options.lang),
        groups=built,
    )


# -- the groups ---------------------------------------------------------------------


def _units_group(src: Source, code: str, options: MapOptions) -> LayerGroup:
    """The units drawn for ``code``, coloured with the whole level's class breaks."""
    from layers import grids

    parent = drawn_parent(code)
    units = src.children(parent)
    level = below(level_of(parent)) or "building"

    # Breaks over every unit of the level, so a colour means the same in every
    # subdistrict the user drills into, on the dashboard and in the export.
    def classes() -> tuple[np.ndarray, np.ndarray, int]:
        every = src.units(level)
        breaks = grids.breaks_of(every, options.measure)
        return breaks, grids.floors_of(every, options.measure, breaks), len(every)

    breaks, floors, n = src.cached(f"breaks:{level}:{options.measure}", classes)
    spec = grids.build(
        units,
        measure=options.measure,
        level=level,
        lang=options.lang,
        synthetic=src.synthetic,
        breaks=breaks,
        floors=floors,
        scope=(n, level),
    )
    if level_of(code) == "building":
        selected = spec.features["code"].to_numpy() == code
        spec.features["_style"] = [
            {**style, **SELECTED_STYLE} if hit else style
            for style, hit in zip(spec.features["_style"], selected, strict=True)
        ]
    return LayerGroup("units", [spec])


def _party_group(src: Source, code: str, options: MapOptions) -> LayerGroup:
    """The party organisations under the unit drawn."""
    from layers import party

    parent = drawn_parent(code)
    grids = _within(src.units("grid"), parent)
    buildings = _within(src.buildings, parent)
    orgs = _within(src.party_orgs, parent, "unit_code")
    specs = party.build(grids, buildings, orgs, lang=options.lang, synthetic=src.synthetic)
    return LayerGroup("party", specs)


def _circles_group(src: Source, code: str, options: MapOptions) -> LayerGroup:
    """Service circles, coverage and uncovered buildings of one type, cut to the unit."""
    from gridmap.coverage import CoverageModel, meters_for
    from layers import service_circles

    lang = options.lang
    if src.roads.empty:
        return LayerGroup("circles", note=t("app.no_roads", lang))
    if src.buildings.empty:
        return LayerGroup("circles", note=t("map.no_buildings", lang))
    parent = drawn_parent(code)
    level = level_of(parent)
    # The coverage choropleth shows the units one level below (a grid: itself).
    shown = below(level) if level != "grid" else "grid"
    ftype, minutes = options.facility_type, float(options.minutes)
    meters = meters_for(ftype, minutes=minutes)
    model = src.cached(
        f"coverage:{ftype}:{meters}",
        lambda: CoverageModel(
            src.network(), src.buildings, ftype, meters=meters, facilities=src.facilities
        ),
    )
    units = _within(src.units(shown), parent)
    specs = service_circles.from_model(
        model, src.buildings, units, shown, minutes=minutes, lang=lang, synthetic=src.synthetic
    )
    # The coverage choropleth goes under the circles and the uncovered buildings.
    specs = sorted(specs, key=lambda spec: spec.id != "coverage")
    if level == "district":
        # A district view needs each subdistrict's share, not the walking areas of
        # every facility (19k street buffers, megabytes, unreadable at that scale):
        # those and the buildings not reached are drawn from a subdistrict down.
        coverage = specs[0]
        note = t("map.circles_district", lang)
        old = coverage.legend.note
        coverage.legend = replace(coverage.legend, note=f"{old}; {note}" if old else note)
        return LayerGroup("circles", [coverage])
    # The model covers the whole district; keep what lies in the unit.
    box = src.unit(parent).geometry
    for spec in specs:
        frame = spec.features
        if "code" in frame and spec.id != "coverage":
            keep = under(frame["code"], parent)
        else:
            keep = frame.intersects(box).to_numpy(bool)
        spec.features = frame[keep]
    return LayerGroup("circles", specs)


#: Incidents at which the level's densities are read for its classes (a sample: the
#: quantiles of 5,000 are as good as of all, at a fraction of the neighbour sums).
_BREAK_SAMPLE = 5_000


def heatmap_breaks(src: Source, level: str) -> np.ndarray:
    """The heatmap's classes at ``level``: fixed from every incident of the whole period.

    The kernel density (the level's radius, every month, every category) read
    where incidents are: quantiles of those densities split the incidents,
    not the map's area, into equal classes (quantiles of the cells would put
    a whole town in the top class, its streets no longer told apart, and the
    countryside's thin cells in the other four). The density at an incident
    is the exact kernel sum of its neighbours — the surface each unit draws
    approximates it on its own fine raster, which a district-wide raster at
    the grid level's 60 m reach could not afford. The classes colour every
    unit of the level whatever the month window or categories chosen, so the
    legend does not change when the window moves. Cached per level.
    """
    from scipy.spatial import cKDTree

    from gridmap.classes import class_breaks
    from gridmap.crs import to_metric
    from gridmap.density import TRUNCATE, floor_density

    def make() -> np.ndarray:
        incidents = src.incidents
        if not len(incidents):
            return np.array([])
        points = incidents.geometry[incidents.geometry.notna().to_numpy(bool)]
        points = points[~points.is_empty.to_numpy()]
        if not len(points):
            return np.array([])
        metric = to_metric(points)
        xy = np.column_stack([metric.x.to_numpy(float), metric.y.to_numpy(float)])
        radius = heatmap_radius(level)
        sigma = radius / TRUNCATE
        rng = np.random.default_rng(0)  # the same sample, so the same classes, every run
        at = np.sort(rng.choice(len(xy), size=min(len(xy), _BREAK_SAMPLE), replace=False))
        tree = cKDTree(xy)
        density = np.empty(len(at))
        for i, near in enumerate(tree.query_ball_point(xy[at], radius)):
            d2 = ((xy[near] - xy[at[i]]) ** 2).sum(axis=1)
            density[i] = np.exp(-d2 / (2 * sigma * sigma)).sum()
        density *= 1e6 / (2 * np.pi * sigma * sigma)  # per km², as the surface
        return class_breaks(density[density >= floor_density(radius)], k=5, method="quantile")

    return src.cached(f"heat-breaks:{level}", make)


def _heatmap_group(src: Source, code: str, options: MapOptions) -> LayerGroup:
    """The incidents' density in the unit drawn, over the chosen months and categories.

    One smooth image clipped to the unit, drawn per month in the level's classes
    of the whole period (:func:`heatmap_breaks`, per month): moving the month
    window changes the picture, never the legend.
    """
    from gridmap.density import density_surface
    from layers.incidents import heatmap

    lang = options.lang
    parent = drawn_parent(code)
    incidents = src.unit_incidents(parent)
    if len(incidents):
        incidents = incidents[incidents.geometry.notna().to_numpy(bool)]
    if not len(incidents):
        key = "app.no_incidents" if src.incidents.empty else "app.no_incidents_here"
        return LayerGroup("heatmap", note=t(key, lang))
    polygon = src.unit(parent).geometry
    start, end = month_window(options.months)
    surface = density_surface(
        incidents,
        radius_m=heatmap_radius(level_of(parent)),
        bounds=tuple(float(v) for v in polygon.bounds),
        categories=list(options.categories) or None,
        start=start,
        end=end,
    )
    every = max(len(incident_months(src)), 1)
    spec = heatmap(
        surface,
        bounds=tuple(float(v) for v in polygon.bounds),
        clip=polygon,
        months=_months_in(options.months, every),
        breaks=heatmap_breaks(src, level_of(parent)) / every,
        floor=surface.floor / every,
        lang=lang,
        synthetic=src.synthetic,
    )
    return LayerGroup("heatmap", [spec])


def incident_months(src: Source) -> list[str]:
    """Every month (``YYYY-MM``, Beijing time) from the first incident's to the last's.

    The time window of the heatmap and the trend chart is a range of these.
    """

    def make() -> list[str]:
        inc = src.incidents
        if inc.empty or "reported_at" not in inc:
            return []
        when = inc["reported_at"].dropna()
        if when.empty:
            return []
        local = when.dt.tz_convert(_TZ).dt.tz_localize(None)
        span = pd.period_range(local.min(), local.max(), freq="M")
        return [str(p) for p in span]

    return src.cached("incident-months", make)


def _months_in(window: Sequence[str] | None, every: int) -> int:
    """How many months ``(first, last)`` spans, inclusive (``None``: ``every``, all of them)."""
    if not window:
        return every
    first, last = sorted(pd.Period(m, freq="M") for m in window)
    return (last - first).n + 1


def _outline(src: Source, parent: str, lang: str) -> LayerSpec:
    """The boundary of the unit whose units are drawn."""
    row = src.unit(parent)
    frame = gpd.GeoDataFrame(
        {"code": [str(row["code"])], "name": [str(row["name"])]},
        geometry=[row.geometry],
        crs="EPSG:4326",
    )
    return outline_spec(frame, lang=lang, synthetic=src.synthetic)


def outline_spec(
    units: gpd.GeoDataFrame, *, lang: str = "zh", synthetic: bool = False
) -> LayerSpec:
    """The outline of one or more units (a district, a subdistrict …) as a line layer.

    Parameters
    ----------
    units
        ``code``, ``name`` and the polygon (any CRS).
    lang
        ``zh`` (default) or ``en``.
    synthetic
        Say in the legend that the data are synthetic.

    Returns
    -------
    LayerSpec
        ``id="outline"``: unfilled dark outlines, named in the legend (the first three).
    """
    u = units.to_crs("EPSG:4326") if units.crs is not None else units.copy()
    if u is units:
        u = u.copy()
    u["geometry"] = u.geometry.boundary
    names = [
        f"{n}（{c}）" if lang == "zh" else f"{n} ({c})"
        for n, c in zip(u["name"].astype("str"), u["code"].astype("str"), strict=True)
    ]
    u["_style"] = [dict(_OUTLINE_STYLE) for _ in range(len(u))]
    u["_tooltip"] = names
    title = t("map.boundary", lang)
    return LayerSpec(
        OUTLINE_ID,
        title,
        u,
        Legend(
            title,
            tuple(LegendItem(n, _OUTLINE_STYLE["color"], kind="line") for n in names[:3]),
            t("map.synthetic", lang) if synthetic else None,
        ),
        kind="line",
        properties=["code", "name"],
    )


# -- helpers ------------------------------------------------------------------------


def _within(frame: pd.DataFrame, code: str, column: str = "code") -> pd.DataFrame:
    """Rows whose ``column`` is ``code`` or a code under it."""
    if frame.empty:
        return frame
    return frame[under(frame[column], code)]


def month_window(months: Sequence[str] | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """``start`` and ``end`` (exclusive) of ``(first, last)`` months in Beijing time.

    Parameters
    ----------
    months
        ``(first, last)`` as ``YYYY-MM`` (inclusive, either order); ``None``:
        no bounds.

    Raises
    ------
    ValueError
        If a month is not ``YYYY-MM``.
    """
    if not months:
        return None, None
    try:
        first, last = sorted(pd.Period(m, freq="M") for m in months)
    except (ValueError, TypeError) as error:
        raise ValueError(f"months must be YYYY-MM: {list(months)!r} ({error})") from None
    start = first.start_time.tz_localize(_TZ)
    end = (last + 1).start_time.tz_localize(_TZ)
    return start, end
