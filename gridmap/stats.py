"""Figures of one unit of the hierarchy: people, units below, area, party, facilities, incidents.

:func:`unit_stats` returns a flat-ish dict (scalars, plus one dict per topic:
``party``, ``facilities``, ``incidents``) that later features extend with
their own keys; :func:`format_stats` prints any such dict, labelling keys it
knows from :mod:`gridmap.i18n` and showing unknown ones by name.

People and buildings belong to a unit by code prefix (a building under
community 431002001001 has a code starting with it); facilities and incidents
by location, point in the unit's polygon, since they carry no unit code of
their own (or, for incidents, one that may be empty).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.codes import level_of, parent_of, under
from gridmap.crs import STORAGE_CRS, to_metric
from gridmap.errors import CodeError
from gridmap.i18n import label, t
from gridmap.party import RESIDENTIAL_USES, check_unit, party_coverage
from gridmap.schema import FACILITY_TYPES, LEVEL_LAYERS, LEVELS

__all__ = [
    "area_km2",
    "default_code",
    "facility_counts",
    "format_stats",
    "incident_kpis",
    "life_circle_figures",
    "plain",
    "unit_stats",
]


def unit_stats(layers: Mapping[str, pd.DataFrame], code: str | None = None) -> dict[str, Any]:
    """The figures of one unit.

    Parameters
    ----------
    layers
        Layers by name (GeoDataFrames in EPSG:4326); missing layers count as empty.
    code
        The unit's code, of any level; ``None`` for the store's district.

    Returns
    -------
    dict
        ``code``, ``name``, ``level``, ``area_km2``; the number of
        ``subdistricts``, ``communities``, ``grids``, ``buildings`` and
        ``residential_buildings`` below the unit (only the levels below it);
        ``residents``, ``households``, ``elderly``, ``children`` (sums over its
        buildings; residents and households from its grids when the store has
        no buildings; ``None`` when no layer has the figure); ``party`` (see
        :func:`gridmap.party.party_coverage`); ``facilities`` (count per
        facility type located in the unit, every type listed); ``incidents``
        (the KPIs of :func:`gridmap.incidents.unit_metrics_one`, by the
        incidents' grid codes); ``coverage`` (life-circle coverage, see
        :func:`gridmap.coverage.unit_service_figures`; None without roads).

    Raises
    ------
    gridmap.errors.CodeError
        If the code is malformed or no unit has it, or (``code=None``) the
        store does not hold exactly one district.
    """
    code = default_code(layers) if code is None else code
    row = check_unit(layers, code)
    level = level_of(code)
    geom = row.geometry if "geometry" in row.index else None
    crs = getattr(layers[LEVEL_LAYERS[level]], "crs", None) or STORAGE_CRS

    out: dict[str, Any] = {
        "code": code,
        "name": plain(row.get("name")),
        "level": level,
        "area_km2": area_km2(geom, crs),
    }
    below = LEVELS[LEVELS.index(level) + 1 :]
    for lvl in below:
        out[LEVEL_LAYERS[lvl]] = len(_under(layers, LEVEL_LAYERS[lvl], code))
    buildings = _under(layers, "buildings", code)
    if "building" in below:
        use = buildings["use"].astype("str") if "use" in buildings else pd.Series(dtype="str")
        out["residential_buildings"] = int(use.isin(RESIDENTIAL_USES).sum())
    out.update(_people(layers, buildings, code))
    out["party"] = party_coverage(layers, code)
    out["facilities"] = facility_counts(layers, geom, crs)
    out["incidents"] = incident_kpis(layers.get("incidents"), code)
    out["coverage"] = life_circle_figures(layers, code)
    return out


def incident_kpis(incidents: pd.DataFrame | None, code: str) -> dict[str, Any]:
    """The unit's incident KPIs (by the incidents' grid codes), over all their time.

    Parameters
    ----------
    incidents
        The incidents (any of the store's; only the unit's are counted), or ``None``.
    code
        The unit's code; a building's are the incidents located at it.
    """
    from gridmap.incidents import unit_metrics_one

    if incidents is None or "grid_code" not in incidents:
        return {"count": 0, "open": 0}
    if level_of(code) == "building":
        # A building's incidents are those located at it (within 30 m).
        if "building_code" not in incidents:
            return {"count": 0, "open": 0}
        mine = under(incidents["building_code"], code)
        return unit_metrics_one(incidents[mine], parent_of(code))
    return unit_metrics_one(incidents, code)


def life_circle_figures(layers: Mapping[str, pd.DataFrame], code: str) -> dict[str, Any] | None:
    """Life-circle coverage of the unit's residents, or None without roads and buildings.

    Parameters
    ----------
    layers
        ``roads``, ``buildings`` and ``facilities`` (EPSG:4326), the whole
        network: facilities outside the unit serve its residents too.
    code
        The unit's code.
    """
    roads, buildings = layers.get("roads"), layers.get("buildings")
    if roads is None or buildings is None or roads.empty or buildings.empty:
        return None
    from gridmap.coverage import unit_service_figures
    from gridmap.network import build_network

    facilities = layers.get("facilities")
    if facilities is None:
        facilities = gpd.GeoDataFrame({"type": []}, geometry=[], crs=STORAGE_CRS)
    return unit_service_figures(build_network(roads), buildings, facilities, code)


def format_stats(stats: Mapping[str, Any], lang: str = "zh") -> str:
    """A unit's figures as aligned text.

    Parameters
    ----------
    stats
        A dict from :func:`unit_stats` (keys added by later features are shown
        too, labelled by the catalogue or by name).
    lang
        ``zh`` (default) or ``en``.

    Returns
    -------
    str
        A title line (name, code, level), then one line per figure, nested
        dicts as indented sections; shares as percentages (``84.7%``), missing
        figures as ``—``.
    """
    level = stats.get("level")
    name, code = stats.get("name"), stats.get("code", "")
    title = f"{name} ({code})" if name else str(code)
    if level:
        title += f" · {label('level', level, lang)}"
    rows: list[tuple[int, str, str]] = []  # (indent, label, value); value "" = section
    for key, value in stats.items():
        if key in ("code", "name", "level"):
            continue
        if isinstance(value, Mapping):
            rows.append((0, label("stat", key, lang), ""))
            group = _GROUPS.get(key, "stat")
            for sub, v in value.items():
                rows.append((1, label(group, sub, lang), _value(sub, v, lang)))
        else:
            rows.append((0, label("stat", key, lang), _value(key, value, lang)))
    width = max((_width(lab) + 2 * ind for ind, lab, v in rows if v), default=0)
    lines = [title]
    for indent, lab, value in rows:
        text = "  " * (indent + 1) + lab
        if value:
            text += " " * (width - _width(lab) - 2 * indent + 2) + value
        lines.append(text)
    return "\n".join(lines)


# -- helpers --------------------------------------------------------------------

# The catalogue group labelling the keys of each nested dict.
_GROUPS = {
    "party": "party",
    "facilities": "facility",
    "incidents": "incident",
    "coverage": "coverage",
}
_UNITS = {"area_km2": " km²"}


def default_code(layers: Mapping[str, pd.DataFrame]) -> str:
    """The code of the one district in ``layers["districts"]``.

    Raises
    ------
    gridmap.errors.CodeError
        If there is no district or more than one.
    """
    districts = layers.get("districts")
    n = 0 if districts is None else len(districts)
    if n != 1:
        found = "no district" if n == 0 else f"{n} districts"
        raise CodeError(
            f"the store holds {found}, so there is no default unit",
            "give a unit code" + ("" if n == 0 else f": one of {', '.join(districts['code'])}"),
        )
    return str(districts["code"].iloc[0])


def _under(layers: Mapping[str, pd.DataFrame], name: str, code: str) -> pd.DataFrame:
    """Rows of a level layer whose code starts with ``code``."""
    frame = layers.get(name)
    if frame is None or "code" not in frame or not len(frame):
        return pd.DataFrame({"code": pd.Series(dtype="str")})
    return frame[under(frame["code"], code)]


def _sum(frame: pd.DataFrame, column: str) -> int | None:
    """Sum of a count column; None when the column is missing altogether."""
    if column not in frame:
        return None
    return int(pd.to_numeric(frame[column], errors="coerce").fillna(0).sum())


def _people(
    layers: Mapping[str, pd.DataFrame], buildings: pd.DataFrame, code: str
) -> dict[str, int | None]:
    """Residents, households, elderly and children of the unit."""
    out = {
        "residents": _sum(buildings, "population"),
        "households": _sum(buildings, "households"),
        "elderly": _sum(buildings, "elderly"),
        "children": _sum(buildings, "children"),
    }
    has_buildings = layers.get("buildings") is not None and len(layers["buildings"])
    if not has_buildings:
        # No buildings yet: the grids' own figures are the best there is.
        grids = _under(layers, "grids", code)
        out["residents"] = _sum(grids, "population") if len(grids) else None
        out["households"] = _sum(grids, "households") if len(grids) else None
    return out


def area_km2(geom: Any, crs: Any) -> float | None:
    """Area of a geometry in km², measured in its UTM zone (``None`` for none or empty)."""
    if geom is None or geom.is_empty:
        return None
    return float(to_metric(gpd.GeoSeries([geom], crs=crs)).area.iloc[0] / 1e6)


def _inside(frame: pd.DataFrame | None, geom: Any, crs: Any) -> np.ndarray:
    """Which rows of a point layer lie in (or on the edge of) ``geom``."""
    if frame is None or not len(frame) or not isinstance(frame, gpd.GeoDataFrame):
        return np.zeros(0 if frame is None else len(frame), dtype=bool)
    if geom is None or geom.is_empty:
        return np.zeros(len(frame), dtype=bool)
    points = frame.geometry
    if points.crs is not None and crs is not None and not points.crs.equals(crs):
        points = points.to_crs(crs)
    shapely.prepare(geom)
    return shapely.intersects(geom, np.asarray(points.array, dtype=object))


def facility_counts(layers: Mapping[str, pd.DataFrame], geom: Any, crs: Any) -> dict[str, int]:
    """Facilities located in the unit, per type (every type listed)."""
    frame = layers.get("facilities")
    inside = _inside(frame, geom, crs)
    counts = {ft: 0 for ft in FACILITY_TYPES}
    if inside.any() and "type" in frame:
        for ft, n in frame.loc[inside, "type"].astype("str").value_counts().items():
            counts[ft] = int(n)
    return counts


def plain(value: Any) -> Any:
    """A pandas/numpy scalar as a plain Python value (missing as None)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _value(key: str, value: Any, lang: str) -> str:
    """A figure as text: shares as percentages, big numbers grouped."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return t("stat.yes" if value else "stat.no", lang)
    if key.endswith("_share") or key.endswith("_rate"):
        return f"{100 * value:.1f}%"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if key == "area_km2" and value < 0.1:
        # A grid or a building: km² with two decimals would read 0.00.
        return f"{value * 1e6:,.0f} m²"
    if isinstance(value, float | np.floating):
        return f"{value:,.2f}{_UNITS.get(key, '')}"
    return str(value)


def _width(text: str) -> int:
    """Display width in a terminal: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
