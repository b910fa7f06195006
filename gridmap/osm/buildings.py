"""Buildings: footprints of an extract with a use, floors and ESTIMATED residents.

Every area of the ``multipolygons`` layer with a ``building`` tag (other than
``no``) is a building. Its use comes from
:data:`~gridmap.osm.tags.BUILDING_USE_BY_TAG` (:func:`building_use`):

- ``residential`` ← apartments, residential, house, detached, semidetached_house,
  terrace, dormitory, bungalow, farm
- ``commercial`` ← retail, commercial, office, supermarket, kiosk, hotel
- ``public`` ← school, university, college, hospital, kindergarten, public, civic,
  government, church, chapel, cathedral, mosque, temple, synagogue, religious,
  museum, train_station, transportation, fire_station, sports_hall, pavilion
- ``industrial`` ← industrial, warehouse, manufacture, factory, utility, service,
  hangar, greenhouse, glasshouse
- ``yes`` and any other value: decided by the area's other tags, below

For ``yes`` (or an unlisted value): a ``shop`` tag (or a shop-like amenity:
restaurant, cafe, bank …) and ``building:levels`` ≥ 3 make it ``mixed``
(shops on the ground floor, flats above; this also applies to the residential
values); a ``shop`` or ``office`` tag otherwise ``commercial``; a public
amenity (school, hospital, townhall, library …) ``public``; anything else
``residential``. Structures nobody lives or works in
(:data:`~gridmap.osm.tags.NOT_BUILDINGS`: roof, carport, shed, hut, ruins,
entrances …) and footprints under 20 m² (sheds, kiosks' roofs) are skipped and
counted.

``floors`` is ``building:levels`` (rounded, at least 1), by default 2 for a
residential building and 1 otherwise. Households and residents are estimated
with :class:`EstimateFactors` (configurable; these are assumptions, not
statistics)::

    households = round(footprint m² × residential floors × 0.8 / 90 m²)   (at least 1)
    population = round(households × 2.1)
    elderly    = round(population × 18 %)      residents 60+
    children   = round(population × 5 %)       residents 0-6

Residential floors are all floors of a residential building, all but the
ground floor of a mixed one, none otherwise. ``building:flats``, when tagged,
is the household count instead. Every imported building has
``estimated = True``: OpenStreetMap holds no residents.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridmap.crs import STORAGE_CRS, project, utm_crs_of
from gridmap.geometry import as_multipolygons
from gridmap.osm.read import area_refs, as_object_array, read_tag
from gridmap.osm.tags import BUILDING_USE_BY_TAG, NOT_BUILDINGS, PUBLIC_AMENITIES, SHOP_AMENITIES

__all__ = ["EstimateFactors", "building_use", "buildings_from_osm"]


@dataclass(frozen=True)
class EstimateFactors:
    """Assumptions by which households and residents are estimated.

    Defaults are typical of Chinese urban housing; none is a statistic of a
    real place. Change them for the city at hand.

    Parameters
    ----------
    usable_share
        Share of gross floor area that is dwellings (walls, stairs and lifts
        take the rest).
    dwelling_m2
        Gross floor area of one dwelling (m²).
    persons_per_household
        Residents per household.
    elderly_share
        Share of residents aged 60 and over.
    children_share
        Share of residents aged 0-6.
    residential_floors
        Floors of a residential building without ``building:levels``.
    other_floors
        Floors of any other building without ``building:levels``.
    min_footprint_m2
        Footprints smaller than this are sheds: skipped.
    """

    usable_share: float = 0.8
    dwelling_m2: float = 90.0
    persons_per_household: float = 2.1
    elderly_share: float = 0.18
    children_share: float = 0.05
    residential_floors: int = 2
    other_floors: int = 1
    min_footprint_m2: float = 20.0


def _levels(text: np.ndarray) -> np.ndarray:
    """Floors from ``building:levels`` text (``4``, ``2.5``, ``3;5``), NaN when unusable."""
    out = np.full(len(text), np.nan)
    for i, value in enumerate(text):
        if value is None:
            continue
        m = re.match(r"\s*(\d+(?:[.,]\d+)?)", value)
        if m:
            floors = math.floor(float(m.group(1).replace(",", ".")) + 0.5)
            if 1 <= floors <= 200:
                out[i] = floors
    return out


def building_use(value: str, shop: bool, office: bool, amenity: str | None, floors: float) -> str:
    """The use of one building from its ``building`` value and other tags.

    Parameters
    ----------
    value
        The ``building`` tag's value (``yes``, ``apartments`` …).
    shop, office
        Whether the area has a ``shop`` or ``office`` tag.
    amenity
        Its ``amenity`` tag, if any.
    floors
        Its ``building:levels`` as a number (NaN when not tagged).

    Returns
    -------
    str
        ``residential``, ``commercial``, ``public``, ``industrial`` or ``mixed``,
        by the rules of the module's documentation.
    """
    use = BUILDING_USE_BY_TAG.get(value)
    shoplike = shop or amenity in SHOP_AMENITIES
    if (use is None or use == "residential") and shoplike and floors >= 3:
        return "mixed"  # shops on the ground floor, flats above
    if use is not None:
        return use
    if shop or office:
        return "commercial"
    if amenity in PUBLIC_AMENITIES:
        return "public"
    return "residential"


def buildings_from_osm(
    multipolygons: gpd.GeoDataFrame,
    factors: EstimateFactors | None = None,
    *,
    crs: CRS | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, object]]:
    """Buildings with use, floors and estimated households and residents.

    Parameters
    ----------
    multipolygons
        The OSM driver's ``multipolygons`` layer.
    factors
        The estimate's assumptions (default :class:`EstimateFactors`).
    crs
        The metric CRS footprints are measured in (default: the data's UTM zone).

    Returns
    -------
    buildings : geopandas.GeoDataFrame
        ``osm`` (``way 123`` / ``relation 45``, for messages), ``use``,
        ``floors``, ``households``, ``population``, ``elderly``, ``children``,
        ``estimated`` and the footprint (MultiPolygon, EPSG:4326); no codes yet.
    stats : dict
        ``small`` (skipped footprints under the minimum), ``structures`` (a
        Counter of skipped ``building`` values), ``incomplete`` (areas the
        extract holds only part of).
    """
    factors = factors or EstimateFactors()
    building = read_tag(multipolygons, "building")
    has = (building.notna() & (building != "no")).to_numpy()
    frame = multipolygons[has]
    value = as_object_array(building[has])
    geoms = as_multipolygons(frame.geometry.to_numpy())
    present = np.array([g is not None for g in geoms], dtype=bool)
    structure = np.isin(value, list(NOT_BUILDINGS))
    structures = Counter(value[structure & present].tolist())
    crs = crs or utm_crs_of(geoms[present])
    area = np.zeros(len(geoms))
    area[present] = shapely.area(project(geoms[present], STORAGE_CRS, crs))
    small = present & ~structure & (area < factors.min_footprint_m2)
    keep = present & ~structure & ~small

    frame, value, geoms, area = frame[keep], value[keep], geoms[keep], area[keep]
    levels = _levels(as_object_array(read_tag(frame, "building:levels")))
    shop = read_tag(frame, "shop").notna().to_numpy()
    office = read_tag(frame, "office").notna().to_numpy()
    amenity = as_object_array(read_tag(frame, "amenity"))
    uses = np.array(
        [
            building_use(value[i], shop[i], office[i], amenity[i], levels[i])
            for i in range(len(frame))
        ],
        dtype=object,
    )
    default = np.where(uses == "residential", factors.residential_floors, factors.other_floors)
    floors = np.where(np.isnan(levels), default, levels).astype(np.int64)
    living = np.select([uses == "residential", uses == "mixed"], [floors, floors - 1], 0)
    estimate = np.rint(area * living * factors.usable_share / factors.dwelling_m2)
    # A residential building has at least one dwelling, however small.
    estimate = np.where(living > 0, np.maximum(estimate, 1), 0)
    flats = pd.to_numeric(read_tag(frame, "building:flats"), errors="coerce").to_numpy(dtype=float)
    counted = np.isfinite(flats) & (flats >= 0)
    households = np.where(counted, np.rint(flats), estimate).astype(np.int64)
    population = np.rint(households * factors.persons_per_household).astype(np.int64)
    buildings = gpd.GeoDataFrame(
        {
            "osm": [f"{kind} {ref}" for kind, ref in area_refs(frame)],
            "use": uses,
            "floors": floors,
            "households": households,
            "population": population,
            "elderly": np.rint(population * factors.elderly_share).astype(np.int64),
            "children": np.rint(population * factors.children_share).astype(np.int64),
            "estimated": np.ones(len(frame), dtype=bool),
        },
        geometry=geoms,
        crs=STORAGE_CRS,
    )
    stats = {
        "small": int(small.sum()),
        "structures": structures,
        "incomplete": int((~present).sum()),
        "counted_households": int(counted.sum()),
    }
    return buildings, stats
