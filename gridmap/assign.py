"""Points to polygons: which unit (grid, community …) contains each point, fast and exact.

:func:`assign_points` answers, for millions of points, the index of the polygon
containing each one (−1 outside all); :func:`count_per_polygon` turns that into
counts; :func:`assign_frame` does both ends for GeoDataFrames (points in,
polygon keys out). :class:`PolygonIndex` keeps the index for repeated queries.

How it works
------------
A compiled (numba) uniform-grid index over the polygons' edges, then crossing
parity ("ray casting", even–odd) along a ray from the point towards +x:

* every ring of a polygon (exterior, holes, every part of a multipolygon) is
  cut into edges; even–odd parity over all of them handles holes and
  multipolygons at once;
* each grid cell keeps the edges that a ray leaving any point of the cell could
  cross *and* that belong to a polygon reaching the cell — the edges in the
  cell's row to its right, up to each polygon's right end — grouped by polygon;
* a cell that no edge touches lies wholly inside one polygon or outside all: its
  owner is computed once, and the points in it cost one lookup (the fast path).

The grid's cell size comes from the data: about a quarter of the mean polygon
width (16 cells per polygon), or finer for detailed polygons (at least one cell
per edge), then coarsened until the index fits :func:`reference_budget` (so one
huge, detailed polygon does not blow it up).

Boundary rule
-------------
A point exactly on a boundary belongs to exactly one polygon: **the one that
contains the points immediately to its right** (+x); where the boundary runs
horizontally there, or at a vertex, **the one immediately to its upper right**.
Formally, a point ``(x, y)`` is assigned as if it were ``(x + ε, y + ε²)`` for an
infinitesimal ``ε``. This is the half-open rule of crossing parity: an edge
counts when ``y0 <= y < y1`` (its lower end included, its upper end not) and it
lies strictly to the right of the point. So on the shared edge of two grids the
point goes to the grid on the right (or above, for a horizontal edge); a vertex
shared by four square cells goes to the upper-right cell; a point on the outer
boundary of the whole layer belongs to the polygon inside it on the left and
bottom sides, and is outside (−1) on the right and top sides (the formal rule
decides the corners: of a square layer, only the bottom-left one is inside).

Every edge is evaluated in one canonical direction (lower end first), so two
polygons that share an edge — with the same vertices, as in a clean coverage —
compute bit-identical crossings and can never both (or neither) claim a point on
it. The rule is exact at vertices and on horizontal and vertical edges; on a
slanted edge, "on the edge" is decided in floating point (a point within an ulp
of it may fall to either side, but always to exactly one polygon). Where
polygons overlap (an invalid coverage), the lowest index wins.

This differs from :func:`geopandas.sjoin` only for points on (or within rounding
of) boundaries:
``predicate="within"`` gives such points to no polygon, ``"intersects"`` to every
polygon touching them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.errors import InputError

__all__ = [
    "PolygonIndex",
    "build_index",
    "reference_budget",
    "assign_points",
    "count_per_polygon",
    "assign_frame",
]

#: Cells per polygon to aim for (about 4 × 4 across a typical polygon): small
#: enough that most cells lie inside one polygon (the fast path), large enough
#: that each edge is referenced by few cells. Detailed polygons ask for at least
#: one cell per edge, so a cell holds a few edges, not a whole boundary.
_CELLS_PER_POLYGON = 16
#: Index size budget, in edge references (8 bytes each): 24 per edge, at least
#: 4 M (32 MB) and at most 16 M (128 MB). Above it the grid is coarsened (cells
#: twice the area) until it fits.
_REFS_PER_EDGE = 24
_MIN_REFS = 4_000_000
_MAX_REFS = 16_000_000
_MAX_CELLS = 16_000_000


# ---------------------------------------------------------------------------
# Public API


@dataclass(eq=False)
class PolygonIndex:
    """A uniform-grid index of polygon edges; build one with :func:`build_index`.

    Attributes
    ----------
    n
        Number of polygons indexed (assignments are ``0 … n − 1``, or −1).
    origin, extent
        ``(x0, y0)`` and ``(x1, y1)``, the polygons' bounds: the grid starts at
        ``origin``; points beyond the bounds are outside without a lookup.
    cell
        Cell size, in the polygons' units.
    shape
        ``(ny, nx)``, rows and columns of the grid.
    owner
        Per cell (flattened row-major): the polygon wholly containing the cell,
        −1 if it lies outside all, −2 if edges pass through it (the slow path).
    ptr, edge
        CSR of the edges each cell keeps: ``edge[ptr[c]:ptr[c + 1]]``, grouped by
        polygon (ascending).
    seg
        Edges in canonical direction, shape ``(n_edges, 4)``: ``xa, ya, xb, yb``
        with ``ya < yb`` (horizontal edges never cross a horizontal ray: dropped).
    poly
        The polygon of each edge.
    """

    n: int
    origin: tuple[float, float]
    extent: tuple[float, float]
    cell: float
    shape: tuple[int, int]
    owner: np.ndarray
    ptr: np.ndarray
    edge: np.ndarray
    seg: np.ndarray
    poly: np.ndarray

    def query(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The containing polygon of each point (−1 outside all); see :func:`assign_points`."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise InputError(
                f"x and y must be 1-D arrays of one length, got shapes {x.shape} and {y.shape}"
            )
        out = np.empty(x.shape[0], np.int64)
        if self.n == 0 or x.shape[0] == 0:
            out.fill(-1)
            return out
        _kernels()[1](
            x,
            y,
            self.origin[0],
            self.origin[1],
            self.extent[0],
            self.extent[1],
            1.0 / self.cell,
            self.shape[0],
            self.shape[1],
            self.owner,
            self.ptr,
            self.edge,
            self.seg,
            self.poly,
            out,
        )
        return out


def build_index(polygons: gpd.GeoSeries | np.ndarray, *, cell: float | None = None) -> PolygonIndex:
    """Index polygons for :meth:`PolygonIndex.query`.

    Parameters
    ----------
    polygons
        Polygons and multipolygons (a GeoSeries or an array of shapely
        geometries), in the coordinates the points will come in. Missing or
        empty geometries contain nothing.
    cell
        The grid's cell size; by default chosen from the data (see the module
        docstring).

    Returns
    -------
    PolygonIndex
        The index; position ``i`` of ``polygons`` is polygon ``i``.
    """
    geoms = np.asarray(polygons.array if isinstance(polygons, gpd.GeoSeries) else polygons)
    geoms = np.asarray(geoms, dtype=object).reshape(-1)
    n = len(geoms)
    kinds = shapely.get_type_id(geoms)
    # 3 Polygon, 6 MultiPolygon; -1 missing. Anything else (a point, a line) is a caller error.
    bad = ~np.isin(kinds, (-1, 3, 6))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"polygon {i} is a {geoms[i].geom_type}, not a Polygon or MultiPolygon",
            hint="pass the polygon layer (grids, communities …)",
        )
    seg, poly, flat = _edges(geoms)
    if not len(flat):
        empty = np.empty(0, np.int64)
        return PolygonIndex(
            n, (0.0, 0.0), (0.0, 0.0), 1.0, (1, 1), np.full(1, -1, np.int64), np.zeros(2, np.int64),
            empty, np.empty((0, 4)), empty,
        )  # fmt: skip
    x0, y0 = float(flat[:, [0, 2]].min()), float(flat[:, [1, 3]].min())
    x1, y1 = float(flat[:, [0, 2]].max()), float(flat[:, [1, 3]].max())
    width, height = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
    # Per polygon: the leftmost x (the strip of each edge starts there).
    pxmin = np.full(n, np.inf)
    np.minimum.at(pxmin, poly, np.minimum(seg[:, 0], seg[:, 2]))

    if cell is None:
        n_poly = max(len(np.unique(poly)), 1)
        cells = min(max(_CELLS_PER_POLYGON * n_poly, len(seg)), _MAX_CELLS)
        cell = math.sqrt(width * height / cells)
        # Coarsen until the strips fit the budget (the count is exact, and cheap).
        budget = reference_budget(len(seg))
        while _strip_refs(seg, poly, pxmin, x0, y0, x1, y1, cell) > budget:
            cell *= math.sqrt(2.0)
    cell = float(cell)
    nx = max(1, math.ceil(width / cell))
    ny = max(1, math.ceil(height / cell))
    build, _ = _kernels()
    owner, ptr, edge = build(
        np.ascontiguousarray(seg),
        np.ascontiguousarray(poly),
        np.ascontiguousarray(pxmin[poly]),
        np.ascontiguousarray(flat),
        x0,
        y0,
        x1,
        y1,
        1.0 / cell,
        cell,
        ny,
        nx,
    )
    return PolygonIndex(n, (x0, y0), (x1, y1), cell, (ny, nx), owner, ptr, edge, seg, poly)


def reference_budget(n_edges: int) -> int:
    """How many edge references an index of ``n_edges`` edges may hold (see the constants)."""
    return min(max(_REFS_PER_EDGE * n_edges, _MIN_REFS), _MAX_REFS)


def assign_points(x: np.ndarray, y: np.ndarray, polygons: gpd.GeoSeries | np.ndarray) -> np.ndarray:
    """The index of the polygon containing each point, −1 outside all.

    Parameters
    ----------
    x, y
        Point coordinates, in the polygons' coordinate system (1-D, same length).
        NaN coordinates are outside.
    polygons
        Polygons and multipolygons (GeoSeries or array of shapely geometries).
        Holes and multipolygon parts are handled.

    Returns
    -------
    numpy.ndarray
        ``int64`` positions into ``polygons`` (not index labels), −1 where no
        polygon contains the point. A point on a boundary goes to exactly one
        polygon, by the rule in this module's docstring (the polygon to its
        right; on a horizontal boundary or a vertex, to its upper right).

    Examples
    --------
    >>> counts = count_per_polygon(assign_points(x, y, grids.geometry), len(grids))
    """
    return build_index(polygons).query(x, y)


def count_per_polygon(assignment: np.ndarray, n: int) -> np.ndarray:
    """How many points each polygon holds.

    Parameters
    ----------
    assignment
        From :func:`assign_points` (−1 = outside, not counted).
    n
        Number of polygons.

    Returns
    -------
    numpy.ndarray
        ``int64`` counts, length ``n``.
    """
    a = np.asarray(assignment, dtype=np.int64)
    # Shifting by one puts the outside points in bin 0, then drops it: one pass, no mask copy.
    return np.bincount(a + 1, minlength=n + 1)[1 : n + 1].astype(np.int64, copy=False)


def assign_frame(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    polygons: gpd.GeoDataFrame,
    key: str = "code",
) -> pd.Series:
    """The ``key`` of the polygon containing each point (missing outside all).

    Parameters
    ----------
    points
        Point features (any CRS; projected to the polygons' CRS if different).
        Missing or empty geometries are outside.
    polygons
        Polygon features with a ``key`` column.
    key
        The column to report (``code`` by default).

    Returns
    -------
    pandas.Series
        Indexed like ``points``, named ``key``, with the dtype of
        ``polygons[key]`` (numpy integers become their nullable twin, ``Int64``),
        missing where no polygon contains the point.
    """
    if key not in polygons.columns:
        raise InputError(
            f"the polygons have no '{key}' column", hint=f"use one of {list(polygons.columns)}"
        )
    geo = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    if polygons.crs is not None and geo.crs is not None and geo.crs != polygons.crs:
        geo = geo.to_crs(polygons.crs)
    arr = np.asarray(geo.array, dtype=object)
    kinds = shapely.get_type_id(arr)
    if np.any((kinds != 0) & (kinds != -1) & ~shapely.is_empty(arr)):
        raise InputError("assign_frame takes point features", hint="use centroids for other shapes")
    with np.errstate(invalid="ignore"):
        x = shapely.get_x(arr)
        y = shapely.get_y(arr)
    idx = assign_points(x, y, polygons.geometry)
    values = polygons[key].reset_index(drop=True)
    if values.dtype.kind in "iub":
        # A numpy integer key cannot hold "outside": its nullable twin can.
        values = values.convert_dtypes()
    # reindex with −1 → missing, keeping the key's dtype (Arrow `str` stays `str`).
    out = values.reindex(idx)
    out.index = points.index
    out.name = key
    return out


# ---------------------------------------------------------------------------
# Edges


def _edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ring edge of every polygon.

    Returns ``(seg, poly, flat)``: the non-horizontal edges in canonical
    direction (lower end first) with their polygon, and all edges (horizontal
    ones too, any direction) for marking the cells they touch.
    """
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    same = coord_of[:-1] == coord_of[1:]
    a, b = coords[:-1][same], coords[1:][same]
    poly_all = part_of[ring_of[coord_of[:-1][same]]].astype(np.int64)
    flat = np.column_stack([a, b])
    keep = a[:, 1] != b[:, 1]
    a, b, poly = a[keep], b[keep], poly_all[keep]
    # Canonical direction: the same shared edge gives bit-identical crossings in both polygons.
    swap = a[:, 1] > b[:, 1]
    lo = np.where(swap[:, None], b, a)
    hi = np.where(swap[:, None], a, b)
    seg = np.column_stack([lo, hi]).astype(np.float64)
    # Edges are in polygon order (get_parts/get_rings keep it): the per-cell lists
    # come out grouped by polygon without a sort.
    return seg, poly, flat.astype(np.float64)


def _strip_refs(
    seg: np.ndarray,
    poly: np.ndarray,
    pxmin: np.ndarray,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    cell: float,
) -> int:
    """How many edge references the index would hold at this cell size (vectorised)."""
    nx = max(1, math.ceil((x1 - x0) / cell))
    ny = max(1, math.ceil((y1 - y0) / cell))
    inv = 1.0 / cell
    rows = np.clip(((seg[:, 3] - y0) * inv).astype(np.int64), 0, ny - 1) - np.clip(
        ((seg[:, 1] - y0) * inv).astype(np.int64), 0, ny - 1
    )
    cols = np.clip(
        ((np.maximum(seg[:, 0], seg[:, 2]) - x0) * inv).astype(np.int64), 0, nx - 1
    ) - np.clip(((pxmin[poly] - x0) * inv).astype(np.int64), 0, nx - 1)
    return int(((rows + 1) * (cols + 1)).sum())


# ---------------------------------------------------------------------------
# Compiled kernels (plain Python here; numba compiles them on first use)


def _crosses(px: float, py: float, xa: float, ya: float, xb: float, yb: float) -> bool:
    """Does the ray from (px, py) towards +x cross the canonical edge (ya < yb)?

    Half-open in y (``ya <= py < yb``) and strict in x (the edge lies to the
    right of the point). The two shortcuts keep the answer inside the edge's
    bounding box whatever the rounding, which the index relies on.
    """
    if py < ya or py >= yb:
        return False
    if xa <= xb:
        lo, hi = xa, xb
    else:
        lo, hi = xb, xa
    if px >= hi:
        return False
    if px < lo:
        return True
    return px < xa + (py - ya) * ((xb - xa) / (yb - ya))


def _cell_of(v: float, v0: float, inv: float, n: int) -> int:
    # Monotone in v (subtract then scale by a positive constant): a point inside an
    # edge's bounding box falls in a cell inside the edge's cell range.
    i = math.floor((v - v0) * inv)
    if i < 0:
        return 0
    if i >= n:
        return n - 1
    return i


def _build_py(seg, poly, strip_x0, flat, x0, y0, x1, y1, inv, cell, ny, nx):
    """owner, ptr, edge arrays of :class:`PolygonIndex` (see there)."""
    cell_of = _cell_of_nb
    n_cells = ny * nx
    ne = seg.shape[0]

    # --- 1. cells touched by an edge (any edge, horizontal too): no fast path there.
    # Padded by a millionth of a cell, so rounding never leaves a touched cell clean.
    pad = cell * 1e-6
    dirty = np.zeros(n_cells, np.bool_)
    for e in range(flat.shape[0]):
        ax, ay, bx, by = flat[e, 0], flat[e, 1], flat[e, 2], flat[e, 3]
        ylo = min(ay, by)
        yhi = max(ay, by)
        r0 = cell_of(ylo - pad, y0, inv, ny)
        r1 = cell_of(yhi + pad, y0, inv, ny)
        for r in range(r0, r1 + 1):
            if ay == by:
                xlo = min(ax, bx)
                xhi = max(ax, bx)
            else:
                # The edge's x-range within this row's y-range.
                ra = max(ylo, y0 + r * cell - pad)
                rb = min(yhi, y0 + (r + 1) * cell + pad)
                if ra > rb:
                    ra = rb
                t = (bx - ax) / (by - ay)
                xa_ = ax + (ra - ay) * t
                xb_ = ax + (rb - ay) * t
                xlo = min(xa_, xb_)
                xhi = max(xa_, xb_)
                xlo = max(xlo, min(ax, bx))
                xhi = min(xhi, max(ax, bx))
            c0 = cell_of(xlo - pad, x0, inv, nx)
            c1 = cell_of(xhi + pad, x0, inv, nx)
            for c in range(c0, c1 + 1):
                dirty[r * nx + c] = True

    # --- 2. strips: edge e goes to the cells of its rows, from its polygon's left end
    # to its own right end (any ray that can cross it starts there). Count, then fill.
    count = np.zeros(n_cells + 1, np.int64)
    for e in range(ne):
        r0 = cell_of(seg[e, 1], y0, inv, ny)
        r1 = cell_of(seg[e, 3], y0, inv, ny)
        c0 = cell_of(strip_x0[e], x0, inv, nx)
        c1 = cell_of(max(seg[e, 0], seg[e, 2]), x0, inv, nx)
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                count[r * nx + c + 1] += 1
    ptr = np.cumsum(count)
    fill = ptr[:-1].copy()
    edge = np.empty(ptr[-1], np.int64)
    # Edges come in polygon order, so each cell's list is grouped by polygon.
    for e in range(ne):
        r0 = cell_of(seg[e, 1], y0, inv, ny)
        r1 = cell_of(seg[e, 3], y0, inv, ny)
        c0 = cell_of(strip_x0[e], x0, inv, nx)
        c1 = cell_of(max(seg[e, 0], seg[e, 2]), x0, inv, nx)
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                k = r * nx + c
                edge[fill[k]] = e
                fill[k] += 1

    # --- 3. the owner of each clean cell: its centre's polygon.
    owner = np.full(n_cells, -2, np.int64)
    for r in range(ny):
        cy = y0 + (r + 0.5) * cell
        for c in range(nx):
            k = r * nx + c
            if dirty[k]:
                continue
            cx = x0 + (c + 0.5) * cell
            owner[k] = _parity_nb(cx, cy, ptr[k], ptr[k + 1], edge, seg, poly)
    return owner, ptr, edge


def _parity_py(px, py, start, stop, edge, seg, poly):
    """The lowest-index polygon of the cell list [start, stop) with odd parity, or −1."""
    cur = -1
    odd = False
    for i in range(start, stop):
        e = edge[i]
        p = poly[e]
        if p != cur:
            if odd:
                return cur
            cur = p
            odd = False
        if _crosses_nb(px, py, seg[e, 0], seg[e, 1], seg[e, 2], seg[e, 3]):
            odd = not odd
    if odd:
        return cur
    return -1


def _query_py(x, y, x0, y0, x1, y1, inv, ny, nx, owner, ptr, edge, seg, poly, out):
    for i in range(x.shape[0]):
        px = x[i]
        py = y[i]
        # Outside the layer's bounds (or NaN: every comparison is False): outside all.
        if not (px >= x0 and px <= x1 and py >= y0 and py <= y1):
            out[i] = -1
            continue
        k = _cell_of_nb(py, y0, inv, ny) * nx + _cell_of_nb(px, x0, inv, nx)
        o = owner[k]
        if o != -2:
            out[i] = o
        else:
            out[i] = _parity_nb(px, py, ptr[k], ptr[k + 1], edge, seg, poly)


# Module-level names the kernels call; replaced by their compiled versions in _kernels().
_cell_of_nb = _cell_of
_crosses_nb = _crosses
_parity_nb = _parity_py


@functools.cache
def _kernels():
    """(build, query), compiled; numba is imported on first use, not with gridmap."""
    global _cell_of_nb, _crosses_nb, _parity_nb
    try:
        import numba
    except ImportError as error:  # pragma: no cover - numba is a dependency
        raise ImportError("point assignment needs numba: pip install numba") from error
    jit = numba.njit(cache=True, nogil=True)
    # Helpers first: numba resolves the globals a kernel calls when it compiles it.
    _cell_of_nb = jit(_cell_of)
    _crosses_nb = jit(_crosses)
    _parity_nb = jit(_parity_py)
    return jit(_build_py), jit(_query_py)
