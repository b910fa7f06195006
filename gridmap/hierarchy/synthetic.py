"""A SYNTHETIC district, subdistrict, communities and grids generated over data.

Data without a hierarchy (an OpenStreetMap extract has no 区/街道/社区/网格)
gets one from :func:`build_hierarchy`:

- the district ``district_code`` (default :data:`DEFAULT_DISTRICT_CODE`,
  outside the real adcodes), named ``name``: the convex hull of all the data,
  buffered by 100 m; one subdistrict (code + ``001``) covering it;
- square grids of ``grid_size`` metres on a metric lattice (the data's UTM
  zone) clipped to the district; a clipped cell smaller than a quarter of a
  full one is merged into the neighbour (in the same community) it shares the
  longest edge with;
- one community (subdistrict + ``001``) when there are at most 99 grids, the
  most a two-digit grid serial allows; otherwise one community per block of
  9 × 9 lattice cells (≤ 81 grids each), numbered 001, 002 … by block row from
  the north, then west to east;
- grids numbered by :func:`gridmap.hierarchy.number_grids`;
- every building goes to the grid holding its centroid. The grids then give
  way to their buildings: a building reaching into a neighbouring cell takes
  that piece with it (buildings that overlap go together, to the grid of the
  largest), so each building lies inside its grid and the grids still tile.

:func:`synthetic_notes` says the same in the store's metadata. The demo
district (``gridmap.demo``) has a generator of its own, built on real
boundaries; this one needs nothing but the data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from gridmap.codes import check_code, make_code, serial_of
from gridmap.crs import STORAGE_CRS, project, utm_crs_of
from gridmap.errors import InputError, option
from gridmap.geometry import as_multipolygons
from gridmap.hierarchy import number_grids

__all__ = ["DEFAULT_DISTRICT_CODE", "build_hierarchy", "synthetic_notes"]

#: A district code outside China's real adcodes (no province 99), so a
#: generated district cannot be mistaken for a real one.
DEFAULT_DISTRICT_CODE = "990101"

_MAX_GRIDS = 99  # a grid serial has two digits
_MAX_COMMUNITIES = 999  # a community serial has three digits
_BLOCK = 9  # lattice cells per community side when a community would exceed 99 grids
_SLIVER_SHARE = 0.25  # clipped cells smaller than this share of a full cell are merged
_MARGIN_M = 100.0  # the generated district reaches this far beyond the data


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
            # A sliver never joins another community's cell: its grids would
            # no longer be the union of its blocks.
            if other is None or block[other] != block[k]:
                continue
            shared = shapely.length(shapely.intersection(clipped_m[k].boundary, clipped_m[other]))
            if shared > best_len:
                best, best_len = other, shared
        if best is not None:
            parent[find(k)] = find(best)
    return np.array([find(k) for k in range(n)])


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


def _assign_buildings(grid_geoms: np.ndarray, bgeoms: np.ndarray) -> np.ndarray:
    """The index of the grid each building goes to (overlapping buildings go together).

    A building goes to the grid holding its centroid; buildings whose interiors
    meet all go to the grid of the largest, or the grids giving way to them
    would overlap.
    """
    tree = shapely.STRtree(grid_geoms)
    centroids = shapely.centroid(bgeoms)
    b, g = tree.query(centroids, predicate="intersects")
    grid_of = np.full(len(bgeoms), -1, dtype=np.int64)
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
    return grid_of[largest[cluster]]


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
        All the data's geometries (EPSG:4326): the district covers them.
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
    metric = utm_crs_of(extent)
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
    hull = project(np.array([hull_m], dtype=object), metric, STORAGE_CRS)[0]
    cells = shapely.intersection(project(cells_m, metric, STORAGE_CRS), hull)
    groups, group_of_cell = np.unique(group, return_inverse=True)
    grid_geoms = np.array(
        [shapely.union_all(cells[group_of_cell == g]) for g in range(len(groups))], dtype=object
    )
    grid_block = block[groups]

    bgeoms = buildings.geometry.to_numpy()
    grid_of = np.zeros(len(bgeoms), dtype=np.int64)
    if len(bgeoms):
        grid_of = _assign_buildings(grid_geoms, bgeoms)
        grid_geoms = _give_way(grid_geoms, bgeoms, grid_of)
    # A cell wholly covered by its neighbours' buildings has given everything away.
    keep = ~shapely.is_empty(grid_geoms)
    renumber = np.cumsum(keep) - 1
    grid_geoms, grid_block, grid_of = grid_geoms[keep], grid_block[keep], renumber[grid_of]

    blocks, comm_of_grid = np.unique(grid_block, return_inverse=True)
    if len(blocks) > _MAX_COMMUNITIES:
        raise InputError(
            f"the extract would need {len(blocks)} communities of grids; a community serial "
            f"has three digits (at most {_MAX_COMMUNITIES})",
            hint=f"give a larger {option('grid_size')}",
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
        return gpd.GeoDataFrame(data, geometry=as_multipolygons(geoms), crs=STORAGE_CRS)

    communities = frame(
        {"code": comm_codes, "name": comm_names, "subdistrict_code": sub_code}, comm_geoms
    )
    grids = frame({"community_code": comm_codes[comm_of_grid]}, grid_geoms)
    grids.insert(0, "code", number_grids(grids, communities).to_numpy(dtype=object))
    comm_name = dict(zip(comm_codes, comm_names, strict=True))
    serials = [int(serial_of(code)) for code in grids["code"]]
    grids.insert(
        1,
        "name",
        [
            f"{comm_name[c]}网格" if s == 0 else f"{comm_name[c]}第{s}网格"
            for c, s in zip(grids["community_code"], serials, strict=True)
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


def synthetic_notes(district_code: str, grid_size: float) -> dict[str, str]:
    """The metadata note of each generated layer: how :func:`build_hierarchy` made it.

    Parameters
    ----------
    district_code
        The generated district's code.
    grid_size
        The generated grids' side, in metres.

    Returns
    -------
    dict of str to str
        A note per layer (``districts``, ``subdistricts``, ``communities``,
        ``grids``), each starting with ``SYNTHETIC``.
    """
    return {
        "districts": f"SYNTHETIC: code {district_code} is no real adcode; the area is the "
        f"convex hull of the imported data buffered by {_MARGIN_M:g} m",
        "subdistricts": "SYNTHETIC: one subdistrict covering the district",
        "communities": f"SYNTHETIC: one community, or one per block of {_BLOCK} x {_BLOCK} grid "
        f"cells when more than {_MAX_GRIDS} grids are needed",
        "grids": f"SYNTHETIC: squares of {grid_size:g} m clipped to the district, numbered "
        "west to east, north to south; bent around buildings so none straddles two grids",
    }
