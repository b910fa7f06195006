"""The demo's layers, assembled: every stage in a fixed order, one random generator.

:func:`build_demo` is pure: it reads gridmap's bundled data (the real
boundary and names), generates the rest and returns the layers as frames; it
never opens a store (:mod:`gridmap.services.demo` writes them into one).
Every stage draws from one generator in a fixed order, so the same seed
and the same as-of (the instant the year of incidents ends at) always give
the same tables.
"""

from __future__ import annotations

import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from tqdm import tqdm

from gridmap.crs import STORAGE_CRS, utm_crs
from gridmap.demo.buildings import Buildings, build_buildings, household_targets
from gridmap.demo.facilities import facility_table
from gridmap.demo.incidents import (
    DEFAULT_DEADLINE_HOURS,
    Places,
    build_incidents,
    data_window,
    epoch_ms,
)
from gridmap.demo.layout import Layout, build_layout
from gridmap.demo.party_orgs import party_table
from gridmap.demo.profiles import DISTRICTS, DistrictProfile, read_real_units, resolve_district
from gridmap.demo.roads import road_table
from gridmap.demo.tables import layer_frame, provenance

__all__ = ["STAGES", "build_demo"]

#: The stages :func:`build_demo`'s progress bar counts, in order.
STAGES = (
    "boundary and names",
    "atoms and units",
    "buildings",
    "streets",
    "facilities",
    "party organisations",
    "incidents",
    "tables",
)

#: Longest boundary edge (degrees, ~50 m) before projecting to metres.
_DENSIFY_DEG = 0.0005


def build_demo(
    district: str = "431002",
    *,
    seed: int = 0,
    as_of: object = None,
    progress: bool = True,
) -> dict[str, pd.DataFrame]:
    """Build every layer of the demo store for a district.

    Parameters
    ----------
    district
        Adcode or name of a district in :data:`gridmap.demo.DISTRICTS`.
    seed
        Random seed: the same seed and ``as_of`` give identical tables.
    as_of
        When the data end (the data's "now"), a timezone-aware instant: the
        incidents are those of the 365 days before it, a few reported in its
        last hours. ``None``: the moment of the build (floored to the second),
        so the demo is always current; pass one (e.g.
        :data:`gridmap.demo.REFERENCE_AS_OF`) to rebuild the same tables. The
        ``metadata`` layer records it (:func:`gridmap.demo.data_as_of`).
    progress
        Show a progress bar over the :data:`STAGES` on stderr.

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
        If the district is not a demo district, or ``as_of`` is not an instant.
    """
    profile = DISTRICTS[resolve_district(district)]
    window = data_window(as_of)
    rng = np.random.default_rng(seed)
    bar = tqdm(total=len(STAGES), file=sys.stderr, disable=not progress, unit="stage", desc="demo")
    try:
        return _build(profile, seed, window, rng, bar)
    finally:
        bar.close()


def _stage(bar: tqdm, i: int) -> None:
    """Enter stage ``i``: the bar counts the stages done and names the one running."""
    bar.set_postfix_str(STAGES[i], refresh=False)
    if i:
        bar.update(1)


def _build(
    profile: DistrictProfile,
    seed: int,
    window: tuple[pd.Timestamp, pd.Timestamp],
    rng: np.random.Generator,
    bar: tqdm,
) -> dict[str, pd.DataFrame]:
    """The stages of :func:`build_demo`, drawing from ``rng`` in a fixed order.

    The order of the stages is part of the data: a stage that drew one number
    more or less would change every table after it.
    """
    _stage(bar, 0)
    boundary_ll, streets, communities = read_real_units(profile.adcode)
    metric, boundary, centre = _to_metres(boundary_ll, profile.centre)

    _stage(bar, 1)
    lay = build_layout(
        boundary,
        centre,
        streets,
        communities,
        urban_grids=profile.urban_grids,
        decay=profile.decay_m,
        rng=rng,
    )

    _stage(bar, 2)
    targets = household_targets(
        lay.grids["urban"].to_numpy(bool),
        population=profile.population,
        village_population=profile.village_population,
        rng=rng,
    )
    bld = build_buildings(lay, targets, rng)
    n_grids = len(lay.grids)
    grid_pop = np.bincount(bld.grid, bld.population, n_grids).astype(np.int64)
    comm_pop = np.bincount(lay.grids["comm"].to_numpy(), grid_pop, len(lay.communities))

    _stage(bar, 3)
    roads = road_table(lay, rng)

    _stage(bar, 4)
    facilities = facility_table(lay, bld, roads, comm_pop, rng)

    _stage(bar, 5)
    party = party_table(
        lay,
        bld,
        grid_pop,
        branches=profile.grid_branches,
        groups=profile.building_groups,
        rng=rng,
    )

    _stage(bar, 6)
    places = Places(
        grid_geom=lay.grids["geometry"].to_numpy(),
        grid_code=lay.grids["code"].to_numpy(dtype=object),
        grid_name=lay.grids["name"].to_numpy(dtype=object),
        grid_pop=grid_pop,
        bld_geom=bld.geometry,
        bld_grid=bld.grid,
        bld_code=bld.code,
        bld_pop=bld.population,
    )
    incidents, events = build_incidents(
        places,
        profile.incidents,
        DEFAULT_DEADLINE_HOURS,
        epoch_ms(window[0]),
        epoch_ms(window[1]),
        rng,
    )
    incidents["geometry"] = shapely.points(incidents["x"].to_numpy(), incidents["y"].to_numpy())

    _stage(bar, 7)
    out = {
        **_unit_layers(profile, lay, bld, metric),
        "buildings": layer_frame("buildings", _building_table(lay, bld), metric),
        "facilities": layer_frame("facilities", facilities, metric),
        "party_orgs": layer_frame("party_orgs", party, metric),
        "roads": layer_frame("roads", roads, metric),
        "incidents": layer_frame("incidents", incidents, metric),
        "incident_events": layer_frame("incident_events", events, None),
        "metadata": provenance(seed, window[1]),
    }
    bar.update(1)
    return out


def _to_metres(
    boundary_ll: shapely.Geometry, centre_ll: tuple[float, float]
) -> tuple[CRS, shapely.Geometry, tuple[float, float]]:
    """The district's UTM zone, and its boundary and city centre in it."""
    lon, lat = shapely.centroid(boundary_ll).coords[0]
    metric = utm_crs(lon, lat)
    # Extra vertices every ~50 m (the same shape in degrees) keep an edge that
    # is straight in degrees and its projection within micrometres of each
    # other, so the units agree with the boundary in either CRS.
    dense = shapely.segmentize(boundary_ll, _DENSIFY_DEG)
    boundary = gpd.GeoSeries([dense], crs=STORAGE_CRS).to_crs(metric).iloc[0]
    centre = gpd.GeoSeries([shapely.Point(centre_ll)], crs=STORAGE_CRS).to_crs(metric).iloc[0]
    return metric, boundary, (centre.x, centre.y)


def _unit_layers(
    profile: DistrictProfile, lay: Layout, bld: Buildings, metric: CRS
) -> dict[str, pd.DataFrame]:
    """The four unit layers, each unit with its parent's code (grids: their people too)."""
    n_grids = len(lay.grids)
    grids = lay.grids.assign(
        community_code=lay.communities["code"].to_numpy(dtype=object)[lay.grids["comm"].to_numpy()],
        households=np.bincount(bld.grid, bld.households, n_grids).astype(np.int64),
        population=np.bincount(bld.grid, bld.population, n_grids).astype(np.int64),
    )
    comms = lay.communities.assign(
        subdistrict_code=lay.subdistricts["code"].to_numpy(dtype=object)[
            lay.communities["sub"].to_numpy()
        ]
    )
    subs = lay.subdistricts.assign(district_code=profile.adcode)
    # The district is the union of its atoms: the real boundary with the
    # atoms' vertices on it, so the subdistricts tile it exactly.
    district = pd.DataFrame(
        {
            "code": [profile.adcode],
            "name": [profile.name],
            "geometry": [shapely.coverage_union_all(lay.atoms.faces)],
        }
    )
    return {
        "districts": layer_frame("districts", district, metric),
        "subdistricts": layer_frame("subdistricts", subs, metric),
        "communities": layer_frame("communities", comms, metric),
        "grids": layer_frame("grids", grids, metric),
    }


def _building_table(lay: Layout, bld: Buildings) -> pd.DataFrame:
    """The buildings as the layer's columns (metres).

    ``estimated`` marks figures derived from footprint and floors; the demo's
    households and residents are generated per building, not derived, so it is
    false throughout.
    """
    return pd.DataFrame(
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
