"""The walking network: a street graph in metres, snapping, and distances along it.

Coverage is measured along the streets people walk, not as the crow flies
(docs/domain.md#service-circles). This module turns a roads layer into a graph and answers
the questions coverage asks of it:

* :func:`build_network` — roads to a :class:`WalkNetwork`: vertex-to-vertex
  segments, nodes where lines share a vertex (and only there: a bridge crossing
  a street does not connect to it), lengths in metres, connected components;
* :func:`snap` — points (building centroids, facilities) join the network at
  the nearest point of the nearest segment; the straight walk there counts;
* :func:`nearest_distance` — for every target, the walk to its nearest source;
* :func:`reachable_counts` — for every target, how many sources lie within a
  distance;
* :func:`service_areas` — the streets reachable from each source, buffered.

A distance between a source ``s`` and a target ``t`` is always
``access(s) + along the streets + access(t)``: from the source's point to its
snap point, along the network, then to the target's point. Points too far from
every street are *unreachable*: kept, flagged, never silently dropped.

Nearest distances use one multi-source :func:`scipy.sparse.csgraph.dijkstra`
over *virtual* source nodes; counts, pairs and service areas use a compiled
(numba) Dijkstra bounded by the distance limit that resets only the nodes it
touched, so each source costs what its neighbourhood costs, not the whole graph
(CONTRIBUTING.md, "Measured on this hardware"). numba is imported, and the kernel
compiled, on first use; the compiled code is cached on disk.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.sparse.csgraph import connected_components, dijkstra

from gridmap.crs import STORAGE_CRS, utm_crs
from gridmap.errors import InputError

__all__ = [
    "WalkNetwork",
    "Snapped",
    "build_network",
    "snap",
    "nearest_distance",
    "reachable_counts",
    "service_areas",
]

_LINE_TYPES = ("LineString", "MultiLineString", "LinearRing")


# ---------------------------------------------------------------------------
# The network


@dataclass(eq=False)
class WalkNetwork:
    """A walking network in a metric CRS.

    Each segment is a straight piece of a road between two consecutive vertices;
    its endpoints are nodes. Build one with :func:`build_network`.

    Attributes
    ----------
    crs
        The metric (UTM) CRS of every coordinate and length.
    xy
        Node coordinates, shape ``(n_nodes, 2)``.
    graph
        Symmetric CSR adjacency matrix, ``graph[u, v]`` = segment length in metres.
    u, v
        Endpoint nodes of each segment (``u != v``).
    length
        Segment lengths in metres.
    geometry
        Segment geometries (two-point LineStrings, metric), from ``u`` to ``v``.
    component
        Connected component label of each node (0 = the largest).
    road
        For each segment, the position (0-based row) of the road it came from.
    road_id
        For each segment, that road's ``id`` (or index label when there is no ``id``).
    """

    crs: CRS
    xy: np.ndarray
    graph: sp.csr_array
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    geometry: np.ndarray
    component: np.ndarray
    road: np.ndarray
    road_id: np.ndarray
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.xy.shape[0])

    @property
    def n_segments(self) -> int:
        """Number of segments."""
        return int(self.u.shape[0])

    def summary(self) -> dict[str, Any]:
        """A small description: sizes, total length and connected components.

        Returns
        -------
        dict
            ``nodes``, ``segments``, ``length_m``, ``components`` (count) and
            ``component_sizes`` (node counts of the ten largest, largest first).
        """
        sizes = np.bincount(self.component) if self.n_nodes else np.zeros(0, np.int64)
        return {
            "nodes": self.n_nodes,
            "segments": self.n_segments,
            "length_m": float(self.length.sum()),
            "components": int(sizes.size),
            "component_sizes": [int(s) for s in np.sort(sizes)[::-1][:10]],
        }

    # Derived structures, built on first use and kept: the network is not
    # modified after build_network, so they never go stale.

    def _tree(self) -> shapely.STRtree:
        if "tree" not in self._cache:
            self._cache["tree"] = shapely.STRtree(self.geometry)
        return self._cache["tree"]

    def _kernel_graph(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # One dtype for the compiled kernel, so it is compiled (and cached) once.
        if "kgraph" not in self._cache:
            g = self.graph
            self._cache["kgraph"] = (
                g.indptr.astype(np.int64),
                g.indices.astype(np.int64),
                g.data.astype(np.float64),
            )
        return self._cache["kgraph"]

    def _node_segments(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr, segment) of the segments meeting at each node."""
        if "nodeseg" not in self._cache:
            ends = np.concatenate([self.u, self.v])
            order = np.argsort(ends, kind="stable")
            segs = np.concatenate([np.arange(self.n_segments)] * 2)[order]
            ptr = np.zeros(self.n_nodes + 1, np.int64)
            np.cumsum(np.bincount(ends, minlength=self.n_nodes), out=ptr[1:])
            self._cache["nodeseg"] = (ptr, segs)
        return self._cache["nodeseg"]


def build_network(roads: gpd.GeoDataFrame | gpd.GeoSeries) -> WalkNetwork:
    """Build the walking network of a roads layer.

    Parameters
    ----------
    roads
        Road lines (LineString or MultiLineString) in any CRS. Lines connect
        where they share a vertex, and only there: lines that cross without a
        shared vertex (a bridge over a street) stay unconnected, as they are
        on the ground. Import roads noded at junctions (OSM ways are).

    Returns
    -------
    WalkNetwork
        In the UTM zone of the roads' centre. Zero-length pieces are dropped;
        where two roads run along the same vertex pair, the segment is kept
        once (it is attributed to the first road).

    Raises
    ------
    InputError
        If there are no roads, they have no CRS, or a geometry is not a line.
    """
    geoms_in = roads.geometry if isinstance(roads, gpd.GeoDataFrame) else roads
    if roads.crs is None:
        raise InputError(
            "the roads have no coordinate reference system",
            field="geometry",
            hint="set one (stored layers are EPSG:4326) before building the network",
        )
    keep = ~(geoms_in.isna() | geoms_in.is_empty).to_numpy()
    if not keep.any():
        raise InputError(
            "no roads: the walking network needs at least one road line",
            hint="import a roads layer (LineStrings noded at junctions) first",
        )
    kinds = geoms_in.geom_type.to_numpy()
    bad = keep & ~np.isin(kinds, _LINE_TYPES)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"road geometry is a {kinds[first]}, not a line",
            row=first + 1,
            field="geometry",
            hint="roads must be LineStrings or MultiLineStrings",
        )

    # Metric CRS of the data's centre: lengths and snapping distances in metres.
    minx, miny, maxx, maxy = geoms_in[keep].to_crs(STORAGE_CRS).total_bounds
    crs = utm_crs((minx + maxx) / 2, (miny + maxy) / 2)
    metric = geoms_in.to_crs(crs).to_numpy()

    # Explode into vertex-to-vertex pieces, remembering each piece's road row.
    rows = np.flatnonzero(keep)
    parts, part_row = shapely.get_parts(metric[rows], return_index=True)
    coords, coord_part = shapely.get_coordinates(parts, return_index=True)
    inner = coord_part[1:] == coord_part[:-1]
    a, b = coords[:-1][inner], coords[1:][inner]
    seg_row = rows[part_row[coord_part[:-1][inner]]]
    if a.shape[0] == 0:
        raise InputError(
            "no roads: every road line has fewer than two vertices",
            hint="import a roads layer (LineStrings noded at junctions) first",
        )

    # Nodes are the distinct vertex coordinates. A complex view sorts pairs
    # (x, y) in one pass, much faster than np.unique(axis=0).
    ends = np.ascontiguousarray(np.concatenate([a, b]))
    uniq, inverse = np.unique(ends.view(np.complex128).ravel(), return_inverse=True)
    xy = np.column_stack([uniq.real, uniq.imag])
    m = a.shape[0]
    u, v = inverse[:m].astype(np.int64), inverse[m:].astype(np.int64)

    # Drop zero-length pieces (repeated vertices) and keep each vertex pair
    # once: a CSR built from duplicates would *sum* their lengths.
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    candidates = np.flatnonzero(u != v)
    _, first = np.unique(lo[candidates] * xy.shape[0] + hi[candidates], return_index=True)
    sel = np.sort(candidates[first])
    u, v, seg_row = u[sel], v[sel], seg_row[sel]
    length = np.hypot(*(xy[v] - xy[u]).T)

    # Nodes only on dropped pieces would be isolated: renumber without them.
    used = np.zeros(xy.shape[0], bool)
    used[u] = used[v] = True
    renum = np.cumsum(used) - 1
    xy, u, v = xy[used], renum[u], renum[v]
    n = xy.shape[0]

    graph = sp.csr_array(
        (np.concatenate([length, length]), (np.concatenate([u, v]), np.concatenate([v, u]))),
        shape=(n, n),
    )
    _, labels = connected_components(graph, directed=False)
    # Relabel so that 0 is the largest component: summaries read naturally.
    order = np.argsort(-np.bincount(labels), kind="stable")
    component = np.argsort(order)[labels]

    if isinstance(roads, gpd.GeoDataFrame) and "id" in roads.columns:
        ids = roads["id"].to_numpy(dtype=object)
    else:
        ids = roads.index.to_numpy(dtype=object)

    return WalkNetwork(
        crs=crs,
        xy=xy,
        graph=graph,
        u=u,
        v=v,
        length=length,
        geometry=shapely.linestrings(np.stack([xy[u], xy[v]], axis=1)),
        component=component,
        road=seg_row,
        road_id=ids[seg_row],
    )


# ---------------------------------------------------------------------------
# Snapping


@dataclass(eq=False)
class Snapped:
    """Points joined to a :class:`WalkNetwork`.

    Attributes
    ----------
    segment
        The segment each point joins, ``-1`` if it is unreachable.
    t
        Position of the join along the segment, 0 at ``u`` to 1 at ``v``.
    access
        The straight walk from the point to the join, in metres (``inf`` if unreachable).
    reachable
        Whether the point joined the network (it lies within the snapping distance).
    xy
        The points' own metric coordinates (NaN for a missing geometry).
    """

    segment: np.ndarray
    t: np.ndarray
    access: np.ndarray
    reachable: np.ndarray
    xy: np.ndarray

    def __len__(self) -> int:
        return int(self.segment.shape[0])

    def take(self, index: np.ndarray) -> Snapped:
        """The points at ``index`` (positions or a boolean mask), in that order."""
        return Snapped(
            self.segment[index],
            self.t[index],
            self.access[index],
            self.reachable[index],
            self.xy[index],
        )

    @staticmethod
    def concat(parts: list[Snapped]) -> Snapped:
        """The points of several :class:`Snapped`, one after the other."""
        return Snapped(
            *(
                np.concatenate([getattr(p, name) for p in parts])
                for name in ("segment", "t", "access", "reachable", "xy")
            )
        )


def _points_xy(network: WalkNetwork, points: Any) -> np.ndarray:
    """Metric coordinates of points: Points as they are, other shapes by centroid."""
    if isinstance(points, gpd.GeoDataFrame):
        points = points.geometry
    if isinstance(points, gpd.GeoSeries):
        if points.crs is None:
            raise InputError(
                "the points have no coordinate reference system",
                field="geometry",
                hint="set one (stored layers are EPSG:4326)",
            )
        geoms = points.to_crs(network.crs).to_numpy()
    else:
        # Bare shapely geometries (or an (n, 2) array) are taken to be in the
        # network's metric CRS: there is nothing to say otherwise.
        arr = np.asarray(points)
        if arr.dtype != object:
            arr = arr.reshape(-1, 2).astype(float)
            return arr.copy()
        geoms = arr
    xy = np.full((len(geoms), 2), np.nan)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    # A building is represented by its centroid (computed in metres).
    xy[ok] = shapely.get_coordinates(shapely.centroid(geoms[ok]))
    return xy


def snap(network: WalkNetwork, points: Any, *, max_distance: float = 200.0) -> Snapped:
    """Join points to the nearest point of the nearest street segment.

    Parameters
    ----------
    network
        The walking network.
    points
        A GeoDataFrame or GeoSeries in any CRS (polygons, e.g. buildings, are
        represented by their centroids), or shapely geometries / an ``(n, 2)``
        array of coordinates already in ``network.crs``.
    max_distance
        Points farther than this (metres) from every street are unreachable:
        they stay in the result, with ``segment == -1``.

    Returns
    -------
    Snapped
        One entry per point, in input order.
    """
    if not np.isfinite(max_distance) or max_distance < 0:
        raise InputError(
            f"snapping distance {max_distance} m is not a distance",
            hint="give a non-negative number of metres",
        )
    xy = _points_xy(network, points)
    n = xy.shape[0]
    segment = np.full(n, -1, np.int64)
    t = np.zeros(n)
    access = np.full(n, np.inf)
    ok = np.flatnonzero(~np.isnan(xy).any(axis=1))
    if ok.size:
        pts = shapely.points(xy[ok])
        # The nearest segment, not the nearest node: a building in the middle
        # of a long block walks straight to the street in front of it.
        (qi, si), dist = network._tree().query_nearest(
            pts, max_distance=max_distance, return_distance=True, all_matches=False
        )
        hit = ok[qi]
        segment[hit] = si
        access[hit] = dist
        t[hit] = shapely.line_locate_point(network.geometry[si], pts[qi], normalized=True)
    return Snapped(segment, t, access, segment >= 0, xy)


# ---------------------------------------------------------------------------
# Distances


def _check_limit(limit: float) -> float:
    if limit is None or not np.isfinite(limit) or limit < 0:
        raise InputError(
            f"distance limit {limit} m is not a distance",
            hint="give a non-negative, finite number of metres",
        )
    return float(limit)


def _entry_costs(network: WalkNetwork, pts: Snapped) -> tuple[np.ndarray, ...]:
    """For reachable points: index, segment, and cost to/from each segment end."""
    idx = np.flatnonzero(pts.reachable)
    seg = pts.segment[idx]
    along = pts.t[idx] * network.length[seg]
    acc = pts.access[idx]
    return idx, seg, acc + along, acc + (network.length[seg] - along), along, acc


def _node_distances(network: WalkNetwork, sources: Snapped, limit: float) -> np.ndarray:
    """Network distance from the nearest source to every node (``inf`` beyond ``limit``)."""
    n = network.n_nodes
    _, seg, cost_u, cost_v, _, _ = _entry_costs(network, sources)
    k = seg.size
    if k == 0:
        return np.full(n, np.inf)
    # One virtual node per source, with edges *out* to its segment's two ends
    # (access + the walk along the segment); directed, so no path passes
    # through a source. Rows are appended to the street graph's CSR as is.
    g = network.graph
    indptr = np.concatenate([g.indptr, g.indptr[-1] + 2 * np.arange(1, k + 1)])
    indices = np.concatenate([g.indices, np.column_stack([network.u[seg], network.v[seg]]).ravel()])
    data = np.concatenate([g.data, np.column_stack([cost_u, cost_v]).ravel()])
    aug = sp.csr_array((data, indices, indptr), shape=(n + k, n + k))
    # scipy keeps distances <= limit, but it sums along the path in its own
    # order: search a hair beyond, so that a node a rounding error over the
    # limit still passes its distance on; the exact cut is made by the caller.
    dist = dijkstra(
        aug,
        directed=True,
        indices=np.arange(n, n + k),
        min_only=True,
        limit=limit * (1 + 1e-12) + 1e-9,
    )
    return dist[:n]


def _same_segment_min(
    network: WalkNetwork, sources: Snapped, targets: Snapped, out: np.ndarray
) -> None:
    """Lower ``out`` (per target) by the walk to a source on the target's own segment."""
    _, s_seg, _, _, s_along, s_acc = _entry_costs(network, sources)
    t_idx, t_seg, _, _, t_along, t_acc = _entry_costs(network, targets)
    if s_seg.size == 0 or t_idx.size == 0:
        return
    order = np.argsort(s_seg, kind="stable")
    s_seg, s_along, s_acc = s_seg[order], s_along[order], s_acc[order]
    lo = np.searchsorted(s_seg, t_seg, side="left")
    hi = np.searchsorted(s_seg, t_seg, side="right")
    count = hi - lo
    if not count.any():
        return
    # Every (target, source) pair sharing a segment, walked directly along it.
    pair_t = np.repeat(np.arange(t_idx.size), count)
    pair_s = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
    direct = s_acc[pair_s] + np.abs(s_along[pair_s] - t_along[pair_t]) + t_acc[pair_t]
    best = np.full(t_idx.size, np.inf)
    np.minimum.at(best, pair_t, direct)
    out[t_idx] = np.minimum(out[t_idx], best)


def nearest_distance(
    network: WalkNetwork, sources: Snapped, targets: Snapped, *, limit: float
) -> np.ndarray:
    """Walking distance from each target to its nearest source.

    Parameters
    ----------
    network
        The walking network.
    sources, targets
        Snapped points (e.g. facilities and buildings).
    limit
        Distances beyond this (metres) are not searched and come back ``inf``.

    Returns
    -------
    numpy.ndarray
        Per target, ``access + along the streets + access`` in metres, or ``inf``
        when no source lies within ``limit`` (or either end is unreachable).
        A source on another connected component is never within reach.
    """
    limit = _check_limit(limit)
    node = _node_distances(network, sources, limit)
    out = np.full(len(targets), np.inf)
    t_idx, t_seg, cost_u, cost_v, _, _ = _entry_costs(network, targets)
    # A target is entered from either end of its segment…
    out[t_idx] = np.minimum(node[network.u[t_seg]] + cost_u, node[network.v[t_seg]] + cost_v)
    # …or walked to directly from a source on the same segment.
    _same_segment_min(network, sources, targets, out)
    out[out > limit] = np.inf
    return out


# ---------------------------------------------------------------------------
# The compiled bounded Dijkstra


def _reach_py(
    indptr,
    indices,
    weights,
    n_nodes,
    s_u,
    s_v,
    s_cu,
    s_cv,
    s_seg,
    s_along,
    s_acc,
    nt_ptr,
    nt_tgt,
    nt_cost,
    st_ptr,
    st_tgt,
    t_along,
    t_acc,
    n_targets,
    limit,
    mode,
):  # pragma: no cover - runs compiled by numba
    """Bounded Dijkstra from every source (compiled by numba, see :func:`_kernel`).

    ``mode`` 0: count, per target, the sources within ``limit``; 1: also list
    the (source, target, distance) pairs within ``limit``; 2: list the
    (source, node, distance) of every node within ``limit`` instead.
    One kernel for the three so the heap code exists once.
    """
    inf = np.inf
    dist = np.full(n_nodes, inf)
    touched = np.empty(n_nodes, np.int64)
    # Lazy deletion: a node is pushed only when its distance improves, so the
    # heap never holds more entries than there are directed edges (+2 starts).
    cap = indices.shape[0] + 3
    hd = np.empty(cap, np.float64)
    hn = np.empty(cap, np.int64)
    # stamp[j] == s marks target j as met while searching from source s: each
    # target is counted once per source without clearing an array per source.
    stamp = np.full(max(n_targets, 1), -1, np.int64)
    best = np.empty(max(n_targets, 1), np.float64)
    hit = np.empty(max(n_targets, 1), np.int64)
    counts = np.zeros(max(n_targets, 1), np.int64)
    pcap = 1024
    p_t = np.empty(pcap, np.int64)
    p_d = np.empty(pcap, np.float64)
    ptr = np.zeros(s_u.shape[0] + 1, np.int64)
    npairs = 0

    for s in range(s_u.shape[0]):
        # --- seed the heap with the source's two segment ends
        nt = 0
        size = 0
        for k in range(2):
            node = s_u[s] if k == 0 else s_v[s]
            c = s_cu[s] if k == 0 else s_cv[s]
            if c <= limit and c < dist[node]:
                if dist[node] == inf:
                    touched[nt] = node
                    nt += 1
                dist[node] = c
                # sift up, moving parents into the hole rather than swapping
                i = size
                size += 1
                while i > 0:
                    p = (i - 1) >> 1
                    if hd[p] <= c:
                        break
                    hd[i] = hd[p]
                    hn[i] = hn[p]
                    i = p
                hd[i] = c
                hn[i] = node
        # --- Dijkstra, stopping at the limit
        while size > 0:
            d = hd[0]
            node = hn[0]
            size -= 1
            if size > 0:
                # sift the last entry down from the root, through the hole
                xd = hd[size]
                xn = hn[size]
                i = 0
                while True:
                    small = 2 * i + 1
                    if small >= size:
                        break
                    if small + 1 < size and hd[small + 1] < hd[small]:
                        small += 1
                    if xd <= hd[small]:
                        break
                    hd[i] = hd[small]
                    hn[i] = hn[small]
                    i = small
                hd[i] = xd
                hn[i] = xn
            if d > dist[node]:
                continue  # a stale entry: the node was reached shorter since
            for e in range(indptr[node], indptr[node + 1]):
                w = indices[e]
                nd = d + weights[e]
                if nd < dist[w] and nd <= limit:
                    if dist[w] == inf:
                        touched[nt] = w
                        nt += 1
                    dist[w] = nd
                    i = size
                    size += 1
                    while i > 0:
                        p = (i - 1) >> 1
                        if hd[p] <= nd:
                            break
                        hd[i] = hd[p]
                        hn[i] = hn[p]
                        i = p
                    hd[i] = nd
                    hn[i] = w

        if mode == 2:
            # --- the reached nodes themselves
            if npairs + nt > pcap:
                pcap = max(2 * pcap, npairs + nt)
                p_t = np.concatenate((p_t, np.empty(pcap - p_t.shape[0], np.int64)))
                p_d = np.concatenate((p_d, np.empty(pcap - p_d.shape[0], np.float64)))
            for i in range(nt):
                p_t[npairs] = touched[i]
                p_d[npairs] = dist[touched[i]]
                npairs += 1
        else:
            # --- targets entered from a reached segment end
            nh = 0
            for i in range(nt):
                node = touched[i]
                d = dist[node]
                for e in range(nt_ptr[node], nt_ptr[node + 1]):
                    j = nt_tgt[e]
                    dd = d + nt_cost[e]
                    if dd <= limit:
                        if stamp[j] != s:
                            stamp[j] = s
                            best[j] = dd
                            hit[nh] = j
                            nh += 1
                        elif dd < best[j]:
                            best[j] = dd
            # --- targets on the source's own segment, walked to directly
            k = s_seg[s]
            for e in range(st_ptr[k], st_ptr[k + 1]):
                j = st_tgt[e]
                dd = s_acc[s] + abs(s_along[s] - t_along[j]) + t_acc[j]
                if dd <= limit:
                    if stamp[j] != s:
                        stamp[j] = s
                        best[j] = dd
                        hit[nh] = j
                        nh += 1
                    elif dd < best[j]:
                        best[j] = dd
            for i in range(nh):
                counts[hit[i]] += 1
            if mode == 1:
                if npairs + nh > pcap:
                    pcap = max(2 * pcap, npairs + nh)
                    p_t = np.concatenate((p_t, np.empty(pcap - p_t.shape[0], np.int64)))
                    p_d = np.concatenate((p_d, np.empty(pcap - p_d.shape[0], np.float64)))
                for i in range(nh):
                    p_t[npairs] = hit[i]
                    p_d[npairs] = best[hit[i]]
                    npairs += 1
        ptr[s + 1] = npairs

        # --- sparse reset: only what this source touched
        for i in range(nt):
            dist[touched[i]] = inf

    return counts[:n_targets], ptr, p_t[:npairs], p_d[:npairs]


@functools.cache
def _kernel():
    """The compiled kernel; numba is imported on first use, not with gridmap."""
    try:
        import numba
    except ImportError as error:  # pragma: no cover - numba is a dependency
        raise ImportError(
            "network counts and service areas need numba: pip install numba"
        ) from error
    return numba.njit(cache=True, nogil=True)(_reach_py)


def _incidence(ptr_len: int, keys: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    """CSR by ``keys``: (indptr, values sorted by key …)."""
    order = np.argsort(keys, kind="stable")
    ptr = np.zeros(ptr_len + 1, np.int64)
    np.cumsum(np.bincount(keys, minlength=ptr_len), out=ptr[1:])
    return (ptr, *(np.ascontiguousarray(val[order]) for val in values))


def _reach(
    network: WalkNetwork, sources: Snapped, targets: Snapped | None, limit: float, mode: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the kernel: (source positions, counts, ptr, items, distances).

    ``counts`` is per target (input positions); ``items``/``distances`` of the
    k-th listed source are ``items[ptr[k]:ptr[k + 1]]``, where the listed
    sources are the reachable ones, in the order of the first array. Items are
    target positions (mode 1) or nodes (mode 2).
    """
    indptr, indices, weights = network._kernel_graph()
    # Sources and targets are numbered, for the kernel, in the order of their
    # segment's first node: consecutive searches then revisit the same part of
    # the distance array, and a search's targets lie close together in the
    # per-target arrays; random order costs about twice the time in cache misses.
    s_idx, s_seg, s_cu, s_cv, s_along, s_acc = _entry_costs(network, sources)
    s_order = np.argsort(network.u[s_seg], kind="stable")
    s_idx, s_seg, s_cu, s_cv, s_along, s_acc = (
        a[s_order] for a in (s_idx, s_seg, s_cu, s_cv, s_along, s_acc)
    )
    if targets is None:
        t_idx = np.zeros(0, np.int64)
        t_seg = np.zeros(0, np.int64)
        t_cu = t_cv = t_along = t_acc = np.zeros(0)
        n_out = 0
    else:
        t_idx, t_seg, t_cu, t_cv, t_along, t_acc = _entry_costs(network, targets)
        t_order = np.argsort(network.u[t_seg], kind="stable")
        t_idx, t_seg, t_cu, t_cv, t_along, t_acc = (
            a[t_order] for a in (t_idx, t_seg, t_cu, t_cv, t_along, t_acc)
        )
        n_out = len(targets)
    local = np.arange(t_idx.size)
    # Node -> targets on a segment ending there, with the cost from that node.
    nt_ptr, nt_tgt, nt_cost = _incidence(
        network.n_nodes,
        np.concatenate([network.u[t_seg], network.v[t_seg]]),
        np.concatenate([local, local]),
        np.concatenate([t_cu, t_cv]),
    )
    # Segment -> targets on it, for the direct walk along a shared segment.
    st_ptr, st_tgt = _incidence(network.n_segments, t_seg, local)
    counts, ptr, items, dists = _kernel()(
        indptr,
        indices,
        weights,
        network.n_nodes,
        network.u[s_seg],
        network.v[s_seg],
        s_cu,
        s_cv,
        s_seg,
        s_along,
        s_acc,
        nt_ptr,
        nt_tgt,
        nt_cost,
        st_ptr,
        st_tgt,
        t_along,
        t_acc,
        t_idx.size,
        float(limit),
        mode,
    )
    out = np.zeros(n_out, np.int64)
    out[t_idx] = counts
    if mode == 1:
        items = t_idx[items]
    return s_idx, out, ptr, items, dists


def reachable_counts(
    network: WalkNetwork, sources: Snapped, targets: Snapped, *, limit: float
) -> np.ndarray:
    """How many sources each target reaches within ``limit``.

    Parameters
    ----------
    network
        The walking network.
    sources, targets
        Snapped points.
    limit
        The walking distance (metres, access legs included) within which a
        source counts.

    Returns
    -------
    numpy.ndarray
        Integer count per target (0 for unreachable targets).
    """
    limit = _check_limit(limit)
    return _reach(network, sources, targets, limit, mode=0)[1]


def _reach_pairs(
    network: WalkNetwork, sources: Snapped, targets: Snapped, limit: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (source, target, distance) within ``limit``, positions in the inputs."""
    s_idx, _, ptr, items, dists = _reach(network, sources, targets, limit, mode=1)
    src = np.repeat(s_idx, np.diff(ptr))
    return src, items, dists


# ---------------------------------------------------------------------------
# Service areas


def _reached_intervals(
    network: WalkNetwork, owner: np.ndarray, node: np.ndarray, dist: np.ndarray, limit: float
) -> tuple[np.ndarray, ...]:
    """(owner, segment, start, end) of the segment parts reached from nodes at ``dist``.

    ``start``/``end`` are metres from the segment's ``u`` end.
    """
    ptr, segs = network._node_segments()
    deg = ptr[node + 1] - ptr[node]
    o = np.repeat(owner, deg)
    d = np.repeat(dist, deg)
    nd = np.repeat(node, deg)
    seg = segs[np.repeat(ptr[node] - np.cumsum(deg) + deg, deg) + np.arange(deg.sum())]
    # The remaining budget walks into the segment from the reached end: the
    # whole segment when it suffices, else the part up to where it runs out.
    length = network.length[seg]
    reach = np.clip(limit - d, 0.0, length)
    from_u = network.u[seg] == nd
    return o, seg, np.where(from_u, 0.0, length - reach), np.where(from_u, reach, length)


def _own_intervals(
    network: WalkNetwork, sources: Snapped, owner_of: np.ndarray, limit: float
) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """Per source: the stretch of its own segment within reach, and its access leg.

    Returns ((owner, segment, start, end), leg owner, leg lines).
    """
    s_idx, seg, _, _, along, acc = _entry_costs(network, sources)
    ok = acc <= limit
    s_idx, seg, along, acc = s_idx[ok], seg[ok], along[ok], acc[ok]
    owner = owner_of[s_idx]
    r = limit - acc
    stretch = (owner, seg, np.maximum(along - r, 0.0), np.minimum(along + r, network.length[seg]))
    # The straight walk from the point to the street is part of what is reached.
    join = shapely.get_coordinates(shapely.line_interpolate_point(network.geometry[seg], along))
    leg = acc > 0
    legs = shapely.linestrings(np.stack([sources.xy[s_idx][leg], join[leg]], axis=1))
    return stretch, owner[leg], legs


def _union_intervals(
    owner: np.ndarray, seg: np.ndarray, start: np.ndarray, end: np.ndarray, max_len: float
) -> tuple[np.ndarray, ...]:
    """Merge overlapping intervals of the same (owner, segment), vectorised.

    Whole segments are reached from both ends, and a source's own segment is
    reached from its ends and from the source: without merging, buffering
    would do the same street two or three times.
    """
    order = np.lexsort((start, seg, owner))
    owner, seg, start, end = owner[order], seg[order], start[order], end[order]
    new_key = np.ones(owner.size, bool)
    new_key[1:] = (owner[1:] != owner[:-1]) | (seg[1:] != seg[:-1])
    # Running maximum of ``end`` that restarts at each key: offset each key
    # group above all earlier ones so one global accumulate does it.
    rank = np.cumsum(new_key) - 1
    offset = rank * (2.0 * max_len + 1.0)
    run_end = np.maximum.accumulate(end + offset) - offset
    opens = new_key.copy()
    opens[1:] |= start[1:] > run_end[:-1]
    first = np.flatnonzero(opens)
    last = np.append(first[1:], owner.size) - 1
    return owner[first], seg[first], start[first], run_end[last]


def _interval_lines(
    network: WalkNetwork, seg: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """Sub-segments ``[start, end]`` (metres from ``u``) as LineStrings."""
    a, b = network.xy[network.u[seg]], network.xy[network.v[seg]]
    unit = (b - a) / network.length[seg][:, None]
    return shapely.linestrings(
        np.stack([a + unit * start[:, None], a + unit * end[:, None]], axis=1)
    )


def _area_lines(
    network: WalkNetwork,
    sources: Snapped,
    owner_of: np.ndarray,
    node_owner: np.ndarray,
    node: np.ndarray,
    dist: np.ndarray,
    limit: float,
) -> tuple[np.ndarray, np.ndarray]:
    """All reached street parts and access legs, as (owner, line), sorted by owner."""
    reached = _reached_intervals(network, node_owner, node, dist, limit)
    own, leg_owner, legs = _own_intervals(network, sources, owner_of, limit)
    owner, seg, start, end = (np.concatenate([a, b]) for a, b in zip(reached, own, strict=True))
    max_len = float(network.length.max())
    owner, seg, start, end = _union_intervals(owner, seg, start, end, max_len)
    # A zero-length part (a node reached with no budget left) draws nothing.
    keep = end > start
    owner = np.concatenate([owner[keep], leg_owner])
    lines = np.concatenate([_interval_lines(network, seg[keep], start[keep], end[keep]), legs])
    order = np.argsort(owner, kind="stable")
    return owner[order], lines[order]


def service_areas(
    network: WalkNetwork,
    sources: Snapped,
    *,
    limit: float,
    width: float = 10.0,
    merge: bool = False,
) -> np.ndarray | shapely.Geometry:
    """The area each source serves: the streets reachable within ``limit``, buffered.

    Drawn from the reached street segments — partly reached ones up to where
    the walk runs out, from either end — and the source's access walk, buffered
    by ``width``. Never a convex hull of reached nodes, which overclaims the
    blocks between streets (docs/domain.md#service-circles).

    Parameters
    ----------
    network
        The walking network.
    sources
        Snapped points (facilities).
    limit
        Walking distance in metres, the source's access walk included.
    width
        Buffer distance (metres) around the reached streets.
    merge
        Return one geometry covering all sources instead of one per source.

    Returns
    -------
    numpy.ndarray or shapely.Geometry
        Polygons in ``network.crs`` (empty for an unreachable source), one per
        source in input order; or a single (Multi)Polygon with ``merge=True``.
    """
    limit = _check_limit(limit)
    if not np.isfinite(width) or width <= 0:
        raise InputError(f"buffer width {width} m must be positive", hint="give metres > 0")
    n = len(sources)
    if merge:
        # For the union, reach from the *nearest* source is all that matters:
        # a segment end reached at d lets the walk run limit - d into the
        # segment, and the smallest d runs farthest. One multi-source search.
        dist = _node_distances(network, sources, limit)
        node = np.flatnonzero(dist <= limit)
        owner, lines = _area_lines(
            network,
            sources,
            np.zeros(n, np.int64),
            np.zeros(node.size, np.int64),
            node,
            dist[node],
            limit,
        )
        # Buffering each line and unioning the polygons is several times
        # faster in GEOS than buffering one large MultiLineString.
        return shapely.union_all(shapely.buffer(lines, width))

    s_idx, _, ptr, node, dist = _reach(network, sources, None, limit, mode=2)
    node_owner = s_idx[np.repeat(np.arange(s_idx.size), np.diff(ptr))]
    owner, lines = _area_lines(network, sources, np.arange(n), node_owner, node, dist, limit)
    out = np.array([shapely.Polygon()] * n, dtype=object)
    if lines.size:
        groups, first = np.unique(owner, return_index=True)
        buffers = shapely.buffer(lines, width)
        out[groups] = [shapely.union_all(part) for part in np.split(buffers, first[1:])]
    return out
