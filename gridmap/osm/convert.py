"""The pure conversion of a read extract into store layers, with its report.

:func:`convert_osm` ties the concepts together: roads
(:mod:`gridmap.osm.roads`), buildings (:mod:`gridmap.osm.buildings`),
facilities (:mod:`gridmap.osm.facilities`) and the hierarchy that holds the
buildings. It opens no file and no store: the caller gives it what
:func:`~gridmap.osm.read.read_osm` read and what the store already holds, and
writes the :class:`OsmImport` it returns (see :mod:`gridmap.services.osm`).

Hierarchy
---------
An extract has no 区/街道/社区/网格. When the store has no district, one is
generated, all SYNTHETIC (:func:`gridmap.hierarchy.synthetic.build_hierarchy`):
district ``district_code`` (default ``990101``, outside the real adcodes)
named ``name`` (default: the file's name up to its first dot), square grids of
``grid_size`` metres (default 500).

When the store already has a hierarchy it is kept (``name``,
``district_code`` and ``grid_size`` are then unused): each building goes to
the existing grid holding its centroid, and buildings outside every grid are
refused (:func:`place_in_grids`). Existing grids are not reshaped: a building
reaching out of its grid is reported, and ``gridmap validate`` lists it.

Without ``replace`` the new buildings' serials continue after the store's;
with it those layers are replaced (the hierarchy is kept, building serials
start again at 001).

Building codes are the grid's code and a 3-digit serial, numbered west→east,
north→south by the rule of :mod:`gridmap.hierarchy`, continuing after the
grid's existing buildings (:func:`gridmap.hierarchy.building_codes`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.crs import STORAGE_CRS, project, utm_crs_of
from gridmap.errors import InputError, option, render_options
from gridmap.hierarchy import building_codes, grids_holding
from gridmap.hierarchy.synthetic import DEFAULT_DISTRICT_CODE, build_hierarchy, synthetic_notes
from gridmap.osm.buildings import EstimateFactors, buildings_from_osm
from gridmap.osm.facilities import facilities_from_osm
from gridmap.osm.roads import network_components, roads_from_osm

__all__ = [
    "LICENCE",
    "STAGES",
    "ImportReport",
    "OsmImport",
    "place_in_grids",
    "convert_osm",
]

#: Licence of OpenStreetMap data.
LICENCE = "ODbL 1.0 (© OpenStreetMap contributors)"

#: The stages of an import, in order, as a ``progress`` callback hears them:
#: :func:`convert_osm` reports the middle four, the caller ``read`` and ``write``.
STAGES: tuple[str, ...] = ("read", "roads", "buildings", "facilities", "hierarchy", "write")

#: The side of a generated grid when none is given, in metres.
_GRID_SIZE_M = 500.0


@dataclass
class ImportReport:
    """What an OSM import did, for the command to print.

    Counts are of the rows written; ``dropped`` and ``structures`` are Counters
    of reasons and ``building`` values. ``notes`` may name options with
    :func:`gridmap.errors.option`; :meth:`to_text` renders them.
    """

    file: str
    store: str = ""
    roads: int = 0
    ways: int = 0
    split: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    components: int = 0
    largest_share: float = 0.0
    road_km: float = 0.0
    buildings: int = 0
    estimated: int = 0
    households: int = 0
    population: int = 0
    small: int = 0
    structures: Counter[str] = field(default_factory=Counter)
    incomplete: int = 0
    facilities: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    hierarchy: str = ""
    notes: list[str] = field(default_factory=list)

    def to_text(self, flags: Mapping[str, str] | None = None) -> str:
        """The report as lines of text (English: it names OSM tags).

        Parameters
        ----------
        flags
            The CLI's flags by option name, to name options as the user typed
            them (see :func:`gridmap.errors.render_options`); by default
            options are named as Python keywords.
        """
        dropped = sum(self.dropped.values())
        reasons = ", ".join(f"{k} {v:,}" for k, v in self.dropped.most_common(6))
        skipped = sum(self.structures.values())
        kinds = ", ".join(f"{k} {v}" for k, v in self.structures.most_common(4))
        facilities = ", ".join(f"{k} {v:,}" for k, v in sorted(self.facilities.items()))
        lines = [
            f"imported {self.file} into {self.store}" if self.store else f"converted {self.file}",
            f"  roads       {self.roads:,} walkable segments from {self.ways:,} ways "
            f"({self.split:,} split at junctions); {dropped:,} ways dropped as not walkable"
            + (f" ({reasons})" if reasons else ""),
            f"  network     {self.components:,} connected pieces; the largest holds "
            f"{self.largest_share:.1%} of the {self.road_km:,.1f} km of road",
            f"  buildings   {self.buildings:,} ({self.estimated:,} with estimated households: "
            f"{self.households:,} households, {self.population:,} residents); skipped "
            f"{self.small:,} sheds under the minimum footprint and {skipped:,} structures"
            + (f" ({kinds})" if kinds else "")
            + (f"; {self.incomplete:,} cut by the extract's edge" if self.incomplete else ""),
            f"  facilities  {sum(self.facilities.values()):,}"
            + (f": {facilities}" if facilities else "")
            + (
                f" ({self.duplicates} areas mapped again as points counted once)"
                if self.duplicates
                else ""
            ),
        ]
        if self.hierarchy:
            lines.append(f"  hierarchy   {self.hierarchy}")
        lines += [f"note: {render_options(n, flags)}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class OsmImport:
    """The converted extract: layers to write, their provenance and the report."""

    frames: dict[str, gpd.GeoDataFrame]
    metadata: list[dict[str, object]]
    report: ImportReport


def place_in_grids(buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> np.ndarray:
    """The existing grid holding each building's centroid; refuse buildings outside them.

    Parameters
    ----------
    buildings
        Buildings (EPSG:4326) with an ``osm`` column naming them in messages.
    grids
        The store's grids (``code``, geometry, EPSG:4326).

    Returns
    -------
    numpy.ndarray
        A grid code per building (the lowest code when a centroid lies on an edge).

    Raises
    ------
    gridmap.errors.InputError
        If any building lies outside every grid: how many, and an example.
    """
    out = grids_holding(buildings, grids)
    missing = np.flatnonzero(pd.isna(out))
    if len(missing):
        k = missing[0]
        example = buildings["osm"].iloc[k] if "osm" in buildings else f"building {k + 1}"
        centroid = shapely.centroid(buildings.geometry.iloc[k])
        raise InputError(
            f"{len(missing):,} of {len(buildings):,} buildings lie outside every grid of the "
            f"store (e.g. OSM {example} at {centroid.x:.5f}, {centroid.y:.5f})",
            hint="import the extract into a new store (a hierarchy is generated for it), "
            "or import grids that cover it first",
        )
    return out


def convert_osm(
    raw: Mapping[str, gpd.GeoDataFrame],
    *,
    source: str,
    existing: Mapping[str, pd.DataFrame] | None = None,
    replace: bool = False,
    name: str | None = None,
    district_code: str | None = None,
    grid_size: float | None = None,
    factors: EstimateFactors | None = None,
    progress: Callable[[str], None] | None = None,
) -> OsmImport:
    """Convert a read extract into store layers (pure: no file, no store).

    Parameters
    ----------
    raw
        :func:`~gridmap.osm.read.read_osm`'s layers.
    source
        The file's name, for the metadata and the report.
    existing
        The store's ``districts``, ``grids`` and ``buildings`` (``code``,
        ``grid_code``), if it has any. With a district, the hierarchy is kept
        and buildings are placed in its grids; without, one is generated.
    replace
        The store's buildings are to be replaced: new serials start at 001.
    name
        The generated district's name (default: ``source`` up to its first dot).
    district_code
        The generated district's code (default
        :data:`~gridmap.hierarchy.synthetic.DEFAULT_DISTRICT_CODE`).
    grid_size
        The generated grids' side in metres (default 500).
    factors
        The estimate's assumptions (default :class:`~gridmap.osm.buildings.EstimateFactors`).
    progress
        Called with each stage's name (:data:`STAGES`) once it is done.

    Returns
    -------
    OsmImport
    """
    tick = progress or (lambda stage: None)
    report = ImportReport(file=source)
    roads, rstats = roads_from_osm(raw["lines"])
    report.roads, report.ways, report.split = len(roads), rstats["ways"], rstats["split"]
    report.dropped = rstats["dropped"]
    report.components, report.largest_share, report.road_km = _network_figures(roads)
    tick("roads")

    buildings, bstats = buildings_from_osm(raw["multipolygons"], factors)
    report.small, report.structures = bstats["small"], bstats["structures"]
    report.incomplete = bstats["incomplete"]
    tick("buildings")

    facilities, fstats = facilities_from_osm(raw["points"], raw["multipolygons"])
    report.facilities = facilities["type"].value_counts().sort_index().to_dict()
    report.duplicates = fstats["duplicates"]
    tick("facilities")

    frames: dict[str, gpd.GeoDataFrame] = {}
    generated: dict[str, str] = {}
    if _has_hierarchy(existing):
        given = {"name": name, "district_code": district_code, "grid_size": grid_size}
        unused = [option(key) for key, value in given.items() if value is not None]
        if unused:
            report.notes.append(
                f"the store has a hierarchy already: it is kept and {', '.join(unused)} not used"
            )
        grids = existing["grids"]
        grid_codes = place_in_grids(buildings, grids)
        old = () if replace else existing.get("buildings", pd.DataFrame({"code": []}))["code"]
        codes = building_codes(buildings, grid_codes, grids, old)
        crossing = _crossing(buildings, grid_codes, grids)
        if crossing:
            report.notes.append(
                f"{crossing:,} buildings reach out of the grid holding their centroid; "
                "`gridmap validate` lists them (redraw those grids along the buildings)"
            )
        report.hierarchy = (
            f"kept the store's: buildings placed in {len(set(grid_codes)):,} of its "
            f"{len(grids):,} grids"
        )
    else:
        name = name or source.split(".")[0]
        district_code = district_code or DEFAULT_DISTRICT_CODE
        grid_size = float(grid_size or _GRID_SIZE_M)
        extent = np.concatenate([g.geometry.to_numpy() for g in (roads, buildings, facilities)])
        hierarchy, grid_codes = build_hierarchy(
            buildings, extent, name=name, district_code=district_code, grid_size=grid_size
        )
        codes = building_codes(buildings, grid_codes, hierarchy["grids"])
        frames.update(hierarchy)
        ncomm, ngrid = len(hierarchy["communities"]), len(hierarchy["grids"])
        report.hierarchy = (
            f"generated (SYNTHETIC): district {district_code} {name}, 1 subdistrict, "
            f"{ncomm} communit{'y' if ncomm == 1 else 'ies'}, {ngrid:,} "
            f"grid{'' if ngrid == 1 else 's'} of {grid_size:g} m"
        )
        generated = synthetic_notes(district_code, grid_size)
    buildings = buildings.assign(code=codes, grid_code=np.asarray(grid_codes, dtype=object))
    report.buildings = len(buildings)
    report.estimated = int(buildings["estimated"].sum())
    report.households = int(buildings["households"].sum())
    report.population = int(buildings["population"].sum())
    tick("hierarchy")

    frames["roads"] = roads
    frames["buildings"] = buildings.drop(columns="osm")
    frames["facilities"] = facilities
    metadata = _provenance(source, factors or EstimateFactors(), generated)
    return OsmImport(frames, metadata, report)


def _has_hierarchy(existing: Mapping[str, pd.DataFrame] | None) -> bool:
    return bool(existing) and len(existing.get("districts", ())) > 0


def _network_figures(roads: gpd.GeoDataFrame) -> tuple[int, float, float]:
    """Connected pieces, the largest one's share of the length, and the km of road."""
    if not len(roads):
        return 0, 0.0, 0.0
    labels = network_components(roads)
    geoms = roads.geometry.to_numpy()
    length = shapely.length(project(geoms, STORAGE_CRS, utm_crs_of(geoms)))
    total = float(length.sum())
    return int(labels.max()) + 1, float(length[labels == 0].sum()) / max(total, 1e-9), total / 1000


def _provenance(
    source: str, f: EstimateFactors, generated: Mapping[str, str]
) -> list[dict[str, object]]:
    """Metadata rows: OSM layers (real, ODbL) and generated units (SYNTHETIC) with notes."""
    osm_source = f"OpenStreetMap extract {source}"
    rows: list[dict[str, object]] = [
        {
            "layer": layer,
            "source": f"generated by gridmap import-osm over the extent of {osm_source}",
            "licence": "CC0 (generated)",
            "synthetic": True,
            "note": note,
        }
        for layer, note in generated.items()
    ]
    notes = {
        "roads": "walkable ways (highway, foot and access tags), split at shared nodes",
        "buildings": "footprints and uses from OSM; households and residents ESTIMATED "
        f"(estimated = true): footprint x residential floors x {f.usable_share:g} / "
        f"{f.dwelling_m2:g} m² per dwelling, {f.persons_per_household:g} residents per "
        f"household, {f.elderly_share:.0%} aged 60+, {f.children_share:.0%} aged 0-6",
        "facilities": "POIs mapped to facility types by gridmap.osm.FACILITY_RULES",
    }
    rows += [
        {"layer": layer, "source": osm_source, "licence": LICENCE, "synthetic": False, "note": n}
        for layer, n in notes.items()
    ]
    return rows


def _crossing(buildings: gpd.GeoDataFrame, grid_codes: np.ndarray, grids: gpd.GeoDataFrame) -> int:
    """How many buildings are not covered by their grid (by more than a rounding error)."""
    if not len(buildings):
        return 0
    geom = dict(zip(grids["code"], grids.geometry, strict=True))
    parent = np.array([geom[c] for c in grid_codes], dtype=object)
    # Buffer by ~1 m (in degrees) as the validator's containment tolerance does.
    return int((~shapely.covers(shapely.buffer(parent, 1e-5), buildings.geometry.to_numpy())).sum())
