"""OpenStreetMap extracts (``.osm.pbf``) as walkable roads, buildings and facilities.

One concept per module, each documenting its rules:

- :mod:`gridmap.osm.tags` -- the tag tables: walkable ``highway`` values,
  ``building`` values by use, structures that are no building, the facility
  rules (:data:`FACILITY_RULES`) and the words that give a school its level;
- :mod:`gridmap.osm.read` -- reading an extract (:func:`read_osm`, GDAL's OSM
  driver through pyogrio: the only function here that opens a file) and
  reading tags out of its layers (:func:`~gridmap.osm.read.read_tag`);
- :mod:`gridmap.osm.roads` -- walkable ways (:func:`walkable_ways`), split at
  shared nodes (:func:`split_at_shared_vertices`), their connected pieces
  (:func:`network_components`): :func:`roads_from_osm`;
- :mod:`gridmap.osm.buildings` -- footprints with a use, floors and ESTIMATED
  households and residents (:class:`EstimateFactors`): :func:`buildings_from_osm`;
- :mod:`gridmap.osm.facilities` -- POIs matched to facility types, a school's
  level (:func:`school_type`): :func:`facilities_from_osm`;
- :mod:`gridmap.osm.convert` -- the pure conversion of a read extract into
  store layers (:func:`convert_osm`, :class:`OsmImport`, :class:`ImportReport`),
  placing buildings in the store's grids or in generated ones.

Outside this package: the SYNTHETIC hierarchy generated over an extract is
:mod:`gridmap.hierarchy.synthetic` (:func:`build_hierarchy`), building
numbering is :mod:`gridmap.hierarchy` (:func:`building_codes`), and reading,
converting and writing into a store in one transaction is
:func:`gridmap.services.osm.import_osm`, which ``gridmap import-osm`` calls.
Nothing here opens a store.
"""

from __future__ import annotations

from gridmap.hierarchy import building_codes
from gridmap.hierarchy.synthetic import DEFAULT_DISTRICT_CODE, build_hierarchy
from gridmap.osm.buildings import EstimateFactors, buildings_from_osm
from gridmap.osm.convert import (
    LICENCE,
    STAGES,
    ImportReport,
    OsmImport,
    convert_osm,
    place_in_grids,
)
from gridmap.osm.facilities import facilities_from_osm, school_type
from gridmap.osm.read import read_osm
from gridmap.osm.roads import (
    network_components,
    roads_from_osm,
    split_at_shared_vertices,
    walkable_ways,
)
from gridmap.osm.tags import (
    BUILDING_USE_BY_TAG,
    FACILITY_RULES,
    NOT_BUILDINGS,
    NOT_WALKABLE_HIGHWAYS,
    SIDEWALK_HIGHWAYS,
    WALKABLE_HIGHWAYS,
    FacilityRule,
)

__all__ = [
    "WALKABLE_HIGHWAYS",
    "SIDEWALK_HIGHWAYS",
    "NOT_WALKABLE_HIGHWAYS",
    "BUILDING_USE_BY_TAG",
    "NOT_BUILDINGS",
    "FACILITY_RULES",
    "DEFAULT_DISTRICT_CODE",
    "LICENCE",
    "STAGES",
    "EstimateFactors",
    "FacilityRule",
    "ImportReport",
    "OsmImport",
    "read_osm",
    "walkable_ways",
    "split_at_shared_vertices",
    "roads_from_osm",
    "network_components",
    "buildings_from_osm",
    "school_type",
    "facilities_from_osm",
    "build_hierarchy",
    "place_in_grids",
    "building_codes",
    "convert_osm",
]
