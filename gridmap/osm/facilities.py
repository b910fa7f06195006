"""Facilities: the POIs of an extract that are one of the schema's facility types.

Points of the ``points`` layer, and areas of the ``multipolygons`` layer (as
a point inside them), whose tags match a rule of
:data:`~gridmap.osm.tags.FACILITY_RULES` (the first match decides,
:func:`match_rules`):

- ``clinic`` ← amenity=clinic|doctors; healthcare=clinic|doctor
- ``health_centre`` ← amenity=hospital; healthcare=hospital
- ``kindergarten`` ← amenity=kindergarten|childcare
- ``primary_school`` or ``middle_school`` ← amenity=school (level below)
- ``bus_stop`` ← highway=bus_stop; public_transport=platform with bus=yes
- ``fresh_market`` ← amenity=marketplace; shop=supermarket|greengrocer
- ``nursing_home`` ← amenity=social_facility with
  social_facility=nursing_home|assisted_living; amenity=nursing_home
- ``elderly_daycare`` ← amenity=social_facility with
  social_facility=day_care|outreach and social_facility:for=senior
- ``police_station`` ← amenity=police
- ``service_station`` ← amenity=community_centre
- ``subdistrict_centre`` ← amenity=townhall
- ``judicial_office`` ← amenity=courthouse; office=government with
  government=legal|prosecutor

A school's level (:func:`school_type`): ``isced:level`` (containing 1 →
primary, else 2 or 3 → middle), then ``school:type``, then words in its name
(小学, primary, elementary, ala-aste → primary; 初中, 中学, secondary, middle,
yläaste, lukio → middle); a school that says nothing is a ``primary_school``,
and one covering both levels too. Ids are ``osm_n{node id}`` for points,
``osm_a{way id}`` and ``osm_r{relation id}`` for areas. An area whose point
of the same type is mapped inside it is counted once (the point is kept).
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.crs import STORAGE_CRS
from gridmap.osm.read import area_refs, as_object_array, read_tag
from gridmap.osm.tags import FACILITY_RULES, MIDDLE_WORDS, PRIMARY_WORDS

__all__ = ["school_type", "match_rules", "facilities_from_osm"]


def school_type(isced_level: str | None, school_kind: str | None, name: str | None) -> str:
    """``primary_school`` or ``middle_school`` for an ``amenity=school``.

    Parameters
    ----------
    isced_level
        The ``isced:level`` tag (``1``, ``2``, ``1;2``, ``2-3`` …): a level 1
        makes it primary, otherwise 2 or 3 middle.
    school_kind
        The ``school:type`` tag, read for the same words as the name.
    name
        The ``name`` tag; words such as 小学/primary/ala-aste (primary) or
        初中/中学/secondary/yläaste/lukio (middle) decide.

    Returns
    -------
    str
        The facility type; ``primary_school`` when nothing says (and for a
        school covering both levels, which serves the 10-minute circle).
    """
    if isced_level:
        levels = set(re.findall(r"\d", isced_level))
        if "1" in levels:
            return "primary_school"
        if levels & {"2", "3"}:
            return "middle_school"
    for text in (school_kind, name):
        lowered = (text or "").lower()
        if any(w in lowered for w in PRIMARY_WORDS):
            return "primary_school"
        if any(w in lowered for w in MIDDLE_WORDS):
            return "middle_school"
    return "primary_school"


# The rule whose rows school_type gives a level to.
_SCHOOL_RULE = next(r for r in FACILITY_RULES if r.tags == (("amenity", ("school",)),))


def match_rules(frame: pd.DataFrame) -> np.ndarray:
    """The facility type of each row by :data:`~gridmap.osm.tags.FACILITY_RULES`.

    Parameters
    ----------
    frame
        A layer of :func:`~gridmap.osm.read.read_osm` (``points`` or ``multipolygons``).

    Returns
    -------
    numpy.ndarray
        A facility type per row (``amenity=school`` given its level by
        :func:`school_type`), ``None`` where no rule matches.
    """
    keys = sorted({k for rule in FACILITY_RULES for k, _ in rule.tags})
    tags = {k: read_tag(frame, k) for k in keys}
    types = np.full(len(frame), None, dtype=object)
    for rule in FACILITY_RULES:
        hit = np.ones(len(frame), dtype=bool)
        for key, allowed in rule.tags:
            hit &= tags[key].isin(allowed).to_numpy()
        hit &= pd.isna(types)
        if rule is _SCHOOL_RULE and hit.any():
            sub = frame[hit]
            types[hit] = [
                school_type(*row)
                for row in zip(
                    as_object_array(read_tag(sub, "isced:level")),
                    as_object_array(read_tag(sub, "school:type")),
                    as_object_array(read_tag(sub, "name")),
                    strict=True,
                )
            ]
        else:
            types[hit] = rule.type
    return types


def facilities_from_osm(
    points: gpd.GeoDataFrame, multipolygons: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, dict[str, object]]:
    """Facilities from POIs: tagged points, and tagged areas as a point inside them.

    Parameters
    ----------
    points
        The OSM driver's ``points`` layer.
    multipolygons
        Its ``multipolygons`` layer.

    Returns
    -------
    facilities : geopandas.GeoDataFrame
        ``id`` (``osm_n…``, ``osm_a…``, ``osm_r…``), ``type``, ``name`` and the point.
    stats : dict
        ``duplicates``: areas left out because a point of the same type is
        mapped inside them.
    """
    pt_type = match_rules(points)
    hit = pd.notna(pt_type)
    pts = points[hit]
    node_fac = gpd.GeoDataFrame(
        {
            "id": ("osm_n" + pts["osm_id"].astype(str)).to_numpy(dtype=object),
            "type": pt_type[hit],
            "name": as_object_array(read_tag(pts, "name")),
        },
        geometry=pts.geometry.to_numpy(),
        crs=STORAGE_CRS,
    )
    area_type = match_rules(multipolygons)
    hit = pd.notna(area_type) & ~multipolygons.geometry.isna().to_numpy()
    areas = multipolygons[hit]
    ids = [f"osm_a{ref}" if kind == "way" else f"osm_r{ref}" for kind, ref in area_refs(areas)]
    polygons = shapely.make_valid(areas.geometry.to_numpy())
    area_fac = gpd.GeoDataFrame(
        {
            "id": np.array(ids, dtype=object),
            "type": area_type[hit],
            "name": as_object_array(read_tag(areas, "name")),
        },
        geometry=shapely.point_on_surface(polygons),
        crs=STORAGE_CRS,
    )
    # An area whose own POI is also mapped as a point inside it is one facility.
    duplicate = np.zeros(len(area_fac), dtype=bool)
    if len(area_fac) and len(node_fac):
        tree = shapely.STRtree(node_fac.geometry.to_numpy())
        a, p = tree.query(polygons, predicate="covers")
        same = area_fac["type"].to_numpy()[a] == node_fac["type"].to_numpy()[p]
        duplicate[a[same]] = True
    facilities = pd.concat([node_fac, area_fac[~duplicate]], ignore_index=True)
    facilities = gpd.GeoDataFrame(facilities, geometry="geometry", crs=STORAGE_CRS)
    return facilities.sort_values("id", ignore_index=True), {"duplicates": int(duplicate.sum())}
