"""What the dashboard shows, as plain data: the pure helpers behind the page callbacks.

Each function takes a :class:`~gridmap.services.source.Source` and returns JSON-ready
dicts and lists (GeoJSON FeatureCollections, style tables, rows of figures),
never Dash components: the callbacks wrap them in components, and the tests
call these functions directly.

Styles travel apart from geometry: :func:`level_view` returns the units'
geometry once (``data``) and their colours as a table keyed by code
(``styles``, put into the GeoJSON component's ``hideout``), so switching the
measure re-sends :func:`unit_styles` only, never the polygons.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlencode

import numpy as np
import pandas as pd
import shapely

from gridmap.accounts import Account
from gridmap.codes import below, drawn_parent, level_of
from gridmap.i18n import label, t
from gridmap.offsets import shift_geometries, wgs84_to_gcj02
from gridmap.privacy import PII_FIELDS
from gridmap.services.source import Source, UnitNotFoundError
from layers.base import LayerSpec, round_coordinates
from layers.unit_map import MEASURES, MapOptions, build_layers, incident_months

__all__ = [
    "MEASURES",
    "NUMBER_KEYS",
    "TIP",
    "Resolved",
    "basemap",
    "breadcrumb",
    "building_info",
    "feature_collection",
    "incident_months",
    "level_view",
    "numbers",
    "outline",
    "overlays",
    "parse_search",
    "resolve",
    "search_for",
    "trend",
    "unit_bounds",
    "unit_labels",
    "unit_styles",
    "window_bounds",
    "window_months",
]

#: The rows of the numbers panel: ``(group, key)`` paths into
#: :func:`gridmap.stats.store_unit_stats` (group ``""`` = top level).
NUMBER_KEYS: tuple[tuple[str, str], ...] = (
    ("", "residents"),
    ("", "households"),
    ("", "grids"),
    ("party", "branch_share"),
    ("party", "group_share"),
    ("coverage", "service_station_share"),
    ("coverage", "clinic_share"),
    ("coverage", "kindergarten_share"),
    ("coverage", "elderly_daycare_share"),
    ("coverage", "primary_school_share"),
    ("coverage", "fresh_market_share"),
    ("incidents", "open"),
    ("incidents", "overdue"),
    ("incidents", "on_time_closure_rate"),
    ("incidents", "grid_level_share"),
)
#: The feature property holding a feature's tooltip, as text (see :func:`feature_collection`).
TIP = "tip"
_BOUNDARY = {"color": "#525252", "weight": 2.5, "fill": False, "dashArray": "6 4"}
_ROAD = {"primary": 2.5, "secondary": 1.5, "motorway": 3.5, "trunk": 3}


class Resolved(dict):
    """The unit a URL asks for: ``code`` (the one shown) and ``message`` (or ``None``).

    An unknown unit is shown as the district with a message, never a blank map;
    an empty store has ``code`` ``None``.
    """


def parse_search(search: str | None) -> dict[str, str]:
    """``?unit=…&lang=…`` as a dict of the first values."""
    query = parse_qs((search or "").lstrip("?"))
    return {key: values[0] for key, values in query.items() if values}


def search_for(code: str | None, lang: str) -> str:
    """The query string of a view: ``?unit=CODE&lang=LANG``."""
    params = {"unit": code} if code else {}
    params["lang"] = lang
    return "?" + urlencode(params)


def resolve(src: Source, unit: str | list[str] | None, lang: str) -> Resolved:
    """The unit to show for the URL's ``unit`` (district by default).

    Parameters
    ----------
    src
        The store.
    unit
        The code from the URL, or ``None``; a list (a repeated parameter) or a
        text that is no code gets the malformed-query message.
    lang
        ``zh`` or ``en`` (of the message).
    """
    try:
        district = src.district_code()
    except UnitNotFoundError:
        return Resolved(code=None, message=t("app.empty_store", lang))
    if unit is None or unit == "":
        return Resolved(code=district, message=None)
    # Not one code (Dash Pages passes a repeated `?unit=` as a list), or not a
    # code at all: one plain message, without echoing what was sent.
    if not isinstance(unit, str) or not unit.isdigit() or len(unit) > 32:
        return Resolved(code=district, message=t("app.malformed_query", lang))
    try:
        src.unit(unit)
    except UnitNotFoundError:
        return Resolved(code=district, message=t("app.unknown_unit", lang).format(code=unit))
    return Resolved(code=unit, message=None)


# -- the unit layer -------------------------------------------------------------


def feature_collection(
    spec: LayerSpec, *, keep_style: bool = True, offset: str | None = None
) -> dict:
    """A layer spec as a FeatureCollection for dash-leaflet.

    ``_tooltip`` becomes ``tip``: plain text, which ``gridmapStyle.bindText``
    (assets/layer_style.js) binds as a text node. Not ``tooltip`` nor ``popup``:
    dash-leaflet binds those by itself, as HTML, and names from users' files
    must never be markup. ``_style`` stays in the properties unless
    the styles travel in the hideout (``keep_style=False``). With ``offset``
    (``"gcj02"`` under AMap tiles) the geometry sent is shifted to that datum.
    """
    if offset is not None and len(spec.features):
        spec = replace(spec, features=spec.features.copy())
        spec.features["geometry"] = shift_geometries(spec.features.geometry.to_numpy(), offset)
    collection = spec.to_geojson()
    for feature in collection["features"]:
        props = feature["properties"]
        props[TIP] = props.pop("_tooltip", None)
        props.pop("popup", None)
        if not keep_style:
            props.pop("_style", None)
    return collection


def unit_styles(src: Source, code: str, *, measure: str, lang: str) -> dict[str, Any]:
    """The hideout of the unit layer: styles by code, the selected code, and the legend.

    The styles are those of :func:`layers.unit_map.build_layers` (the export
    draws the same), keyed by code so the geometry is sent once.

    Parameters
    ----------
    src
        The store.
    code
        The unit shown (its children are drawn).
    measure
        One of :data:`layers.unit_map.MEASURES`.
    lang
        ``zh`` or ``en``.

    Returns
    -------
    dict
        ``styles`` (``{code: Leaflet path options}``), ``selected`` (a building
        code at building level, else ``None``) and ``legend`` (a legend dict).
    """
    options = MapOptions(measure=measure, lang=lang)
    (spec,) = build_layers(src, code, options, groups=("units",)).groups["units"].specs
    styles = dict(zip(spec.features["code"], spec.features["_style"], strict=True))
    selected = code if level_of(code) == "building" else None
    return {"styles": styles, "selected": selected, "legend": spec.legend.to_dict()}


def level_view(src: Source, code: str, *, measure: str, lang: str) -> dict[str, Any]:
    """Everything the map needs to show ``code``: geometry once, styles apart.

    Returns
    -------
    dict
        ``code``, ``level``, ``child_level`` (what a click opens; ``None`` at
        building level), ``parent`` (the unit whose children are drawn: the
        grid at building level), ``data`` (:func:`units_geojson`), ``hideout``
        (see :func:`unit_styles`), ``bounds`` (the unit's box,
        ``[[south, west], [north, east]]``) and ``district`` (the district's box).
    """
    parent = drawn_parent(code)
    return {
        "code": code,
        "level": level_of(code),
        "child_level": below(level_of(code)),
        "parent": parent,
        "data": units_geojson(src, code),
        "hideout": unit_styles(src, code, measure=measure, lang=lang),
        # The view frames the unit itself, not its children: they may not reach
        # its edges (a village grid's scattered buildings). At building level
        # that is the building, drawn among its grid's.
        "bounds": unit_bounds(src, code),
        "district": unit_bounds(src, src.district_code()),
    }


def unit_bounds(src: Source, code: str) -> list[list[float]]:
    """The box of unit ``code`` as the map takes it: ``[[south, west], [north, east]]``.

    In the basemap's coordinates (GCJ-02 over Chinese tiles, else WGS 84).
    """
    west, south, east, north = src.unit(code).geometry.bounds
    if src.offset == "gcj02":
        (west, east), (south, north) = wgs84_to_gcj02([west, east], [south, north])
    return [[south, west], [north, east]]


def units_geojson(src: Source, code: str) -> dict[str, Any]:
    """The geometry of the units drawn for ``code``: the same in every language.

    Properties are ``code``, ``name``, ``level`` and ``tip`` (name and code,
    text: see :func:`feature_collection`); colours travel apart
    (:func:`unit_styles`). Being language-neutral
    and the same for a grid and its buildings, one copy serves the grid view,
    each of its buildings and both languages: the page loads it from a URL
    the browser caches (:func:`gridmap.app.units_url`), so switching the
    language or going back up re-sends no geometry.
    """
    parent = drawn_parent(code)

    def make() -> dict[str, Any]:
        units, level = src.children(parent), below(level_of(parent))
        geoms = _for_display(src, units.geometry.to_numpy())
        names = units["name"].astype("str").to_numpy()
        features = [
            {
                "type": "Feature",
                "geometry": geom.__geo_interface__,
                "properties": {"code": c, "name": n, "level": level, TIP: f"{n} · {c}"},
            }
            for c, n, geom in zip(units["code"], names, geoms, strict=True)
        ]
        return {"type": "FeatureCollection", "features": features}

    return src.cached(f"units:{parent}", make)


def unit_labels(src: Source, code: str) -> dict[str, Any]:
    """The names of the units drawn for ``code``, as points to label the map with.

    One point per unit, inside it (``point_on_surface``: a concave unit's
    centroid may lie outside it). Properties: ``code``, ``label`` (the name as
    stored — the store has one name per unit, shown in either language; a
    building, which has none, by its number in its grid) and ``rank`` (0 for
    the largest unit): the page places labels largest first and hides one
    that would overlap a label already placed (``gridmapStyle.declutter``).
    Language-neutral and the same for a grid and its buildings, like
    :func:`units_geojson`.
    """
    parent = drawn_parent(code)

    def make() -> dict[str, Any]:
        from gridmap.crs import to_metric

        units = src.children(parent)
        units = units[units.geometry.notna().to_numpy(bool) & ~units.geometry.is_empty.to_numpy()]
        if not len(units):
            return {"type": "FeatureCollection", "features": []}
        codes = units["code"].astype("str").to_numpy()
        stored = units["name"] if "name" in units else pd.Series(None, index=units.index)
        # Buildings have no name: the code's tail after the grid's is their number.
        names = [
            str(n) if isinstance(n, str) and n else (c[len(parent) :] or c)
            for n, c in zip(stored, codes, strict=True)
        ]
        area = to_metric(units.geometry).area.to_numpy(dtype=float)
        order = np.argsort(-area, kind="stable")
        rank = np.empty(len(order), dtype=int)
        rank[order] = np.arange(len(order))
        points = _for_display(src, shapely.point_on_surface(units.geometry.to_numpy()))
        features = [
            {
                "type": "Feature",
                "geometry": point.__geo_interface__,
                "properties": {"code": c, "label": n, "rank": int(r)},
            }
            for c, n, r, point in zip(codes, names, rank, points, strict=True)
        ]
        return {"type": "FeatureCollection", "features": features}

    return src.cached(f"labels:{parent}", make)


def outline(src: Source, code: str, lang: str = "zh") -> dict[str, Any]:
    """The outline of the unit on screen (its grid's at building level), as a line.

    Without it a grid of scattered buildings shows no edge: the outline says
    where the unit ends. It is :attr:`layers.unit_map.UnitLayers.outline`.
    """
    layers = build_layers(src, code, MapOptions(lang=lang), groups=())
    return feature_collection(layers.outline, offset=src.offset)


def breadcrumb(src: Source, code: str, lang: str) -> list[dict[str, str]]:
    """The path from the district to ``code``: ``code``, ``name``, ``level`` (its label)."""
    return [
        {
            "code": c,
            "name": name if level != "building" else f"{name}",
            "level": label("level", level, lang),
        }
        for c, name, level in src.path(code)
    ]


# -- numbers --------------------------------------------------------------------


def _format(key: str, value: Any) -> str:
    """A figure as text: shares as percentages, counts grouped, missing as a dash."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if key.endswith("_share") or key.endswith("_rate"):
        return f"{100 * float(value):.1f}%"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return f"{float(value):,.2f}"


def _label(group: str, key: str, lang: str) -> str:
    if group == "coverage":
        # "15-minute coverage: clinic" reads better than the bare type name.
        return t("app.coverage_of", lang).format(what=label("coverage", key, lang))
    # The incident KPIs are labelled in the catalogue's "incident" group.
    return label({"incidents": "incident"}.get(group, group) or "stat", key, lang)


def numbers(src: Source, code: str, lang: str) -> list[dict[str, Any]]:
    """The rows of the numbers panel, straight from :func:`gridmap.stats.store_unit_stats`.

    Returns
    -------
    list of dict
        ``key`` (``group.key``), ``label``, ``value`` (the raw figure, ``None``
        when the unit has none) and ``text`` (formatted), in :data:`NUMBER_KEYS` order.
    """
    stats = src.stats(code)
    rows = []
    for group, key in NUMBER_KEYS:
        part = stats.get(group) if group else stats
        value = part.get(key) if isinstance(part, dict) else None
        rows.append(
            {
                "key": f"{group}.{key}" if group else key,
                "label": _label(group, key, lang),
                "value": value,
                "text": _format(key, value),
            }
        )
    return rows


def window_bounds(
    src: Source, window: Sequence[int] | None
) -> tuple[pd.Timestamp | None, pd.Timestamp | None, list[str]]:
    """``start``, ``end`` (exclusive) and the months of a window of :func:`incident_months`.

    Parameters
    ----------
    window
        ``[first, last]`` indexes into :func:`incident_months` (inclusive),
        as the window slider gives them; ``None``: every month.
    """
    months = incident_months(src)
    if not months:
        return None, None, []
    first, last = (0, len(months) - 1) if not window else (int(window[0]), int(window[1]))
    first, last = max(0, min(first, len(months) - 1)), max(0, min(last, len(months) - 1))
    first, last = min(first, last), max(first, last)
    start = pd.Timestamp(f"{months[first]}-01", tz=_TZ)
    end = pd.Timestamp(f"{months[last]}-01", tz=_TZ) + pd.offsets.MonthBegin(1)
    return start, end, months[first : last + 1]


def window_months(src: Source, window: Sequence[int] | None) -> tuple[str, str] | None:
    """The ``(first, last)`` months of a window of :func:`incident_months`.

    ``None`` when the window is every month (the slider's default), so the
    dashboard's default heatmap is the export's default one.
    """
    _, _, months = window_bounds(src, window)
    if not window or not months or len(months) == len(incident_months(src)):
        return None
    return months[0], months[-1]


def trend(
    src: Source,
    code: str,
    lang: str,
    *,
    window: Sequence[int] | None = None,
    categories: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The unit's incidents per month over the window, as bars.

    Returns
    -------
    dict
        ``title``; ``bars``: ``[{"month": "2025-01", "count": n}, …]``, one per
        month of the window; ``max`` (the tallest count); ``message``: text to
        show instead of bars when the unit has no incidents in the window
        (``None`` otherwise).
    """
    title = t("app.trend", lang)
    start, end, months = window_bounds(src, window)
    inc = src.unit_incidents(code)
    if months and len(inc):
        if categories:
            inc = inc[inc["category"].astype("str").isin(list(categories)).to_numpy(bool)]
        when = _beijing(inc["reported_at"])
        when = when[(when >= start) & (when < end)]
        per = when.dt.strftime("%Y-%m").value_counts().reindex(months, fill_value=0)
    else:
        per = pd.Series(0, index=months, dtype="int64")
    bars = [{"month": m, "count": int(n)} for m, n in per.items()]
    total = int(per.sum())
    message = None if total else t("app.no_incidents_here", lang)
    return {
        "title": title,
        "bars": bars,
        "max": int(per.max()) if len(per) else 0,
        "message": message,
    }


_TZ = "Asia/Shanghai"


def _beijing(times: pd.Series) -> pd.Series:
    """Times as Beijing time (stored times are UTC or zone-aware)."""
    return pd.to_datetime(times, utc=True).dt.tz_convert(_TZ)


def building_info(
    src: Source, code: str, lang: str, account: Account | None = None
) -> dict[str, Any] | None:
    """The building panel: households, residents, party group, open incidents.

    Each open case shows its description and reporter, masked
    (:mod:`gridmap.privacy`) unless ``account`` may see them
    (:func:`gridmap.accounts.sees_pii`); ``pii`` lists the cases shown
    unmasked, for the audit log. Returns ``None`` when ``code`` is not a building.
    """
    from gridmap.accounts import sees_pii
    from gridmap.incidents import OPEN_STEPS
    from gridmap.privacy import mask_record

    if level_of(code) != "building":
        return None
    row = src.unit(code)
    orgs = src.party_orgs
    mine = orgs[orgs["unit_code"].astype("str").eq(code).to_numpy(bool)] if len(orgs) else orgs
    groups = [
        {
            "name": str(r.get("name") or ""),
            "kind": label("party_kind", str(r["kind"]), lang),
            "members": None if pd.isna(r.get("members")) else int(r["members"]),
        }
        for _, r in mine.iterrows()
    ]
    inc = src.unit_incidents(code)
    open_ = inc[inc["step"].astype("str").isin(OPEN_STEPS).to_numpy(bool)] if len(inc) else inc
    cases, pii = [], []
    for _, r in open_.sort_values("reported_at").iterrows():
        record = {k: _text_or_none(r.get(k)) for k in ("description", *PII_FIELDS)}
        unmasked = sees_pii(account, r)
        if unmasked and (record["reporter_name"] or record["reporter_phone"]):
            pii.append(str(r["id"]))
        shown = mask_record(record, unmasked=unmasked)
        cases.append(
            {
                "id": str(r["id"]),
                "category": label("category", str(r["category"]), lang),
                "step": label("step", str(r["step"]), lang),
                "reported_at": str(r["reported_at"])[:16],
                "description": shown["description"],
                "reporter_name": shown["reporter_name"],
                "reporter_phone": shown["reporter_phone"],
            }
        )
    return {
        "code": code,
        "use": label("use", str(row.get("use")), lang),
        "households": _int(row.get("households")),
        "residents": _int(row.get("population")),
        "party": groups,
        "open_incidents": cases,
        "pii": pii,
    }


def _text_or_none(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return str(value) or None


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


# -- basemap and overlays ----------------------------------------------------------


def basemap(src: Source, scope: Sequence[str] = ()) -> dict[str, Any]:
    """The offline basemap: the district boundary and the main roads, styled in properties.

    Served once at its own URL (the browser caches it), not with each level.
    For a user with a ``scope`` it is cut to the area: the outlines of the
    scope's units and the main roads that cross them.
    """
    district = src.units("district")
    roads = src.main_roads()
    if scope:
        frames = [src.units(level_of(code)) for code in scope]
        district = pd.concat(
            [f[f["code"].astype(str) == code] for f, code in zip(frames, scope, strict=True)]
        )
        if len(roads):
            roads = roads[roads.intersects(district.geometry.union_all())]
    geoms = np.concatenate([district.boundary.to_numpy(), roads.geometry.to_numpy()])
    # ~1 m: the basemap is context, drawn at district zoom.
    geoms = _for_display(src, geoms, precision=5)
    features: list[dict] = []
    for geom in geoms[: len(district)]:
        features.append(
            {
                "type": "Feature",
                "geometry": geom.__geo_interface__,
                "properties": {"_style": _BOUNDARY},
            }
        )
    for kind, name, geom in zip(roads["kind"], roads["name"], geoms[len(district) :], strict=True):
        style = {"color": "#9e9e9e", "weight": _ROAD.get(str(kind), 1.5), "opacity": 0.9}
        props: dict[str, Any] = {"_style": style}
        if isinstance(name, str) and name:
            props[TIP] = name
        features.append(
            {"type": "Feature", "geometry": geom.__geo_interface__, "properties": props}
        )
    return {"type": "FeatureCollection", "features": features}


def overlays(
    src: Source,
    code: str,
    group: str,
    *,
    lang: str,
    facility_type: str = "clinic",
    minutes: float = 5.0,
    window: Sequence[int] | None = None,
    categories: Iterable[str] | None = None,
) -> dict[str, Any]:
    """One overlay group of :func:`layers.unit_map.build_layers`, ready for the map.

    Parameters
    ----------
    group
        ``party``, ``circles`` or ``heatmap``.
    facility_type, minutes
        Of the service circles.
    window
        ``[first, last]`` indexes into :func:`incident_months` (inclusive), as
        the month slider gives them; ``None``: every month.
    categories
        Incident categories to keep; ``None`` or empty: all.

    Returns
    -------
    dict
        ``overlays``: a list of ``{id, kind, data, legend}`` (styles in the
        features' properties); ``note``: why the group is empty, or ``None``;
        ``digest``: a hash of both, to tell whether a page has this group already.
    """
    options = MapOptions(
        facility_type=facility_type,
        minutes=float(minutes),
        months=window_months(src, window),
        categories=tuple(categories or ()),
        lang=lang,
    )
    key = f"overlay:{code}:{group}:{options}"

    def make() -> dict[str, Any]:
        layer_group = build_layers(src, code, options, groups=(group,)).groups[group]
        out = {
            "overlays": [_overlay(spec, src.offset) for spec in layer_group.specs],
            "note": layer_group.note,
        }
        # Computed once with the group (it is cached), not on every callback that
        # compares it with what the page has.
        out["digest"] = hashlib.sha1(json.dumps(out, sort_keys=True).encode()).hexdigest()
        return out

    return src.cached(key, make)


def _for_display(src: Source, geoms: np.ndarray, precision: int = 6) -> np.ndarray:
    """Geometries as the browser gets them: shifted to the basemap's datum, rounded."""
    if src.offset is not None and len(geoms):
        geoms = shift_geometries(geoms, src.offset)
    return round_coordinates(geoms, precision)


def _overlay(spec: LayerSpec, offset: str | None) -> dict[str, Any]:
    """An overlay for the map: its id, kind, data (styles in properties) and legend.

    An image layer carries its picture instead of data: ``url`` (a ``data:`` URL),
    ``bounds`` (Leaflet's ``[[south, west], [north, east]]``, shifted like the
    geometry under ``offset``) and ``opacity``.
    """
    out: dict[str, Any] = {"id": spec.id, "kind": spec.kind, "legend": spec.legend.to_dict()}
    if spec.image is None:
        out["data"] = feature_collection(spec, offset=offset)
        return out
    corners = spec.image.corners()
    if offset is not None:
        points = shapely.points([[lon, lat] for lat, lon in corners])
        shifted = shift_geometries(points, offset)
        corners = [[shapely.get_y(p), shapely.get_x(p)] for p in shifted]
    out.update(url=spec.image.url(), bounds=corners, opacity=spec.image.opacity)
    return out
