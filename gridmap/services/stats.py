"""A unit's figures read from a store: the counting done by the store, the rest by the core.

:func:`store_unit_stats` returns what :func:`gridmap.stats.unit_stats` returns
for the same unit, but the counts and sums come from the store's SQL
(:meth:`gridmap.store.base.Store.unit_totals`) and only the unit's own rows and
the points in its bounding box come into Python.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from gridmap.codes import level_of
from gridmap.crs import STORAGE_CRS
from gridmap.party import check_unit, coverage_from_counts
from gridmap.schema import LEVEL_LAYERS, LEVELS
from gridmap.stats import (
    area_km2,
    default_code,
    facility_counts,
    incident_kpis,
    life_circle_figures,
    plain,
    unit_stats,
)
from gridmap.store.base import Store

__all__ = ["store_unit_stats"]


def store_unit_stats(
    store: Store,
    code: str | None = None,
    *,
    incidents: pd.DataFrame | None = None,
    service: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The figures of :func:`unit_stats`, with the counting done by the store.

    Counts and sums come from :meth:`gridmap.store.Store.unit_totals` (SQL in
    the database); only the unit's own row and the facilities and incidents in
    its bounding box (read through the spatial index) come into Python. The
    result equals ``unit_stats(store.read_all(), code)``.

    Parameters
    ----------
    store
        An open store.
    code
        The unit's code, of any level; ``None`` for the store's district.
    incidents
        The store's incidents, already read (a dashboard keeps them in
        memory); ``None`` reads them.
    service
        :func:`gridmap.coverage.service_table` of the store, already computed;
        ``None`` walks the network for this call. Either way the figures are
        the same: these two only save the reading and the walking.
    """
    if incidents is None:
        incidents = store.read("incidents")
    if code is None:
        code = default_code({"districts": store.read("districts", columns=["code", "name"])})
    level = level_of(code)
    if level == "building":
        # One building: its own rows are few, so the layer code path is cheap.
        layers = {
            "buildings": store.read("buildings", where={"code": code}),
            "party_orgs": store.read("party_orgs", where={"unit_code": code}),
        }
        found = layers["buildings"]
        if len(found):
            bbox = tuple(found.total_bounds)
            layers["facilities"] = store.read("facilities", bbox=bbox)
        layers["incidents"] = incidents
        out = unit_stats(layers, code)
        out["coverage"] = _stored_life_circle(store, code, service)
        return out
    unit = store.read(LEVEL_LAYERS[level], where={"code": code})
    check_unit({LEVEL_LAYERS[level]: unit}, code)
    row = unit.iloc[0]
    geom = row.geometry
    totals = store.unit_totals(level, under=code)
    counts = totals.loc[[code]]

    out: dict[str, Any] = {
        "code": code,
        "name": plain(row.get("name")),
        "level": level,
        "area_km2": area_km2(geom, STORAGE_CRS),
    }
    for lvl in LEVELS[LEVELS.index(level) + 1 :]:
        name = LEVEL_LAYERS[lvl]
        out[name] = int(counts[name].iloc[0])
    out["residential_buildings"] = int(counts["residential_buildings"].iloc[0])
    has_buildings = store.count("buildings") > 0
    people = {"residents": "population", "households": "households"}
    for key, column in people.items():
        out[key] = int(counts[column].iloc[0]) if has_buildings or out["grids"] else None
    out["elderly"] = int(counts["elderly"].iloc[0]) if has_buildings else None
    out["children"] = int(counts["children"].iloc[0]) if has_buildings else None
    out["party"] = coverage_from_counts(counts, with_district=level == "district")
    bbox = tuple(geom.bounds) if geom is not None and not geom.is_empty else None
    points = {
        "facilities": store.read("facilities", bbox=bbox, columns=["type"]) if bbox else None,
    }
    out["facilities"] = facility_counts(points, geom, STORAGE_CRS)
    out["incidents"] = incident_kpis(incidents, code)
    out["coverage"] = _stored_life_circle(store, code, service)
    return out


def _stored_life_circle(
    store: Store, code: str, service: pd.DataFrame | None
) -> dict[str, Any] | None:
    """Life-circle figures of a stored unit, from ``service`` when given."""
    if service is not None:
        from gridmap.coverage import service_figures

        return service_figures(service, code) if len(service) else None
    # Coverage is walked along the whole network: facilities outside the unit
    # serve its residents too, so this part reads the three layers whole.
    return life_circle_figures(
        {name: store.read(name) for name in ("roads", "buildings", "facilities")}, code
    )
