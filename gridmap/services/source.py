"""A store read once and cached: what the dashboard, the map export and the layers read.

The dashboard asks the same questions again and again (the subdistricts of the
district, the figures of the unit on screen …). A :class:`Source` reads each
level layer once and answers from memory; the units' totals come from the
store (:meth:`gridmap.store.base.Store.unit_totals`, one SQL query per level,
the same on both backends), and what is costly and per unit
(:func:`gridmap.services.stats.store_unit_stats`) is cached per code.

:func:`get_source` keeps one :class:`Source` per store and process and swaps in
a fresh one once the store has changed (:meth:`Source.changed`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from gridmap.codes import ancestor, below, level_of, serial_of, under
from gridmap.errors import CodeError, GridmapError
from gridmap.schema import LEVEL_LAYERS, LEVELS

if TYPE_CHECKING:
    from gridmap.store.base import Store

__all__ = ["Source", "get_source", "close_sources", "UnitNotFoundError"]

#: The unit columns every level frame carries (besides its geometry).
_UNIT_COLUMNS = ("code", "name")
#: The store's totals (:meth:`Store.unit_totals`) every level frame carries.
_TOTALS = ("households", "population", "elderly", "children", "buildings")
#: Road kinds drawn on the offline basemap: the main roads only, so the
#: basemap stays light (a few hundred lines) and readable on a wall display.
MAIN_ROADS = ("motorway", "trunk", "primary", "secondary")
#: Simplification tolerance of basemap lines, in degrees (~5 m): invisible at
#: district zoom, and it halves the bytes sent.
_SIMPLIFY_DEG = 5e-5

#: Seconds between two checks of a store's version (:meth:`Source.changed`).
RECHECK_SECONDS = 2.0
#: How many computed values (layers, GeoJSON bodies) a Source keeps, the least
#: recently used dropped first (a count of entries, not of bytes).
CACHE_ENTRIES = 256
_SOURCES: dict[tuple[str, str | None], Source] = {}
_SOURCES_LOCK = threading.Lock()


class UnitNotFoundError(GridmapError):
    """A unit code that is malformed or not in the store."""


def get_source(address: str, offset: str | None = None, *, fresh: bool = False) -> Source:
    """The process's :class:`Source` of the store at ``address``: created on first use,
    and replaced by a new one (reading the store again) once the store has changed.

    ``fresh`` asks the store's version now rather than at most every
    :data:`RECHECK_SECONDS` (the wall's feed, which asks once a second for every wall).
    """
    with _SOURCES_LOCK:
        key = (address, offset)
        src = _SOURCES.get(key)
        if src is None:
            src = _SOURCES[key] = Source(address, offset=offset)
        elif src.changed(now=fresh):
            # Requests under way keep the old copy; the store (connections) is shared.
            src = _SOURCES[key] = Source(address, offset=offset, store=src.store)
        return src


def close_sources() -> None:
    """Close every :class:`Source` of the process and forget them (their stores' connections)."""
    with _SOURCES_LOCK:
        for source in _SOURCES.values():
            source.close()
        _SOURCES.clear()


class Source:
    """A store as the dashboard sees it: level frames with their totals, cached.

    Parameters
    ----------
    address
        A ``.gpkg`` path or ``postgresql://`` URL, as :func:`gridmap.store.open_store` takes.
    offset
        The datum of the basemap the geometry is drawn on: ``None`` (WGS 84) or
        ``"gcj02"`` (AMap). Only what is sent to the browser is shifted; the
        frames here stay in WGS 84.
    """

    def __init__(
        self, address: str, offset: str | None = None, *, store: Store | None = None
    ) -> None:
        from gridmap.store import open_store

        self.address = str(address)
        self.offset = offset
        self.store = store if store is not None else open_store(self.address)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._stats: dict[str, dict[str, Any]] = {}
        self._network = None
        self._service: pd.DataFrame | None = None
        #: The store's version when this copy was made (see :meth:`changed`).
        self.version = self.store.version()
        self._checked = time.monotonic()

    def close(self) -> None:
        """Close the store (a database connection pool for PostGIS)."""
        self.store.close()

    def changed(self, *, now: bool = False) -> bool:
        """Whether the store has changed since it was read (asked at most every
        :data:`RECHECK_SECONDS`).

        Asking is cheap (a file header read, or one query); :func:`get_source`
        then swaps in a new :class:`Source` that reads the store again, so a
        request always works on one consistent copy.
        """
        clock = time.monotonic()
        if not now and clock - self._checked < RECHECK_SECONDS:
            return False
        self._checked = clock
        return self.store.version() != self.version

    # -- layers -------------------------------------------------------------

    @cached_property
    def buildings(self) -> gpd.GeoDataFrame:
        """Every building (EPSG:4326)."""
        return self.store.read("buildings")

    @cached_property
    def incidents(self) -> gpd.GeoDataFrame:
        """Every incident (EPSG:4326)."""
        return self.store.read("incidents")

    @cached_property
    def party_orgs(self) -> gpd.GeoDataFrame:
        """Every party organisation (EPSG:4326)."""
        return self.store.read("party_orgs")

    @cached_property
    def roads(self) -> gpd.GeoDataFrame:
        """Every road (EPSG:4326)."""
        return self.store.read("roads")

    @cached_property
    def facilities(self) -> gpd.GeoDataFrame:
        """Every facility (EPSG:4326)."""
        return self.store.read("facilities")

    @cached_property
    def synthetic(self) -> bool:
        """Whether the store's metadata marks any layer as synthetic."""
        meta = self.store.read("metadata")
        if meta.empty or "synthetic" not in meta:
            return False
        return bool(meta["synthetic"].astype("boolean").fillna(False).any())

    @cached_property
    def _units(self) -> dict[str, gpd.GeoDataFrame]:
        """Each level's units with the store's totals (households, residents …), by code."""
        out: dict[str, gpd.GeoDataFrame] = {}
        for level in LEVELS:
            if level == "building":
                frame = self.buildings.copy()
                # Buildings have no name: their serial (the last 3 digits) reads as one.
                frame["name"] = [serial_of(c) for c in frame["code"].astype("str")]
                frame["buildings"] = 1
            else:
                frame = self.store.read(LEVEL_LAYERS[level])
                frame = frame[[*_UNIT_COLUMNS, "geometry"]].copy()
                totals = self.store.unit_totals(level)
                joined = totals.reindex(frame["code"].astype("str").to_numpy())
                for column in _TOTALS:
                    frame[column] = joined[column].to_numpy(dtype=float)
            frame["code"] = frame["code"].astype("str")
            out[level] = frame.reset_index(drop=True)
        return out

    def units(self, level: str) -> gpd.GeoDataFrame:
        """The units of ``level`` with ``code``, ``name``, counts and geometry."""
        return self._units[level]

    # -- units --------------------------------------------------------------

    def district_code(self) -> str:
        """The code of the store's district.

        Raises
        ------
        UnitNotFoundError
            When the store holds no district (an empty store).
        """
        districts = self.units("district")
        if districts.empty:
            raise UnitNotFoundError("the store holds no district", "build one with `gridmap demo`")
        return str(districts["code"].iloc[0])

    def unit(self, code: str) -> pd.Series:
        """The row of the unit ``code``.

        Raises
        ------
        UnitNotFoundError
            If the code is malformed or no unit has it.
        """
        try:
            level = level_of(str(code))
        except (CodeError, ValueError) as error:
            raise UnitNotFoundError(f"'{code}' is not a unit code", str(error)) from None
        frame = self.units(level)
        hit = frame.index[frame["code"] == code]
        if not len(hit):
            raise UnitNotFoundError(f"no {level} has the code {code}", "pick a unit on the map")
        return frame.loc[hit[0]]

    def children(self, code: str) -> gpd.GeoDataFrame:
        """The units one level below ``code`` (empty below a building)."""
        level = below(level_of(code))
        if level is None:
            return self.units("building").iloc[0:0]
        frame = self.units(level)
        return frame[under(frame["code"], code)].reset_index(drop=True)

    def path(self, code: str) -> list[tuple[str, str, str]]:
        """``(code, name, level)`` of the unit and every unit above it, district first."""
        out = []
        for level in LEVELS[: LEVELS.index(level_of(code)) + 1]:
            part = ancestor(code, level)
            try:
                row = self.unit(part)
            except UnitNotFoundError:
                continue
            out.append((part, str(row["name"]), level))
        return out

    # -- figures ------------------------------------------------------------

    def stats(self, code: str) -> dict[str, Any]:
        """:func:`gridmap.services.stats.store_unit_stats` of ``code``, computed once per code."""
        from gridmap.services.stats import store_unit_stats

        service = self.service_table()
        with self._lock:
            if code not in self._stats:
                self._stats[code] = store_unit_stats(
                    self.store, code, incidents=self.incidents, service=service
                )
            return self._stats[code]

    def service_table(self) -> pd.DataFrame:
        """:func:`gridmap.coverage.service_table` of the store, walked once.

        Empty when the store has no roads or no buildings (no life-circle figures).
        """
        from gridmap.coverage import service_table

        with self._lock:
            if self._service is None:
                if self.roads.empty or self.buildings.empty:
                    self._service = pd.DataFrame()
                else:
                    self._service = service_table(
                        self._network_unlocked(), self.buildings, self.facilities
                    )
            return self._service

    def unit_incidents(self, code: str) -> pd.DataFrame:
        """The incidents of a unit: by grid code (by building code for a building)."""
        inc = self.incidents
        if inc.empty:
            return inc
        column = "building_code" if level_of(code) == "building" else "grid_code"
        return inc[under(inc[column], code)]

    def network(self) -> Any:
        """The walking network of the roads, built once (for service circles)."""
        with self._lock:
            return self._network_unlocked()

    def _network_unlocked(self) -> Any:
        from gridmap.network import build_network

        if self._network is None:
            self._network = build_network(self.roads)
        return self._network

    def warm(self) -> None:
        """Read and compute what every page needs, so the first views are fast."""
        districts = self.units("district")
        self.service_table()
        if len(districts):
            self.stats(self.district_code())  # reads the incidents too

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """A value computed once per key (layers reused across requests), the
        :data:`CACHE_ENTRIES` most recently used kept.

        Keys name a unit and options the page offers (callbacks check them:
        :mod:`gridmap.app.inputs`), yet codes times options are many: an
        unbounded dict grew by megabytes per distinct request. ``make`` runs
        outside the lock (it may take seconds); two requests for the same new
        key may both compute it, and the second result is dropped.
        """
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = make()
        with self._cache_lock:
            value = self._cache.setdefault(key, value)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return value

    # -- basemap ------------------------------------------------------------

    def main_roads(self) -> gpd.GeoDataFrame:
        """The main roads, one merged and simplified line per kind and name (the basemap's lines).

        Computed once per copy of the store (each scope's basemap cuts it: 40–56 ms a time).
        """
        return self.cached("main-roads", self._main_roads)

    def _main_roads(self) -> gpd.GeoDataFrame:
        """:meth:`main_roads`, computed.

        Merging the segments of a street into one line sends each shared vertex
        once and one feature instead of dozens: the basemap is a fifth of the
        bytes of the segments as stored.
        """
        import shapely

        roads = self.roads
        if roads.empty or "kind" not in roads:
            return roads.iloc[0:0]
        main = roads[roads["kind"].astype("str").isin(MAIN_ROADS).to_numpy(bool)]
        if main.empty:
            # Only lanes and footways (a small or partial extract): no main road to draw.
            return gpd.GeoDataFrame(
                {"kind": [], "name": []}, geometry=gpd.GeoSeries([], crs=roads.crs)
            )
        names = main["name"].astype("string").fillna("")
        rows = []
        for (kind, name), part in main.groupby([main["kind"].astype("str"), names], sort=True):
            lines = shapely.get_parts(part.geometry.to_numpy())
            merged = shapely.line_merge(shapely.multilinestrings(lines))
            rows.append({"kind": kind, "name": name or None, "geometry": merged})
        frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=roads.crs)
        frame["geometry"] = frame.geometry.simplify(_SIMPLIFY_DEG)
        return frame
