"""Service coverage on the walking network: the 15-minute life circle.

Who can walk to a clinic, a school, an elderly day-care centre … within the
distance the standard allows, counted in residents, households and buildings,
never in area (docs/domain.md#service-circles). Distances are walked along the network of
:mod:`gridmap.network`: from the building's centroid straight to the nearest
street, along the streets, then straight to the facility.

* :data:`THRESHOLDS`, :data:`SERVED`, :data:`MUST_HAVE`, :data:`WALKING_SPEEDS`
  and :func:`meters_for` — the numbers coverage is judged by (defaults, to be
  overridden by configuration);
* :func:`building_coverage` — per building: the nearest facility of a type,
  how many lie within reach, whether it is covered;
* :func:`unit_coverage` — the same summed per district, subdistrict, community
  or grid;
* :func:`life_circle_score` — how many of the must-have types each building reaches;
* :class:`CoverageModel` — what-if: add or remove facilities and see the new
  coverage at once (buildings are snapped once);
* :func:`suggest_sites` — where new facilities would cover the most people
  still uncovered (greedy maximum coverage).

A building is *unreachable* when it lies farther than the snapping distance
from every street: it is reported, never dropped, and never counted covered.
A facility on a connected component of the network other than the building's
(an island of streets, a gated estate imported without its gate) is out of
reach: no walk along the network joins them. That falls out of the shortest
path search, which never crosses between components.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.codes import ancestors_at
from gridmap.crs import STORAGE_CRS
from gridmap.errors import InputError
from gridmap.network import (
    Snapped,
    WalkNetwork,
    _node_distances,
    _reach_pairs,
    nearest_distance,
    reachable_counts,
    snap,
)
from gridmap.schema import FACILITY_TYPES

__all__ = [
    "THRESHOLDS",
    "CHECKED_THRESHOLDS",
    "SERVED",
    "MUST_HAVE",
    "WALKING_SPEEDS",
    "meters_for",
    "building_coverage",
    "unit_coverage",
    "life_circle_score",
    "CoverageModel",
    "suggest_sites",
    "unit_service_figures",
    "service_table",
    "service_figures",
]

#: Default walking distance (metres) within which a facility of each type
#: covers a building: GB 50180-2018 table 3.0.4 and docs/domain.md#service-circles.
#: 5-minute types 300 m, 10-minute 500 m, 15-minute 1000 m ("one per
#: subdistrict" types are judged by the 1000 m distance). Only the types in
#: :data:`CHECKED_THRESHOLDS` were checked against the standard's text; the
#: others are recalled ([R] in docs/domain.md): they are defaults for configuration,
#: not settled values.
THRESHOLDS: dict[str, float] = {
    "service_station": 300.0,  # [R]
    "clinic": 300.0,  # [R]
    "kindergarten": 300.0,  # [R]
    "elderly_daycare": 300.0,  # [R]
    "primary_school": 500.0,
    "fresh_market": 500.0,  # [R]
    "bus_stop": 500.0,  # [R]
    "middle_school": 1000.0,
    "health_centre": 1000.0,
    "subdistrict_centre": 1000.0,  # [R]
    "police_station": 1000.0,  # [R]
    "judicial_office": 1000.0,  # [R]
    "nursing_home": 1000.0,  # [R]
    "party_service_centre": 1000.0,  # [R]
}

#: The thresholds checked against GB 50180-2018; the rest are recalled.
CHECKED_THRESHOLDS: frozenset[str] = frozenset({"primary_school", "middle_school", "health_centre"})

#: The buildings' population column each type serves: elderly residents (60+)
#: for elderly day care and nursing homes, children (0-6) for kindergartens,
#: everyone for the rest (docs/domain.md#service-circles).
SERVED: dict[str, str] = {
    t: {"elderly_daycare": "elderly", "nursing_home": "elderly", "kindergarten": "children"}.get(
        t, "population"
    )
    for t in FACILITY_TYPES
}

#: The must-have (基础保障型, TD/T 1062-2021) types of the combined life-circle score.
MUST_HAVE: tuple[str, ...] = (
    "service_station",
    "clinic",
    "kindergarten",
    "elderly_daycare",
    "primary_school",
    "fresh_market",
)

#: Walking speeds in metres per minute, used only to turn minutes into metres.
#: ``standard`` 60 m/min sits inside the 53-67 m/min that GB 50180-2018 implies
#: (800-1000 m in 15 minutes). ``age_friendly`` 45 m/min (0.75 m/s) is for
#: elderly residents: below the 0.9 m/s (3 ft/s) that traffic engineering
#: (US MUTCD) assumes for slower pedestrians at crossings, since comfortable
#: gait speed falls towards 0.8-0.9 m/s past 70 and lower for frail walkers.
#: It is recalled from that literature, not taken from a Chinese standard: a
#: default for configuration.
WALKING_SPEEDS: dict[str, float] = {"standard": 60.0, "age_friendly": 45.0}

_LEVELS = ("district", "subdistrict", "community", "grid")


def _check_type(ftype: str) -> str:
    if ftype not in THRESHOLDS:
        raise InputError(
            f"unknown facility type '{ftype}'",
            field="type",
            hint=f"use one of: {', '.join(THRESHOLDS)}",
        )
    return ftype


def _positive(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise InputError(f"{what} must be a positive number, not {value!r}")
    return number


def meters_for(
    ftype: str,
    meters: float | None = None,
    minutes: float | None = None,
    speed: float | str | None = None,
) -> float:
    """The walking distance that judges coverage of a facility type.

    Parameters
    ----------
    ftype
        A facility type (:data:`gridmap.schema.FACILITY_TYPES`).
    meters
        An explicit distance in metres, overriding the default.
    minutes
        A walking time, for users who ask in minutes: converted with ``speed``.
    speed
        Metres per minute, or a key of :data:`WALKING_SPEEDS` (default ``standard``).

    Returns
    -------
    float
        ``meters``, else ``minutes × speed``, else :data:`THRESHOLDS` of the type.

    Raises
    ------
    InputError
        For an unknown type or speed name, a distance, time or speed that is
        not positive, or both ``meters`` and ``minutes``.
    """
    _check_type(ftype)
    if meters is not None and minutes is not None:
        raise InputError("give a distance or a walking time, not both", hint="drop one of them")
    if meters is not None:
        return _positive(meters, "the walking distance in metres")
    if minutes is None:
        return THRESHOLDS[ftype]
    minutes = _positive(minutes, "the walking time in minutes")
    if speed is None or isinstance(speed, str):
        name = speed or "standard"
        if name not in WALKING_SPEEDS:
            raise InputError(
                f"unknown walking speed '{name}'",
                hint=f"use one of: {', '.join(WALKING_SPEEDS)}, or metres per minute",
            )
        speed = WALKING_SPEEDS[name]
    return minutes * _positive(speed, "the walking speed in metres per minute")


def _column(frame: pd.DataFrame, name: str, what: str) -> pd.Series:
    if name not in frame.columns:
        raise InputError(f"{what} have no '{name}' column", field=name)
    return frame[name]


def _counts(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    """An integer count column with missing values as 0."""
    col = pd.to_numeric(_column(frame, name, what), errors="coerce")
    return col.fillna(0).to_numpy(dtype=np.int64)


def _of_type(facilities: gpd.GeoDataFrame | gpd.GeoSeries, ftype: str) -> gpd.GeoDataFrame:
    """The facilities of one type (all of them when there is no ``type`` column)."""
    if isinstance(facilities, gpd.GeoSeries):
        facilities = facilities.to_frame("geometry")
    if "type" in facilities.columns:
        facilities = facilities[facilities["type"] == ftype]
    return facilities


def _ids(facilities: gpd.GeoDataFrame) -> np.ndarray:
    if "id" in facilities.columns:
        return facilities["id"].astype(str).to_numpy(dtype=object)
    return facilities.index.astype(str).to_numpy(dtype=object)


class CoverageModel:
    """Coverage of one facility type, ready for what-if questions.

    Buildings are snapped to the network once; every variant (facilities
    added, removed, replaced) then costs one distance search and one count,
    a fraction of a second on a district. Variants are new models: the one
    you start from is not changed, so variants can be compared side by side.

    Parameters
    ----------
    network
        The walking network.
    buildings
        Buildings (any CRS) with ``code``, ``grid_code``, ``households`` and
        the population column the type serves (:data:`SERVED`).
    ftype
        The facility type.
    meters
        Walking distance that covers; default :data:`THRESHOLDS` of the type.
    snap_distance
        Buildings and facilities farther than this (metres) from every street
        are unreachable.
    facilities
        The existing facilities (any CRS); rows of other types are ignored
        when there is a ``type`` column.

    Attributes
    ----------
    coverage
        Per-building coverage, as :func:`building_coverage` returns it.
    meters
        The walking distance that covers.
    """

    def __init__(
        self,
        network: WalkNetwork,
        buildings: gpd.GeoDataFrame,
        ftype: str,
        *,
        meters: float | None = None,
        snap_distance: float = 200.0,
        facilities: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    ) -> None:
        self.network = network
        self.ftype = _check_type(ftype)
        self.meters = meters_for(ftype, meters)
        self.snap_distance = float(snap_distance)
        what = "the buildings"
        self._index = buildings.index
        self._codes = _column(buildings, "code", what).to_numpy()
        self._grid_codes = _column(buildings, "grid_code", what).to_numpy()
        # Every count column there is, so that for_type() can judge other
        # types without reading the buildings again; the served one is required.
        cols = {c for c in ("population", "elderly", "children", "households") if c in buildings}
        self._people = {c: _counts(buildings, c, what) for c in sorted(cols | {SERVED[ftype]})}
        self._bsnap = snap(network, buildings, max_distance=self.snap_distance)
        self._set_facilities(facilities)

    # -- variants ---------------------------------------------------------

    def _variant(self, ftype: str | None = None, meters: float | None = None) -> CoverageModel:
        """A copy sharing the snapped buildings (no facilities set yet)."""
        new = object.__new__(CoverageModel)
        new.__dict__.update(
            {k: v for k, v in self.__dict__.items() if k not in ("coverage", "_fsnap")}
        )
        if ftype is not None:
            new.ftype = _check_type(ftype)
            new.meters = meters_for(ftype, meters)
        return new

    def _set_facilities(self, facilities: gpd.GeoDataFrame | gpd.GeoSeries | None) -> None:
        if facilities is None:
            facilities = gpd.GeoDataFrame({"id": []}, geometry=[], crs=self.network.crs)
        facilities = _of_type(facilities, self.ftype)
        ids = _ids(facilities)
        self._fsnap = snap(self.network, facilities, max_distance=self.snap_distance)
        self._fids = ids

    def for_type(self, ftype: str, *, meters: float | None = None) -> CoverageModel:
        """The same buildings, judged for another facility type (no facilities yet).

        The buildings must have the population column the new type serves.
        """
        _check_type(ftype)
        if SERVED[ftype] not in self._people:
            raise InputError(f"the buildings have no '{SERVED[ftype]}' column", field=SERVED[ftype])
        return self._variant(ftype, meters)._with(self._empty())

    def _empty(self) -> tuple[Snapped, np.ndarray]:
        empty = self._fsnap.take(np.zeros(0, np.int64))
        return empty, np.zeros(0, dtype=object)

    def _with(self, state: tuple[Snapped, np.ndarray]) -> CoverageModel:
        self._fsnap, self._fids = state
        self.__dict__.pop("coverage", None)
        return self

    def with_facilities(self, facilities: gpd.GeoDataFrame | gpd.GeoSeries) -> CoverageModel:
        """The model with these facilities instead of the current ones.

        Parameters
        ----------
        facilities
            Facilities in any CRS; with a ``type`` column, only this model's
            type is used. ``id`` names them (else the index).
        """
        new = self._variant()
        new._set_facilities(facilities)
        return new

    def add(
        self,
        points: gpd.GeoDataFrame | gpd.GeoSeries,
        *,
        ids: Iterable[str] | None = None,
    ) -> CoverageModel:
        """The model with facilities added at ``points`` (all of this model's type).

        Parameters
        ----------
        points
            Locations in any CRS (e.g. the rows :func:`suggest_sites` returns).
        ids
            Names for the new facilities; default the ``id`` column, else
            ``new-1``, ``new-2`` …
        """
        frame = points.to_frame("geometry") if isinstance(points, gpd.GeoSeries) else points
        snapped = snap(self.network, frame, max_distance=self.snap_distance)
        if ids is not None:
            new_ids = np.array([str(i) for i in ids], dtype=object)
        elif "id" in frame.columns:
            new_ids = _ids(frame)
        else:
            new_ids = np.array([f"new-{i + 1}" for i in range(len(frame))], dtype=object)
        if len(new_ids) != len(snapped):
            raise InputError(f"{len(new_ids)} ids for {len(snapped)} new facilities")
        return self._variant()._with(
            (Snapped.concat([self._fsnap, snapped]), np.concatenate([self._fids, new_ids]))
        )

    def remove(self, ids: Iterable[str]) -> CoverageModel:
        """The model without the facilities named ``ids``.

        Raises
        ------
        InputError
            If an id names none of the model's facilities.
        """
        ids = {str(i) for i in ([ids] if isinstance(ids, str) else ids)}
        unknown = sorted(ids - set(self._fids))
        if unknown:
            raise InputError(
                f"no {self.ftype} facility with id {', '.join(unknown)}",
                field="id",
                hint="use the ids of the model's facilities (model.facility_ids)",
            )
        keep = ~np.isin(self._fids, list(ids))
        return self._variant()._with((self._fsnap.take(keep), self._fids[keep]))

    # -- results ----------------------------------------------------------

    @property
    def facility_ids(self) -> list[str]:
        """The ids of the model's facilities."""
        return [str(i) for i in self._fids]

    @property
    def facilities(self) -> gpd.GeoDataFrame:
        """The model's facilities: ``id``, ``reachable`` and their points, in EPSG:4326."""
        xy = self._fsnap.xy
        points = gpd.GeoSeries.from_xy(xy[:, 0], xy[:, 1], crs=self.network.crs)
        return gpd.GeoDataFrame(
            {"id": self._fids.astype(str), "reachable": self._fsnap.reachable},
            geometry=points.to_crs(STORAGE_CRS).to_numpy(),
            crs=STORAGE_CRS,
        )

    @property
    def served(self) -> np.ndarray:
        """People each building counts for this type (:data:`SERVED`), NA as 0."""
        return self._people[SERVED[self.ftype]]

    @cached_property
    def coverage(self) -> pd.DataFrame:
        """Per-building coverage (see :func:`building_coverage`)."""
        net, fs, bs = self.network, self._fsnap, self._bsnap
        dist = nearest_distance(net, fs, bs, limit=self.meters)
        count = reachable_counts(net, fs, bs, limit=self.meters)
        covered = np.isfinite(dist)
        return pd.DataFrame(
            {
                "code": self._codes,
                "grid_code": self._grid_codes,
                "distance_m": np.where(covered, dist, np.nan),
                "reachable": count,
                "covered": covered,
                "served": self.served,
                "unreachable": ~bs.reachable,
            },
            index=self._index,
        )

    def summary(self) -> dict[str, Any]:
        """Totals: served people and buildings, covered and unreachable, facilities."""
        cov = self.coverage
        people = int(cov["served"].sum())
        covered = int(cov.loc[cov["covered"], "served"].sum())
        return {
            "type": self.ftype,
            "meters": self.meters,
            "facilities": len(self._fids),
            "facilities_unreachable": int((~self._fsnap.reachable).sum()),
            "served": people,
            "served_covered": covered,
            "pct_served_covered": 100.0 * covered / people if people else math.nan,
            "buildings": len(cov),
            "buildings_covered": int(cov["covered"].sum()),
            "buildings_unreachable": int(cov["unreachable"].sum()),
        }


def building_coverage(
    network: WalkNetwork,
    buildings: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    ftype: str,
    *,
    meters: float | None = None,
    snap_distance: float = 200.0,
) -> pd.DataFrame:
    """Coverage of every building by the facilities of one type.

    Parameters
    ----------
    network
        The walking network.
    buildings
        Buildings (any CRS) with ``code``, ``grid_code`` and the population
        column the type serves (:data:`SERVED`); each is represented by its centroid.
    facilities
        Facilities (any CRS); only rows of ``ftype`` are used when there is a
        ``type`` column.
    ftype
        The facility type.
    meters
        The walking distance that covers; default :data:`THRESHOLDS` of the type.
    snap_distance
        Buildings and facilities farther than this from every street are unreachable.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``buildings``: ``code``, ``grid_code``; ``distance_m`` to
        the nearest facility along the network (NaN when none is within
        ``meters``); ``reachable``, the number of facilities within
        ``meters``; ``covered``; ``served``, the people counted for this type;
        ``unreachable``, the building is farther than ``snap_distance`` from
        every street (it is then never covered). A facility on another
        connected component of the network never covers a building.
    """
    model = CoverageModel(network, buildings, ftype, meters=meters, snap_distance=snap_distance)
    return model.with_facilities(facilities).coverage


def unit_coverage(per_building: pd.DataFrame, buildings: pd.DataFrame, level: str) -> pd.DataFrame:
    """Coverage summed per unit of a level of the hierarchy.

    Parameters
    ----------
    per_building
        The result of :func:`building_coverage` (or ``CoverageModel.coverage``).
    buildings
        The buildings, for their ``households`` (joined on ``code``).
    level
        ``district``, ``subdistrict``, ``community`` or ``grid``: units are
        found from the prefix of each building's grid code.

    Returns
    -------
    pandas.DataFrame
        One row per unit, by ``code``: ``residents`` (the people the type
        serves) and ``residents_covered``, ``households`` and
        ``households_covered``, ``buildings`` and ``buildings_covered``, each
        with its percentage (``pct_*``, NaN when the unit has none), and
        ``residents_unreachable`` (in buildings too far from every street).
    """
    if level not in _LEVELS:
        raise InputError(f"unknown level '{level}'", hint=f"use one of: {', '.join(_LEVELS)}")
    households = pd.Series(
        _counts(buildings, "households", "the buildings"),
        index=_column(buildings, "code", "the buildings").to_numpy(),
    )
    households = households[~households.index.duplicated()]
    cov = per_building
    covered = cov["covered"].to_numpy(bool)
    served = cov["served"].to_numpy(np.int64)
    hh = households.reindex(cov["code"].to_numpy()).fillna(0).to_numpy(np.int64)
    frame = pd.DataFrame(
        {
            "code": ancestors_at(cov["grid_code"].astype(str), level),
            "residents": served,
            "residents_covered": np.where(covered, served, 0),
            "households": hh,
            "households_covered": np.where(covered, hh, 0),
            "buildings": 1,
            "buildings_covered": covered.astype(np.int64),
            "residents_unreachable": np.where(cov["unreachable"].to_numpy(bool), served, 0),
        }
    )
    out = frame.groupby("code", sort=True).sum().reset_index()
    for what in ("residents", "households", "buildings"):
        total = out[what].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"pct_{what}"] = np.where(total > 0, 100.0 * out[f"{what}_covered"] / total, np.nan)
    order = ["code"] + [
        c
        for what in ("residents", "households", "buildings")
        for c in (what, f"{what}_covered", f"pct_{what}")
    ]
    return out[[*order, "residents_unreachable"]]


def life_circle_score(
    network: WalkNetwork,
    buildings: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    meters_by_type: Mapping[str, float] | None = None,
    snap_distance: float = 200.0,
) -> pd.Series:
    """How many of the must-have facility types each building reaches (0-6).

    Parameters
    ----------
    network
        The walking network.
    buildings
        Buildings (any CRS) with ``code``, ``grid_code`` and the population
        columns the must-have types serve.
    facilities
        All facilities (any CRS) with a ``type`` column.
    meters_by_type
        Distances overriding :data:`THRESHOLDS` for some types.
    snap_distance
        Buildings and facilities farther than this from every street are unreachable.

    Returns
    -------
    pandas.Series
        Integer score per building, indexed like ``buildings``; a type counts
        when one of its facilities lies within its distance (:data:`MUST_HAVE`).
    """
    _column(facilities, "type", "the facilities")
    table = service_table(
        network,
        buildings,
        facilities,
        meters_by_type=meters_by_type,
        snap_distance=snap_distance,
    )
    score = table[[f"covered_{ftype}" for ftype in MUST_HAVE]].sum(axis=1).to_numpy(np.int64)
    return pd.Series(score, index=buildings.index, name="life_circle_score")


def _node_points(network: WalkNetwork, nodes: np.ndarray) -> Snapped:
    """Points exactly at network nodes, joined at an end of a segment meeting there."""
    ptr, segs = network._node_segments()
    seg = segs[ptr[nodes]]
    t = np.where(network.u[seg] == nodes, 0.0, 1.0)
    zero = np.zeros(nodes.size)
    return Snapped(seg, t, zero, np.ones(nodes.size, bool), network.xy[nodes])


def suggest_sites(
    model: CoverageModel,
    k: int,
    *,
    candidates: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
) -> gpd.GeoDataFrame:
    """Where ``k`` new facilities would cover the most people still uncovered.

    Greedy maximum coverage: each step picks the candidate that covers the
    most served people not yet covered (by existing facilities or earlier
    picks), within the model's distance along the network. Greedy is within
    a factor 1 - 1/e of the best choice of ``k`` sites, and each pick's gain
    is exact.

    Parameters
    ----------
    model
        The coverage model (its type, distance and current facilities).
    k
        How many sites to suggest; fewer come back when no candidate covers
        anyone more.
    candidates
        Possible sites (points, any CRS); unreachable ones are never picked.
        By default, every network node within the model's distance of at
        least one uncovered building with people to serve.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per site in pick order, in EPSG:4326: ``rank``; ``gain`` (served
        people newly covered), ``buildings_gain``, ``households_gain``;
        ``covered_after`` and ``pct_covered_after`` (served people covered in
        all, of all served people); ``x``/``y`` (longitude, latitude);
        ``road_id`` of the street the site is on; ``node`` (network node, -1
        for a given candidate) and ``candidate`` (row of ``candidates``, -1
        for a node).
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InputError(f"the number of sites must be a positive integer, not {k!r}")
    net = model.network
    cov = model.coverage
    served = model.served
    households = model._people.get("households", np.zeros(len(cov), np.int64))
    need = np.flatnonzero(
        ~cov["covered"].to_numpy(bool) & ~cov["unreachable"].to_numpy(bool) & (served > 0)
    )
    targets = model._bsnap.take(need)
    weight = served[need].astype(np.float64)

    if candidates is None:
        # Distances are symmetric: the nodes within reach *of* an uncovered
        # building are the nodes *from* which a facility would reach it.
        near = _node_distances(net, targets, model.meters)
        nodes = np.flatnonzero(near <= model.meters)
        cand = _node_points(net, nodes)
        cand_row = np.full(nodes.size, -1)
    else:
        frame = (
            candidates.to_frame("geometry") if isinstance(candidates, gpd.GeoSeries) else candidates
        )
        cand = snap(net, frame, max_distance=model.snap_distance)
        nodes = np.full(len(cand), -1)
        cand_row = np.arange(len(cand))

    # Which uncovered buildings each candidate reaches: one bounded search per
    # candidate, then CSR both ways (candidate -> buildings, building -> candidates).
    src, tgt, _ = _reach_pairs(net, cand, targets, model.meters)
    n_c, n_t = len(cand), need.size
    by_c = np.argsort(src, kind="stable")
    c_ptr = np.zeros(n_c + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n_c), out=c_ptr[1:])
    c_tgt = tgt[by_c]
    by_t = np.argsort(tgt, kind="stable")
    t_ptr = np.zeros(n_t + 1, np.int64)
    np.cumsum(np.bincount(tgt, minlength=n_t), out=t_ptr[1:])
    t_cand = src[by_t]
    gain = np.bincount(src, weights=weight[tgt], minlength=n_c)

    done = np.zeros(n_t, bool)
    total = float(served.sum())
    covered_now = float(served[cov["covered"].to_numpy(bool)].sum())
    rows = []
    for rank in range(1, k + 1):
        if n_c == 0:
            break
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        new = c_tgt[c_ptr[best] : c_ptr[best + 1]]
        new = new[~done[new]]
        done[new] = True
        # Lazy bookkeeping would do too; the exact decrement is cheap: every
        # candidate reaching a newly covered building loses its weight.
        deg = t_ptr[new + 1] - t_ptr[new]
        starts = np.repeat(t_ptr[new] - np.cumsum(deg) + deg, deg) + np.arange(deg.sum())
        np.subtract.at(gain, t_cand[starts], np.repeat(weight[new], deg))
        gained = float(weight[new].sum())
        covered_now += gained
        rows.append(
            {
                "rank": rank,
                "gain": round(gained),
                "buildings_gain": int(new.size),
                "households_gain": int(households[need[new]].sum()),
                "covered_after": round(covered_now),
                "pct_covered_after": 100.0 * covered_now / total if total else math.nan,
                "seg": int(cand.segment[best]),
                "mx": float(cand.xy[best, 0]),
                "my": float(cand.xy[best, 1]),
                "node": int(nodes[best]),
                "candidate": int(cand_row[best]),
            }
        )
        gain[best] = 0.0  # picked: never again

    columns = [
        "rank",
        "gain",
        "buildings_gain",
        "households_gain",
        "covered_after",
        "pct_covered_after",
        "x",
        "y",
        "road_id",
        "node",
        "candidate",
    ]
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=STORAGE_CRS)
    frame = pd.DataFrame(rows)
    points = gpd.GeoSeries.from_xy(frame["mx"], frame["my"], crs=net.crs).to_crs(STORAGE_CRS)
    frame["x"], frame["y"] = points.x.to_numpy(), points.y.to_numpy()
    frame["road_id"] = net.road_id[frame["seg"].to_numpy()]
    return gpd.GeoDataFrame(frame[columns], geometry=points.to_numpy(), crs=STORAGE_CRS)


def service_table(
    network: WalkNetwork,
    buildings: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    meters_by_type: Mapping[str, float] | None = None,
    snap_distance: float = 200.0,
) -> pd.DataFrame:
    """Which must-have types reach each building: the walking part of the figures, once.

    Walking the network is the costly part of a unit's life-circle figures and
    does not depend on the unit, so a dashboard computes this table once and
    :func:`service_figures` cuts any unit out of it.

    Parameters
    ----------
    network
        The walking network of the whole store.
    buildings
        All buildings (snapped once, for every type).
    facilities
        All facilities.
    meters_by_type
        Distances overriding :data:`THRESHOLDS` for some types.
    snap_distance
        Metres beyond which a building or facility is off the network.

    Returns
    -------
    pandas.DataFrame
        One row per building, in the buildings' order: ``grid_code``,
        ``population``, and per must-have type ``covered_<type>`` (bool) and
        ``served_<type>`` (the people of the building the type serves).
    """
    meters_by_type = dict(meters_by_type or {})
    for ftype in meters_by_type:
        _check_type(ftype)
    # The buildings are snapped once; every type is judged from the same snapping.
    model = CoverageModel(network, buildings, MUST_HAVE[0], snap_distance=snap_distance)
    table = {
        "grid_code": _column(buildings, "grid_code", "the buildings").astype("str").to_numpy(),
        "population": _counts(buildings, "population", "the buildings"),
    }
    for ftype in MUST_HAVE:
        typed = model.for_type(ftype, meters=meters_by_type.get(ftype))
        cov = typed.with_facilities(facilities).coverage
        table[f"covered_{ftype}"] = cov["covered"].to_numpy(bool)
        table[f"served_{ftype}"] = cov["served"].to_numpy(np.int64)
    return pd.DataFrame(table)


def service_figures(table: pd.DataFrame, code: str = "") -> dict[str, float | None]:
    """The life-circle figures of one unit from a :func:`service_table`.

    Parameters
    ----------
    table
        :func:`service_table` of the store's buildings.
    code
        The unit: buildings whose grid code starts with it ('' = all).

    Returns
    -------
    dict
        As :func:`unit_service_figures`.
    """
    mine = table["grid_code"].str.startswith(code).to_numpy(bool)
    reached = np.zeros(len(table), np.int64)
    out: dict[str, float | None] = {}
    for ftype in MUST_HAVE:
        covered = table[f"covered_{ftype}"].to_numpy(bool)
        served = table[f"served_{ftype}"].to_numpy(np.int64)
        reached += covered
        total = int(served[mine].sum())
        out[f"{ftype}_share"] = float(served[mine & covered].sum() / total) if total else None
    residents = table["population"].to_numpy(np.int64)[mine]
    people = int(residents.sum())
    full = reached[mine] == len(MUST_HAVE)
    out["life_circle_all_share"] = float(residents[full].sum() / people) if people else None
    out["life_circle_mean"] = float((reached[mine] * residents).sum() / people) if people else None
    return out


def unit_service_figures(
    network: WalkNetwork,
    buildings: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    code: str = "",
    *,
    snap_distance: float = 200.0,
) -> dict[str, float | None]:
    """The life-circle figures of one unit, for `gridmap stats`.

    Parameters
    ----------
    network
        The walking network of the whole store (facilities outside the unit
        still serve its residents).
    buildings
        All buildings (they are snapped once, for every type).
    facilities
        All facilities.
    code
        The unit: buildings whose grid code starts with it ('' = all).

    Returns
    -------
    dict
        ``<type>_share`` for each must-have type: the share of the people the
        type serves who live within its distance (:data:`THRESHOLDS`);
        ``life_circle_all_share``: the share of residents whose building
        reaches every must-have type; ``life_circle_mean``: the mean number of
        must-have types reached, weighted by residents. ``None`` where the unit
        has nobody to serve.
    """
    table = service_table(network, buildings, facilities, snap_distance=snap_distance)
    return service_figures(table, code)
