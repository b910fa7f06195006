"""Import an OpenStreetMap extract (``.osm.pbf``): walkable roads, buildings, facilities.

:func:`read_osm` reads the file (GDAL's OSM driver, through pyogrio) into raw
GeoDataFrames; everything after it is pure functions on GeoDataFrames:
:func:`roads_from_osm`, :func:`buildings_from_osm`, :func:`facilities_from_osm`,
:func:`build_hierarchy` / :func:`place_in_grids` and :func:`building_codes`,
tied together by :func:`convert_osm`. :func:`import_osm` is the edge the
``gridmap import-osm`` command calls: read, convert, write in one transaction.

Walkable ways → ``roads``
-------------------------
From the ``lines`` layer, a way with a ``highway`` tag is kept when its value is
in :data:`WALKABLE_HIGHWAYS` (the road ``kind`` is the value it maps to, one of
:data:`gridmap.schema.ROAD_KINDS`), or in :data:`SIDEWALK_HIGHWAYS` and it has a
sidewalk (``sidewalk[:both|:left|:right]`` = ``both|left|right|yes``) or
``foot=yes|designated|permissive|official``. Every other value is dropped, among them
:data:`NOT_WALKABLE_HIGHWAYS` (motorways, bus guideways, raceways, ways under
construction or proposed) and values not in any table. A kept way is still
dropped when ``foot`` is ``no|use_sidepath|private``, or ``access`` is
``private|no`` without ``foot=yes|designated|permissive|official``.

- ``footway`` ← footway, corridor, platform, elevator
- ``path`` ← path, cycleway, bridleway, trail
- the same kind ← pedestrian, steps, living_street, residential, service, track,
  unclassified
- ``unclassified`` ← road (classification unknown)
- ``tertiary`` ← tertiary, tertiary_link; ``secondary`` ← secondary,
  secondary_link; ``primary`` ← primary, primary_link
- ``primary`` ← trunk, trunk_link, only with a sidewalk or foot=yes

Kept ways are split at shared nodes (:func:`split_at_shared_vertices`): every
junction becomes an end of the roads meeting there, while ways crossing
without a shared node (a bridge over a street) stay whole. A road's id is
``osm_w{way id}_{part}``, its ``name`` the ``name`` tag.

Buildings
---------
Every area of the ``multipolygons`` layer with a ``building`` tag (other than
``no``). Its use comes from :data:`BUILDING_USE_BY_TAG`:

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
(:data:`NOT_BUILDINGS`: roof, carport, shed, hut, ruins, entrances …) and
footprints under 20 m² (sheds, kiosks' roofs) are skipped and counted.

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

POIs → ``facilities``
---------------------
Points of the ``points`` layer, and areas of the ``multipolygons`` layer (as
a point inside them), whose tags match a rule of :data:`FACILITY_RULES` (the
first match decides):

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

Hierarchy
---------
An extract has no 区/街道/社区/网格. When the store has no district,
:func:`build_hierarchy` generates one, all SYNTHETIC:

- district ``--district-code`` (default ``990101``, outside the real adcodes),
  named ``--name`` (default: the file's stem): the convex hull of all imported
  data, buffered by 100 m; one subdistrict (code + ``001``) covering it;
- square grids of ``--grid-size`` metres (default 500) on a metric lattice
  (the data's UTM zone) clipped to the district; a clipped cell smaller than a
  quarter of a full one is merged into the neighbour (in the same community)
  it shares the longest edge with;
- one community (subdistrict + ``001``) when there are at most 99 grids, the
  most a two-digit grid serial allows; otherwise one community per block of
  9 × 9 lattice cells (≤ 81 grids each), numbered 001, 002 … by block row from
  the north, then west to east;
- grids numbered by :func:`gridmap.hierarchy.grid_serials`;
- every building goes to the grid holding its centroid. The grids then give
  way to their buildings: a building reaching into a neighbouring cell takes
  that piece with it (buildings that overlap go together, to the grid of the
  largest), so each building lies inside its grid and the grids still tile.

When the store already has a hierarchy it is kept (``--name``,
``--district-code`` and ``--grid-size`` are then unused): each building goes to
the existing grid holding its centroid, and buildings outside every grid are
refused (:func:`place_in_grids`). Existing grids are not reshaped: a building
reaching out of its grid is reported, and ``gridmap validate`` lists it.

Without ``--replace`` roads, buildings and facilities are added, and an extract
whose OSM ids the store already holds is refused; with it those three layers
are replaced (the hierarchy is kept, building serials start again at 001).

Building codes are the grid's code and a 3-digit serial, numbered west→east,
north→south by the rule of :func:`gridmap.hierarchy.grid_serials` (bands of
height √(grid area / buildings) from the grid's northern edge), continuing
after the grid's existing buildings (:func:`building_codes`).
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from gridmap.codes import check_code, make_code
from gridmap.crs import STORAGE_CRS, utm_crs
from gridmap.errors import CodeError, InputError
from gridmap.schema import FACILITY_TYPES, ROAD_KINDS

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
    "import_osm",
]

#: ``highway`` values people walk along → road ``kind`` (one of ``ROAD_KINDS``).
WALKABLE_HIGHWAYS: dict[str, str] = {
    "footway": "footway",
    "corridor": "footway",  # indoor passages
    "platform": "footway",  # public-transport platforms mapped as ways
    "elevator": "footway",
    "path": "path",
    "cycleway": "path",  # walkable unless foot=no (checked separately)
    "bridleway": "path",
    "trail": "path",
    "pedestrian": "pedestrian",
    "steps": "steps",
    "living_street": "living_street",
    "residential": "residential",
    "service": "service",
    "track": "track",
    "unclassified": "unclassified",
    "road": "unclassified",
    "tertiary": "tertiary",
    "tertiary_link": "tertiary",
    "secondary": "secondary",
    "secondary_link": "secondary",
    "primary": "primary",
    "primary_link": "primary",
}


def _words(text: str) -> tuple[str, ...]:
    """The words of a text: tag values written as a sentence, to keep tables short."""
    return tuple(text.split())


#: ``highway`` values walkable only with a sidewalk (or an explicit foot=yes) → kind.
SIDEWALK_HIGHWAYS: dict[str, str] = {"trunk": "primary", "trunk_link": "primary"}

#: ``highway`` values never walked along (values in no table are dropped too).
NOT_WALKABLE_HIGHWAYS: frozenset[str] = frozenset(
    _words(
        "motorway motorway_link bus_guideway busway raceway construction proposed planned "
        "abandoned disused razed escape via_ferrata"
    )
)

_FOOT_YES = ("yes", "designated", "permissive", "official")
_FOOT_NO = ("no", "use_sidepath", "private")
_ACCESS_NO = ("private", "no")
_SIDEWALK_YES = ("both", "left", "right", "yes")

#: ``building`` values → building use (``yes`` and other values: see the module doc).
BUILDING_USE_BY_TAG: dict[str, str] = {
    **dict.fromkeys(
        _words(
            "apartments residential house detached semidetached_house terrace dormitory bungalow "
            "farm"
        ),
        "residential",
    ),
    **dict.fromkeys(_words("retail commercial office supermarket kiosk hotel"), "commercial"),
    **dict.fromkeys(
        _words(
            "school university college hospital kindergarten public civic government church chapel "
            "cathedral mosque temple synagogue religious museum train_station transportation "
            "fire_station sports_hall pavilion"
        ),
        "public",
    ),
    **dict.fromkeys(
        _words(
            "industrial warehouse manufacture factory utility service hangar greenhouse glasshouse"
        ),
        "industrial",
    ),
}

#: ``building`` values of structures nobody lives or works in: skipped.
NOT_BUILDINGS: frozenset[str] = frozenset(
    _words(
        "no roof carport shed hut tent container ruins construction proposed demolished destroyed "
        "entrance underpass_entrance bridge ship"
    )
)

# Amenities on a building that make a "building=yes" public, or (shop-like) mixed.
_PUBLIC_AMENITIES = frozenset(
    _words(
        "school university college kindergarten hospital clinic townhall courthouse library police "
        "fire_station community_centre social_facility place_of_worship theatre arts_centre "
        "marketplace"
    )
)
_SHOP_AMENITIES = frozenset(_words("restaurant cafe fast_food bar pub bank pharmacy food_court"))


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


@dataclass(frozen=True)
class FacilityRule:
    """Tags that make an OSM feature a facility of one type.

    Parameters
    ----------
    type
        The facility type (one of :data:`gridmap.schema.FACILITY_TYPES`).
    tags
        ``(key, allowed values)`` pairs: every pair must match.
    """

    type: str
    tags: tuple[tuple[str, tuple[str, ...]], ...]

    def __str__(self) -> str:
        return " + ".join(f"{k}={'|'.join(v)}" for k, v in self.tags) + f" → {self.type}"


def _rule(type_: str, **tags: str) -> FacilityRule:
    # Keyword names cannot hold ":"; "__" stands for it (social_facility__for).
    return FacilityRule(
        type_, tuple((k.replace("__", ":"), tuple(v.split("|"))) for k, v in tags.items())
    )


#: OSM tags → facility type; the first matching rule decides. ``amenity=school``
#: rows are then given their level by :func:`school_type`.
FACILITY_RULES: tuple[FacilityRule, ...] = (
    _rule("clinic", amenity="clinic|doctors"),
    _rule("clinic", healthcare="clinic|doctor"),
    _rule("health_centre", amenity="hospital"),
    _rule("health_centre", healthcare="hospital"),
    _rule("kindergarten", amenity="kindergarten|childcare"),
    _rule("primary_school", amenity="school"),
    _rule("bus_stop", highway="bus_stop"),
    _rule("bus_stop", public_transport="platform", bus="yes"),
    _rule("fresh_market", amenity="marketplace"),
    _rule("fresh_market", shop="supermarket|greengrocer"),
    _rule(
        "nursing_home",
        amenity="social_facility",
        social_facility="nursing_home|assisted_living",
    ),
    _rule(
        "elderly_daycare",
        amenity="social_facility",
        social_facility="day_care|outreach",
        social_facility__for="senior",
    ),
    _rule("nursing_home", amenity="nursing_home"),
    _rule("police_station", amenity="police"),
    _rule("service_station", amenity="community_centre"),
    _rule("subdistrict_centre", amenity="townhall"),
    _rule("judicial_office", amenity="courthouse"),
    _rule("judicial_office", office="government", government="legal|prosecutor"),
)

# The tables must only produce values the schema allows.
assert set(WALKABLE_HIGHWAYS.values()) | set(SIDEWALK_HIGHWAYS.values()) <= set(ROAD_KINDS)
assert {r.type for r in FACILITY_RULES} | {"middle_school"} <= set(FACILITY_TYPES)

# Words in a school's name that give its level (lower case; checked in this order).
_PRIMARY_WORDS = ("小学", "primary", "elementary", "ala-aste", "alakoulu", "grundskola")
_MIDDLE_WORDS = (
    *("初中", "中学", "secondary", "middle", "junior high", "high school"),
    *("yläaste", "yläkoulu", "lukio", "gymnasium"),
)

#: A district code outside China's real adcodes (no province 99), so a
#: generated district cannot be mistaken for a real one.
DEFAULT_DISTRICT_CODE = "990101"

#: Licence of OpenStreetMap data.
LICENCE = "ODbL 1.0 (© OpenStreetMap contributors)"

#: The stages :func:`import_osm` reports to its ``progress`` callback, in order.
STAGES: tuple[str, ...] = ("read", "roads", "buildings", "facilities", "hierarchy", "write")

_OSM_LAYERS = ("points", "lines", "multipolygons")
_MAX_GRIDS = 99  # a grid serial has two digits
_BLOCK = 9  # lattice cells per community side when a community would exceed 99 grids
_SLIVER_SHARE = 0.25  # clipped cells smaller than this share of a full cell are merged
_MARGIN_M = 100.0  # the generated district reaches this far beyond the data


# -- reading ----------------------------------------------------------------------


def read_osm(path: str | Path) -> dict[str, gpd.GeoDataFrame]:
    """Read an OpenStreetMap extract with GDAL's OSM driver.

    Parameters
    ----------
    path
        An ``.osm.pbf`` (or ``.osm`` XML) file.

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        The ``points``, ``lines`` and ``multipolygons`` layers as the driver
        gives them: a few tags as columns, the rest in ``other_tags``
        (``"k"=>"v","k2"=>"v2"``). Areas the extract holds only part of come
        with an empty geometry.

    Raises
    ------
    gridmap.errors.InputError
        If the file is missing or is not an OpenStreetMap file.
    """
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    path = Path(path)
    if not path.is_file():
        raise InputError(
            "the file does not exist", file=str(path), hint="give the path of an .osm.pbf file"
        )
    try:
        driver = pyogrio.read_info(path, layer="points")["driver"]
    except (DataSourceError, DataLayerError) as exc:
        raise InputError(
            f"not an OpenStreetMap file ({_reason(exc)})",
            file=str(path),
            hint="give an .osm.pbf extract, e.g. from download.geofabrik.de",
        ) from None
    if driver != "OSM":
        raise InputError(
            f"not an OpenStreetMap file (GDAL reads it as {driver})",
            file=str(path),
            hint="give an .osm.pbf extract; use `gridmap import` for other formats",
        )
    out = {}
    with warnings.catch_warnings():
        # The edge of an extract cuts areas: GDAL warns of each unclosed ring.
        # Such areas come back empty (on_invalid="ignore") and are counted.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            for name in _OSM_LAYERS:
                out[name] = pyogrio.read_dataframe(path, layer=name, on_invalid="ignore")
        except (DataSourceError, DataLayerError) as exc:
            raise InputError(
                f"cannot read the {name} layer of the extract ({_reason(exc)})",
                file=str(path),
                hint="the file may be truncated: download it again",
            ) from None
    return out


def _reason(exc: BaseException) -> str:
    """GDAL's complaint in a few words, without the path it repeats."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "not recognized as being in a supported file format" in text:
        return "GDAL does not recognise its format"
    if "could not be opened" in text:
        return "it has no OSM layers"
    return text.split("; ")[0]


_VALUE = r'"((?:[^"\\]|\\.)*)"'


def _tag(frame: pd.DataFrame, key: str) -> pd.Series:
    """The value of tag ``key`` in each row, missing as NA.

    The OSM driver puts a few keys in columns of their own and every other tag
    in ``other_tags``; this looks in whichever holds the key.
    """
    if key in frame.columns and key != "other_tags":
        return frame[key].astype("str")
    if "other_tags" not in frame.columns or frame.empty:
        return pd.Series(pd.NA, index=frame.index, dtype="str")
    pattern = r'(?:^|,)"' + re.escape(key) + r'"=>' + _VALUE
    values = frame["other_tags"].astype("str").str.extract(pattern, expand=False)
    # The driver escapes quotes and backslashes inside values.
    return values.str.replace(r"\\(.)", r"\1", regex=True).astype("str")


def _values(series: pd.Series) -> np.ndarray:
    """A text series as an object array with ``None`` for missing values."""
    return series.astype(object).where(series.notna(), None).to_numpy(dtype=object)


# -- roads --------------------------------------------------------------------------


def walkable_ways(lines: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, Counter[str]]:
    """The ways of the ``lines`` layer people can walk along.

    Parameters
    ----------
    lines
        The OSM driver's ``lines`` layer (``osm_id``, ``name``, ``highway``,
        ``other_tags``, geometry).

    Returns
    -------
    ways : geopandas.GeoDataFrame
        ``osm_id``, ``kind`` (a road kind), ``name`` and the line.
    dropped : collections.Counter
        Ways with a ``highway`` tag that were dropped, by reason
        (``highway=motorway``, ``foot=no``, ``access=private`` …).
    """
    highway = _tag(lines, "highway")
    has = highway.notna().to_numpy() & ~lines.geometry.isna().to_numpy()
    frame = lines[has]
    hw = _values(highway[has])
    foot = _values(_tag(frame, "foot"))
    access = _values(_tag(frame, "access"))
    sidewalk = np.zeros(len(frame), dtype=bool)
    for key in ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right"):
        sidewalk |= _tag(frame, key).isin(_SIDEWALK_YES).to_numpy()

    kinds = np.empty(len(frame), dtype=object)
    dropped: Counter[str] = Counter()
    for i, value in enumerate(hw):
        foot_yes = foot[i] in _FOOT_YES
        if value in WALKABLE_HIGHWAYS:
            kind = WALKABLE_HIGHWAYS[value]
        elif value in SIDEWALK_HIGHWAYS and (sidewalk[i] or foot_yes):
            kind = SIDEWALK_HIGHWAYS[value]
        elif value in SIDEWALK_HIGHWAYS:
            dropped[f"highway={value} without sidewalk"] += 1
            continue
        else:
            dropped[f"highway={value}"] += 1
            continue
        if foot[i] in _FOOT_NO:
            dropped[f"foot={foot[i]}"] += 1
        elif access[i] in _ACCESS_NO and not foot_yes:
            dropped[f"access={access[i]}"] += 1
        else:
            kinds[i] = kind
    keep = np.array([k is not None for k in kinds], dtype=bool)
    ways = gpd.GeoDataFrame(
        {
            "osm_id": frame["osm_id"].astype("str").to_numpy()[keep],
            "kind": kinds[keep],
            "name": _values(_tag(frame, "name"))[keep],
        },
        geometry=frame.geometry.to_numpy()[keep],
        crs=lines.crs,
    )
    return ways, dropped


def split_at_shared_vertices(ways: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Split ways at every vertex they share, so roads meet only at their ends.

    OSM routes meet at shared nodes; a vertex whose coordinate is used by two or
    more ways (or twice by one way, other than a ring's closing vertex) is a
    junction, and each way through it is cut there. Ways that cross without a
    shared vertex (a bridge over a street) are not cut: they do not meet.

    Parameters
    ----------
    ways
        LineStrings with an ``osm_id`` column (and any others, kept).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per piece: the way's columns, ``part`` (0, 1, … along the way)
        and the piece's line. Zero-length pieces are left out.
    """
    if ways.empty:
        out = ways.copy()
        out["part"] = pd.Series([], dtype="int64")
        return out
    geoms = ways.geometry.to_numpy()
    coords, way = shapely.get_coordinates(geoms, return_index=True)
    n = len(coords)
    first = np.ones(n, dtype=bool)
    first[1:] = way[1:] != way[:-1]
    last = np.ones(n, dtype=bool)
    last[:-1] = way[1:] != way[:-1]
    starts, ends = np.flatnonzero(first), np.flatnonzero(last)
    closed = (coords[starts] == coords[ends]).all(axis=1)
    closing = np.zeros(n, dtype=bool)
    closing[ends[closed]] = True
    # Exact equality is right: two ways through one OSM node carry the very
    # same coordinate; two nodes that merely lie close are not a junction.
    _, inverse = np.unique(coords, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    uses = np.bincount(inverse[~closing], minlength=inverse.max() + 1)
    cut = (uses[inverse] >= 2) & ~first & ~last
    # Each cut vertex ends one piece and starts the next: write it twice.
    repeat = 1 + cut.astype(np.int64)
    new_coords = np.repeat(coords, repeat, axis=0)
    new_way = np.repeat(way, repeat)
    at = np.cumsum(repeat) - repeat
    starts_piece = np.zeros(len(new_coords), dtype=bool)
    starts_piece[at[first]] = True
    starts_piece[at[cut] + 1] = True
    piece = np.cumsum(starts_piece) - 1
    lines = shapely.linestrings(new_coords, indices=piece)
    piece_way = new_way[starts_piece]
    keep = shapely.length(lines) > 0
    lines, piece_way = lines[keep], piece_way[keep]
    out = ways.drop(columns=ways.geometry.name).iloc[piece_way].reset_index(drop=True)
    out["part"] = pd.Series(piece_way).groupby(piece_way).cumcount().to_numpy()
    return gpd.GeoDataFrame(out, geometry=lines, crs=ways.crs)


def network_components(roads: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    """The connected piece of the network each road belongs to.

    Roads are connected when they share an end (roads from
    :func:`split_at_shared_vertices` meet only at their ends).

    Parameters
    ----------
    roads
        LineStrings.

    Returns
    -------
    numpy.ndarray
        A component label per road, 0 for the component with the most road length,
        then 1, 2 … by decreasing length.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    geoms = np.asarray(roads.geometry if isinstance(roads, gpd.GeoDataFrame) else roads)
    if not len(geoms):
        return np.zeros(0, dtype=np.int64)
    ends = np.vstack(
        [
            shapely.get_coordinates(shapely.get_point(geoms, 0)),
            shapely.get_coordinates(shapely.get_point(geoms, -1)),
        ]
    )
    _, node = np.unique(ends, axis=0, return_inverse=True)
    node = node.ravel()
    m = len(geoms)
    n_nodes = int(node.max()) + 1
    graph = coo_matrix((np.ones(m), (node[:m], node[m:])), shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    road_label = labels[node[:m]]
    # Relabel by length so that 0 is the main network (lengths in degrees
    # rank the same as in metres within an extract).
    length = np.bincount(road_label, weights=shapely.length(geoms))
    rank = np.empty(len(length), dtype=np.int64)
    rank[np.argsort(-length, kind="stable")] = np.arange(len(length))
    return rank[road_label]


def roads_from_osm(lines: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, dict[str, object]]:
    """The ``roads`` layer from the ``lines`` layer: walkable ways split at junctions.

    Parameters
    ----------
    lines
        The OSM driver's ``lines`` layer.

    Returns
    -------
    roads : geopandas.GeoDataFrame
        ``id`` (``osm_w{way id}_{part}``), ``kind``, ``name`` and the line.
    stats : dict
        ``ways`` kept, ``split`` (ways cut into two or more roads), ``dropped``
        (a Counter of reasons).
    """
    ways, dropped = walkable_ways(lines)
    pieces = split_at_shared_vertices(ways)
    per_way = pieces.groupby("osm_id").size()
    roads = gpd.GeoDataFrame(
        {
            "id": ("osm_w" + pieces["osm_id"].astype(str) + "_" + pieces["part"].astype(str))
            .astype("str")
            .to_numpy(),
            "kind": pieces["kind"].to_numpy(dtype=object),
            "name": pieces["name"].to_numpy(dtype=object),
        },
        geometry=pieces.geometry.to_numpy(),
        crs=STORAGE_CRS,
    )
    return roads, {"ways": len(ways), "split": int((per_way > 1).sum()), "dropped": dropped}


# -- buildings ------------------------------------------------------------------------


def _metric_crs(geoms: Iterable) -> CRS:
    """The UTM zone of the centre of some lon/lat geometries."""
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(list(geoms), dtype=object))
    if not np.isfinite(minx):
        return utm_crs(0.0, 0.0)
    return utm_crs((minx + maxx) / 2, (miny + maxy) / 2)


def _project(geoms: np.ndarray, src: CRS, dst: CRS) -> np.ndarray:
    transformer = Transformer.from_crs(src, dst, always_xy=True)
    return shapely.transform(
        geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


def _as_multipolygon(geoms: np.ndarray) -> np.ndarray:
    """Repair polygons and keep their polygonal parts as MultiPolygons (None if none)."""
    out = np.empty(len(geoms), dtype=object)
    fixed = shapely.make_valid(geoms)
    for i, g in enumerate(fixed):
        if g is None or g.is_empty:
            out[i] = None
            continue
        parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        polys = [q for p in parts for q in shapely.get_parts(p)]
        out[i] = shapely.MultiPolygon(polys) if polys else None
    return out


def _area_refs(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """``("way", id)`` or ``("relation", id)`` of each area of the ``multipolygons`` layer.

    The driver gives a closed way's id in ``osm_way_id`` and a multipolygon
    relation's in ``osm_id``.
    """
    way = _values(frame["osm_way_id"]) if "osm_way_id" in frame else [None] * len(frame)
    rel = _values(frame["osm_id"])
    return [
        ("way", str(w)) if w is not None else ("relation", str(r))
        for w, r in zip(way, rel, strict=True)
    ]


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


def _building_use(value: str, shop: bool, office: bool, amenity: str | None, floors: float) -> str:
    """The use of one building from its ``building`` value and other tags."""
    use = BUILDING_USE_BY_TAG.get(value)
    shoplike = shop or amenity in _SHOP_AMENITIES
    if (use is None or use == "residential") and shoplike and floors >= 3:
        return "mixed"  # shops on the ground floor, flats above
    if use is not None:
        return use
    if shop or office:
        return "commercial"
    if amenity in _PUBLIC_AMENITIES:
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
    building = _tag(multipolygons, "building")
    has = (building.notna() & (building != "no")).to_numpy()
    frame = multipolygons[has]
    value = _values(building[has])
    geoms = _as_multipolygon(frame.geometry.to_numpy())
    present = np.array([g is not None for g in geoms], dtype=bool)
    structure = np.isin(value, list(NOT_BUILDINGS))
    structures = Counter(value[structure & present].tolist())
    crs = crs or _metric_crs(geoms[present])
    area = np.zeros(len(geoms))
    area[present] = shapely.area(_project(geoms[present], STORAGE_CRS, crs))
    small = present & ~structure & (area < factors.min_footprint_m2)
    keep = present & ~structure & ~small

    frame, value, geoms, area = frame[keep], value[keep], geoms[keep], area[keep]
    levels = _levels(_values(_tag(frame, "building:levels")))
    shop = _tag(frame, "shop").notna().to_numpy()
    office = _tag(frame, "office").notna().to_numpy()
    amenity = _values(_tag(frame, "amenity"))
    uses = np.array(
        [
            _building_use(value[i], shop[i], office[i], amenity[i], levels[i])
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
    flats = pd.to_numeric(_tag(frame, "building:flats"), errors="coerce").to_numpy(dtype=float)
    counted = np.isfinite(flats) & (flats >= 0)
    households = np.where(counted, np.rint(flats), estimate).astype(np.int64)
    population = np.rint(households * factors.persons_per_household).astype(np.int64)
    buildings = gpd.GeoDataFrame(
        {
            "osm": [f"{kind} {ref}" for kind, ref in _area_refs(frame)],
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


# -- facilities -----------------------------------------------------------------------


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
        if any(w in lowered for w in _PRIMARY_WORDS):
            return "primary_school"
        if any(w in lowered for w in _MIDDLE_WORDS):
            return "middle_school"
    return "primary_school"


_SCHOOL_RULE = next(r for r in FACILITY_RULES if r.tags == (("amenity", ("school",)),))


def _match_rules(frame: pd.DataFrame) -> np.ndarray:
    """The facility type of each row by :data:`FACILITY_RULES`, None if no rule matches."""
    keys = sorted({k for rule in FACILITY_RULES for k, _ in rule.tags})
    tags = {k: _tag(frame, k) for k in keys}
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
                    _values(_tag(sub, "isced:level")),
                    _values(_tag(sub, "school:type")),
                    _values(_tag(sub, "name")),
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
    pt_type = _match_rules(points)
    hit = pd.notna(pt_type)
    pts = points[hit]
    node_fac = gpd.GeoDataFrame(
        {
            "id": ("osm_n" + pts["osm_id"].astype(str)).to_numpy(dtype=object),
            "type": pt_type[hit],
            "name": _values(_tag(pts, "name")),
        },
        geometry=pts.geometry.to_numpy(),
        crs=STORAGE_CRS,
    )
    area_type = _match_rules(multipolygons)
    hit = pd.notna(area_type) & ~multipolygons.geometry.isna().to_numpy()
    areas = multipolygons[hit]
    ids = [f"osm_a{ref}" if kind == "way" else f"osm_r{ref}" for kind, ref in _area_refs(areas)]
    polygons = shapely.make_valid(areas.geometry.to_numpy())
    area_fac = gpd.GeoDataFrame(
        {
            "id": np.array(ids, dtype=object),
            "type": area_type[hit],
            "name": _values(_tag(areas, "name")),
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


# -- hierarchy -----------------------------------------------------------------------


def _reading_order(x: np.ndarray, y: np.ndarray, band: float, north: float) -> np.ndarray:
    """Positions (0-based) of points read west→east in bands from ``north`` down.

    The rule of :func:`gridmap.hierarchy.grid_serials`, for any number of items.
    """
    rows = np.floor((north - y) / band) if band > 0 else np.zeros(len(y))
    order = np.lexsort((x, rows))
    rank = np.empty(len(x), dtype=np.int64)
    rank[order] = np.arange(len(x))
    return rank


def _cluster_overlapping(geoms: np.ndarray) -> np.ndarray:
    """A cluster label per polygon: polygons whose interiors meet share one."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(geoms)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    sel = i < j
    i, j = i[sel], j[sel]
    # Touching (a shared wall) is fine: only meeting interiors must stay together.
    inner = ~shapely.touches(geoms[i], geoms[j])
    i, j = i[inner], j[inner]
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _lattice(hull_m: shapely.Geometry, size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Square cells of ``size`` covering ``hull_m``: the cells, their rows and columns.

    The lattice is anchored at multiples of ``size`` so that it is the same
    whatever the data's extent; rows count from the north.
    """
    minx, miny, maxx, maxy = hull_m.bounds
    x0 = math.floor(minx / size) * size
    y1 = math.ceil(maxy / size) * size
    ncols = max(1, math.ceil((maxx - x0) / size))
    nrows = max(1, math.ceil((y1 - miny) / size))
    rows, cols = np.divmod(np.arange(nrows * ncols), ncols)
    cells = shapely.box(
        x0 + cols * size, y1 - (rows + 1) * size, x0 + (cols + 1) * size, y1 - rows * size
    )
    return cells, rows, cols


def _merge_slivers(
    clipped_m: np.ndarray, rows: np.ndarray, cols: np.ndarray, block: np.ndarray, size: float
) -> np.ndarray:
    """A group per cell: small edge cells join the neighbour they share most edge with."""
    n = len(clipped_m)
    parent = np.arange(n)

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    where = {(int(r), int(c)): k for k, (r, c) in enumerate(zip(rows, cols, strict=True))}
    area = shapely.area(clipped_m)
    for k in np.argsort(area, kind="stable"):
        if area[k] >= _SLIVER_SHARE * size * size:
            break
        best, best_len = None, 0.0
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            other = where.get((int(rows[k]) + dr, int(cols[k]) + dc))
            if other is None or block[other] != block[k]:
                continue
            shared = shapely.length(shapely.intersection(clipped_m[k].boundary, clipped_m[other]))
            if shared > best_len:
                best, best_len = other, shared
        if best is not None:
            parent[find(k)] = find(best)
    return np.array([find(k) for k in range(n)])


def build_hierarchy(
    buildings: gpd.GeoDataFrame,
    extent: Iterable[shapely.Geometry],
    *,
    name: str,
    district_code: str = DEFAULT_DISTRICT_CODE,
    grid_size: float = 500.0,
) -> tuple[dict[str, gpd.GeoDataFrame], np.ndarray]:
    """Generate a SYNTHETIC district, subdistrict, communities and grids over the data.

    See the module's documentation for the rules (extent, lattice, slivers,
    communities of ≤ 99 grids, grids giving way to buildings).

    Parameters
    ----------
    buildings
        The buildings (EPSG:4326), to be placed in the grids.
    extent
        All imported geometries (EPSG:4326): the district covers them.
    name
        The district's name; the units below are named after it.
    district_code
        The district's 6-digit code.
    grid_size
        The side of a grid, in metres.

    Returns
    -------
    frames : dict of str to geopandas.GeoDataFrame
        ``districts``, ``subdistricts``, ``communities``, ``grids`` with the
        schema's columns (EPSG:4326, MultiPolygons).
    grid_codes : numpy.ndarray
        The grid code of each building.

    Raises
    ------
    gridmap.errors.CodeError
        If ``district_code`` is not a valid district code.
    gridmap.errors.InputError
        If there is nothing to cover, or more than 999 communities would be needed.
    """
    check_code(district_code, "district")
    extent = np.asarray(list(extent), dtype=object)
    extent = extent[~shapely.is_missing(extent)]
    coords = shapely.get_coordinates(extent)
    if not len(coords):
        raise InputError(
            "the extract holds no walkable road, building or facility",
            hint="choose an extract that covers part of a town",
        )
    metric = _metric_crs(extent)
    to_m = Transformer.from_crs(STORAGE_CRS, metric, always_xy=True)
    xm, ym = to_m.transform(coords[:, 0], coords[:, 1])
    hull_m = shapely.convex_hull(shapely.multipoints(np.column_stack([xm, ym]))).buffer(
        _MARGIN_M, quad_segs=4
    )
    cells_m, rows, cols = _lattice(hull_m, grid_size)
    clipped_m = shapely.intersection(cells_m, hull_m)
    inside = shapely.area(clipped_m) > 0
    cells_m, rows, cols, clipped_m = cells_m[inside], rows[inside], cols[inside], clipped_m[inside]
    if len(cells_m) > _MAX_GRIDS:
        # Blocks of 9 x 9 cells: at most 81 grids, so each community's serials fit.
        nblock_cols = int(cols.max()) // _BLOCK + 1
        block = (rows // _BLOCK) * nblock_cols + cols // _BLOCK
    else:
        block = np.zeros(len(cells_m), dtype=np.int64)
    group = _merge_slivers(clipped_m, rows, cols, block, grid_size)

    # Clip in lon/lat, where the store keeps the polygons: neighbouring cells
    # share projected corners exactly, so they still tile without slivers.
    hull = _project(np.array([hull_m], dtype=object), metric, STORAGE_CRS)[0]
    cells = shapely.intersection(_project(cells_m, metric, STORAGE_CRS), hull)
    groups, group_of_cell = np.unique(group, return_inverse=True)
    grid_geoms = np.array(
        [shapely.union_all(cells[group_of_cell == g]) for g in range(len(groups))], dtype=object
    )
    grid_block = block[groups]

    # Buildings go to the grid holding their centroid; overlapping buildings go
    # together (to the grid of the largest), or two grids would overlap.
    bgeoms = buildings.geometry.to_numpy()
    grid_of = np.zeros(len(bgeoms), dtype=np.int64)
    if len(bgeoms):
        tree = shapely.STRtree(grid_geoms)
        centroids = shapely.centroid(bgeoms)
        b, g = tree.query(centroids, predicate="intersects")
        grid_of[:] = -1
        first = pd.Series(g).groupby(b).min()  # on an edge: the first grid
        grid_of[first.index.to_numpy()] = first.to_numpy()
        lost = np.flatnonzero(grid_of < 0)
        if len(lost):
            # The district covers every building with a margin: only rounding
            # at its edge can leave a centroid out; the nearest grid takes it.
            grid_of[lost] = tree.query_nearest(centroids[lost], all_matches=False)[1]
        cluster = _cluster_overlapping(bgeoms)
        size = shapely.area(bgeoms)
        largest = pd.Series(size).groupby(cluster).idxmax().to_numpy()
        grid_of = grid_of[largest[cluster]]
        grid_geoms = _give_way(grid_geoms, bgeoms, grid_of)
    keep = ~shapely.is_empty(grid_geoms)
    renumber = np.cumsum(keep) - 1
    grid_geoms, grid_block, grid_of = grid_geoms[keep], grid_block[keep], renumber[grid_of]

    blocks, comm_of_grid = np.unique(grid_block, return_inverse=True)
    if len(blocks) > 999:
        raise InputError(
            f"the extract would need {len(blocks)} communities of grids; a community serial "
            "has three digits (at most 999)",
            hint="give a larger --grid-size",
        )
    sub_code = make_code(district_code, 1)
    comm_codes = np.array([make_code(sub_code, k + 1) for k in range(len(blocks))], dtype=object)
    comm_geoms = np.array(
        [shapely.union_all(grid_geoms[comm_of_grid == k]) for k in range(len(blocks))],
        dtype=object,
    )
    whole = shapely.union_all(comm_geoms)
    comm_names = (
        [f"{name}社区"]
        if len(blocks) == 1
        else [f"{name}第{k + 1}社区" for k in range(len(blocks))]
    )

    def frame(data: dict, geoms: np.ndarray) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(data, geometry=_as_multipolygon(geoms), crs=STORAGE_CRS)

    communities = frame(
        {"code": comm_codes, "name": comm_names, "subdistrict_code": sub_code}, comm_geoms
    )
    grids = frame({"community_code": comm_codes[comm_of_grid]}, grid_geoms)
    from gridmap.hierarchy import number_grids

    grids.insert(0, "code", number_grids(grids, communities).to_numpy(dtype=object))
    serial = grids["code"].str[-2:].astype(int)
    comm_name = dict(zip(comm_codes, comm_names, strict=True))
    grids.insert(
        1,
        "name",
        [
            f"{comm_name[c]}网格" if s == 0 else f"{comm_name[c]}第{s}网格"
            for c, s in zip(grids["community_code"], serial, strict=True)
        ],
    )
    frames = {
        "districts": frame({"code": [district_code], "name": [name]}, np.array([whole])),
        "subdistricts": frame(
            {"code": [sub_code], "name": [f"{name}街道"], "district_code": [district_code]},
            np.array([whole]),
        ),
        "communities": communities.sort_values("code", ignore_index=True),
        "grids": grids.sort_values("code", ignore_index=True),
    }
    return frames, grids["code"].to_numpy(dtype=object)[grid_of]


def _give_way(grids: np.ndarray, buildings: np.ndarray, grid_of: np.ndarray) -> np.ndarray:
    """Grids reshaped so each building lies wholly in its own grid.

    Each grid loses the buildings that reach into it and gains its own: the
    grids still tile the same area, and no building straddles two grids.
    """
    tree = shapely.STRtree(buildings)
    out = np.empty(len(grids), dtype=object)
    for g, geom in enumerate(grids):
        near = tree.query(geom, predicate="intersects")
        own = buildings[grid_of == g]
        carved = shapely.difference(geom, shapely.union_all(buildings[near])) if len(near) else geom
        merged = shapely.union_all(np.concatenate([[carved], own])) if len(own) else carved
        out[g] = shapely.make_valid(merged)
    return out


def place_in_grids(buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> np.ndarray:
    """The existing grid holding each building's centroid.

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
    out = np.full(len(buildings), None, dtype=object)
    if not len(buildings):
        return out
    grids = grids[~grids.geometry.isna()].sort_values("code", ignore_index=True)
    centroids = shapely.centroid(buildings.geometry.to_numpy())
    if len(grids):
        tree = shapely.STRtree(grids.geometry.to_numpy())
        b, g = tree.query(centroids, predicate="intersects")
        first = pd.Series(g).groupby(b).min()
        out[first.index.to_numpy()] = grids["code"].to_numpy(dtype=object)[first.to_numpy()]
    missing = np.flatnonzero(pd.isna(out))
    if len(missing):
        k = missing[0]
        example = buildings["osm"].iloc[k] if "osm" in buildings else f"building {k + 1}"
        raise InputError(
            f"{len(missing):,} of {len(buildings):,} buildings lie outside every grid of the "
            f"store (e.g. OSM {example} at {centroids[k].x:.5f}, {centroids[k].y:.5f})",
            hint="import the extract into a new store (a hierarchy is generated for it), "
            "or import grids that cover it first",
        )
    return out


def building_codes(
    buildings: gpd.GeoDataFrame,
    grid_codes: np.ndarray,
    grids: gpd.GeoDataFrame,
    existing: Iterable[str] = (),
) -> np.ndarray:
    """17-digit codes: each building's grid code and a serial after the grid's existing ones.

    Within a grid, new buildings are numbered west→east, north→south in bands of
    height √(grid area / new buildings) from the grid's northern edge (the rule of
    :func:`gridmap.hierarchy.grid_serials`).

    Parameters
    ----------
    buildings
        The new buildings (EPSG:4326).
    grid_codes
        The grid of each.
    grids
        Grids (``code``, geometry) holding at least those named.
    existing
        Building codes already in the store.

    Raises
    ------
    gridmap.errors.InputError
        If a grid would hold more than 999 buildings.
    """
    codes = np.empty(len(buildings), dtype=object)
    if not len(buildings):
        return codes
    taken: dict[str, int] = {}
    for code in existing:
        if isinstance(code, str) and len(code) == 17:
            taken[code[:14]] = max(taken.get(code[:14], 0), int(code[14:]))
    metric = _metric_crs(buildings.geometry.to_numpy())
    centroids = _project(shapely.centroid(buildings.geometry.to_numpy()), STORAGE_CRS, metric)
    x, y = shapely.get_x(centroids), shapely.get_y(centroids)
    grid_geom = dict(zip(grids["code"], grids.geometry, strict=True))
    grid_codes = np.asarray(grid_codes, dtype=object)
    for grid, idx in pd.Series(np.arange(len(grid_codes))).groupby(grid_codes).groups.items():
        idx = np.asarray(idx)
        start = taken.get(grid, 0)
        if start + len(idx) > 999:
            raise InputError(
                f"grid {grid} would hold {start + len(idx):,} buildings; a building serial "
                "has three digits (at most 999)",
                hint="give a smaller --grid-size, or split the grid",
            )
        geom_m = _project(np.array([grid_geom[grid]], dtype=object), STORAGE_CRS, metric)[0]
        band = math.sqrt(geom_m.area / len(idx)) if geom_m.area > 0 else 1.0
        rank = _reading_order(x[idx], y[idx], band, geom_m.bounds[3])
        codes[idx] = [f"{grid}{start + r + 1:03d}" for r in rank]
    return codes


# -- the whole import ---------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an OSM import did, for the command to print.

    Counts are of the rows written; ``dropped`` and ``structures`` are Counters
    of reasons and ``building`` values.
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

    def to_text(self) -> str:
        """The report as lines of text (English: it names OSM tags)."""
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
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class OsmImport:
    """The converted extract: layers to write, their provenance and the report."""

    frames: dict[str, gpd.GeoDataFrame]
    metadata: list[dict[str, object]]
    report: ImportReport


def _has_hierarchy(existing: Mapping[str, pd.DataFrame] | None) -> bool:
    return bool(existing) and len(existing.get("districts", ())) > 0


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
        :func:`read_osm`'s layers.
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
        The generated district's code (default :data:`DEFAULT_DISTRICT_CODE`).
    grid_size
        The generated grids' side in metres (default 500).
    factors
        The estimate's assumptions (default :class:`EstimateFactors`).
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
        given = {"--name": name, "--district-code": district_code, "--grid-size": grid_size}
        unused = [option for option, value in given.items() if value is not None]
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
        grid_size = float(grid_size or 500.0)
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
        generated = {
            "districts": f"SYNTHETIC: code {district_code} is no real adcode; the area is the "
            f"convex hull of the imported data buffered by {_MARGIN_M:g} m",
            "subdistricts": "SYNTHETIC: one subdistrict covering the district",
            "communities": "SYNTHETIC: one community, or one per block of 9 x 9 grid cells "
            "when more than 99 grids are needed",
            "grids": f"SYNTHETIC: squares of {grid_size:g} m clipped to the district, numbered "
            "west to east, north to south; bent around buildings so none straddles two grids",
        }
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


def _network_figures(roads: gpd.GeoDataFrame) -> tuple[int, float, float]:
    """Connected pieces, the largest one's share of the length, and the km of road."""
    if not len(roads):
        return 0, 0.0, 0.0
    labels = network_components(roads)
    geoms = roads.geometry.to_numpy()
    length = shapely.length(_project(geoms, STORAGE_CRS, _metric_crs(geoms)))
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


def import_osm(
    store: str,
    path: str | Path,
    *,
    replace: bool = False,
    name: str | None = None,
    district_code: str | None = None,
    grid_size: float | None = None,
    factors: EstimateFactors | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import an OSM extract into a store, in one transaction.

    Roads, buildings and facilities are appended (or, with ``replace``, replace
    those layers); a hierarchy is generated when the store has no district.
    A store that does not exist is created, and removed again if the import
    fails.

    Parameters
    ----------
    store
        The store's address (``.gpkg`` path or ``postgresql://`` URL).
    path
        The ``.osm.pbf`` file.
    replace, name, district_code, grid_size, factors
        As for :func:`convert_osm`.
    progress
        Called with each stage's name (:data:`STAGES`) once it is done.

    Returns
    -------
    ImportReport

    Raises
    ------
    gridmap.errors.InputError
        If the file cannot be read, buildings fall outside the store's grids, or
        the extract was imported into the store before (without ``replace``).
    """
    from gridmap.store import is_database_url, open_store

    tick = progress or (lambda stage: None)
    path = Path(path)
    if district_code is not None:
        try:
            check_code(district_code, "district")
        except CodeError as exc:
            raise CodeError(f"--district-code: {exc.what}", exc.hint) from None
    raw = read_osm(path)
    tick("read")
    created = not is_database_url(store) and not Path(store).exists()
    try:
        with open_store(store, create=True) as st:
            existing = {"districts": st.read("districts", columns=["code"])}
            if len(existing["districts"]):
                existing["grids"] = st.read("grids", columns=["code"])
                existing["buildings"] = st.read("buildings", columns=["code"])
            result = convert_osm(
                raw,
                source=path.name,
                existing=existing,
                replace=replace,
                name=name,
                district_code=district_code,
                grid_size=grid_size,
                factors=factors,
                progress=tick,
            )
            if not replace:
                _refuse_reimport(st, result.frames)
            st.write(
                result.frames, mode="replace" if replace else "append", metadata=result.metadata
            )
            tick("write")
    except BaseException:
        if created and Path(store).exists():
            Path(store).unlink()
        raise
    result.report.store = str(store)
    return result.report


def _refuse_reimport(st, frames: Mapping[str, pd.DataFrame]) -> None:
    """Refuse, in one clear line, an extract whose OSM ids the store already has."""
    for layer, key in (("roads", "id"), ("facilities", "id")):
        new = set(frames[layer][key])
        old = st.keys(layer) & new
        if old:
            raise InputError(
                f"{len(old):,} {layer} of this extract are in the store already (e.g. {min(old)})",
                hint="it was imported before: add --replace to replace roads, buildings "
                "and facilities",
            )
