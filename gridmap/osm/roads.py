"""Roads: the ways of an extract people walk along, split where they meet.

Walkable ways
-------------
From the ``lines`` layer, a way with a ``highway`` tag is kept when its value is
in :data:`~gridmap.osm.tags.WALKABLE_HIGHWAYS` (the road ``kind`` is the value
it maps to, one of :data:`gridmap.schema.ROAD_KINDS`), or in
:data:`~gridmap.osm.tags.SIDEWALK_HIGHWAYS` and it has a sidewalk
(``sidewalk[:both|:left|:right]`` = ``both|left|right|yes``) or
``foot=yes|designated|permissive|official``. Every other value is dropped, among
them :data:`~gridmap.osm.tags.NOT_WALKABLE_HIGHWAYS` (motorways, bus guideways,
raceways, ways under construction or proposed) and values not in any table. A
kept way is still dropped when ``foot`` is ``no|use_sidepath|private``, or
``access`` is ``private|no`` without ``foot=yes|designated|permissive|official``.

- ``footway`` ← footway, corridor, platform, elevator
- ``path`` ← path, cycleway, bridleway, trail
- the same kind ← pedestrian, steps, living_street, residential, service, track,
  unclassified
- ``unclassified`` ← road (classification unknown)
- ``tertiary`` ← tertiary, tertiary_link; ``secondary`` ← secondary,
  secondary_link; ``primary`` ← primary, primary_link
- ``primary`` ← trunk, trunk_link, only with a sidewalk or foot=yes

Roads
-----
Kept ways are split at shared nodes (:func:`split_at_shared_vertices`): every
junction becomes an end of the roads meeting there, while ways crossing
without a shared node (a bridge over a street) stay whole. A road's id is
``osm_w{way id}_{part}``, its ``name`` the ``name`` tag.
:func:`network_components` labels the connected pieces of the result.
"""

from __future__ import annotations

from collections import Counter

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.crs import STORAGE_CRS
from gridmap.osm.read import as_object_array, read_tag
from gridmap.osm.tags import (
    ACCESS_NO,
    FOOT_NO,
    FOOT_YES,
    SIDEWALK_HIGHWAYS,
    SIDEWALK_YES,
    WALKABLE_HIGHWAYS,
)

__all__ = ["walkable_ways", "split_at_shared_vertices", "network_components", "roads_from_osm"]


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
    highway = read_tag(lines, "highway")
    has = highway.notna().to_numpy() & ~lines.geometry.isna().to_numpy()
    frame = lines[has]
    hw = as_object_array(highway[has])
    foot = as_object_array(read_tag(frame, "foot"))
    access = as_object_array(read_tag(frame, "access"))
    sidewalk = np.zeros(len(frame), dtype=bool)
    for key in ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right"):
        sidewalk |= read_tag(frame, key).isin(SIDEWALK_YES).to_numpy()

    kinds = np.empty(len(frame), dtype=object)
    dropped: Counter[str] = Counter()
    for i, value in enumerate(hw):
        foot_yes = foot[i] in FOOT_YES
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
        if foot[i] in FOOT_NO:
            dropped[f"foot={foot[i]}"] += 1
        elif access[i] in ACCESS_NO and not foot_yes:
            dropped[f"access={access[i]}"] += 1
        else:
            kinds[i] = kind
    keep = np.array([k is not None for k in kinds], dtype=bool)
    ways = gpd.GeoDataFrame(
        {
            "osm_id": frame["osm_id"].astype("str").to_numpy()[keep],
            "kind": kinds[keep],
            "name": as_object_array(read_tag(frame, "name"))[keep],
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
