"""networkx references for the walking-network tests (shared by several test modules).

The reference graph (:func:`nx_reference`) is built independently of
gridmap's algorithms: the network's segments, each split at the snap points
on it, plus one leaf per point joined by its access walk.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from shapely.geometry import LineString
from shapely.ops import substring

from gridmap.network import Snapped, WalkNetwork


def nx_reference(net: WalkNetwork, **groups: Snapped) -> nx.Graph:
    """The network as a networkx graph, split at every snap point.

    Each reachable point of group ``name`` becomes the leaf ``(name, i)``,
    joined by its access distance to its own snap node on the segment.
    """
    on_segment: dict[int, list[tuple[float, tuple[str, int]]]] = {}
    for name, pts in groups.items():
        for i in np.flatnonzero(pts.reachable):
            on_segment.setdefault(int(pts.segment[i]), []).append((float(pts.t[i]), (name, i)))
    g = nx.Graph()
    g.add_nodes_from(range(net.n_nodes))
    for k in range(net.n_segments):
        u, v, length = int(net.u[k]), int(net.v[k]), float(net.length[k])
        prev, prev_t = u, 0.0
        for t, key in sorted(on_segment.get(k, [])):
            here = ("snap", *key)
            g.add_edge(prev, here, weight=(t - prev_t) * length)
            prev, prev_t = here, t
        g.add_edge(prev, v, weight=(1.0 - prev_t) * length)
    for name, pts in groups.items():
        for i in np.flatnonzero(pts.reachable):
            g.add_edge((name, i), ("snap", name, i), weight=float(pts.access[i]))
    return g


def nx_nearest(g: nx.Graph, sources: Snapped, targets: Snapped, limit: float) -> np.ndarray:
    """networkx: distance from each target to its nearest source, inf beyond ``limit``."""
    starts = [("s", i) for i in np.flatnonzero(sources.reachable)]
    out = np.full(len(targets), np.inf)
    if starts:
        dist = nx.multi_source_dijkstra_path_length(g, starts, cutoff=limit, weight="weight")
        for j in np.flatnonzero(targets.reachable):
            out[j] = dist.get(("t", j), np.inf)
    return out


def nx_counts(g: nx.Graph, sources: Snapped, targets: Snapped, limit: float) -> np.ndarray:
    """networkx: per target, how many sources lie within ``limit``."""
    out = np.zeros(len(targets), np.int64)
    for i in np.flatnonzero(sources.reachable):
        dist = nx.single_source_dijkstra_path_length(g, ("s", i), cutoff=limit, weight="weight")
        for key in dist:
            if isinstance(key, tuple) and key[0] == "t":
                out[key[1]] += 1
    return out


def _split_geometry(net: WalkNetwork, pts: Snapped, name: str) -> dict:
    """Coordinates of the reference graph's snap nodes and leaves of one group."""
    out = {}
    for i in np.flatnonzero(pts.reachable):
        seg = pts.segment[i]
        a, b = net.xy[net.u[seg]], net.xy[net.v[seg]]
        out[("snap", name, i)] = a + pts.t[i] * (b - a)
        out[(name, i)] = pts.xy[i]
    return out


def _is_leaf(node) -> bool:
    return isinstance(node, tuple) and node[0] in ("s", "t")


def reached_street_parts(
    net: WalkNetwork, g: nx.Graph, sources: Snapped, targets: Snapped, i: int, limit: float
) -> tuple[list[LineString], list[LineString]]:
    """The street parts reached from source ``i`` within ``limit`` (networkx), and the rest."""
    where = {n: net.xy[n] for n in range(net.n_nodes)}
    where |= _split_geometry(net, sources, "s") | _split_geometry(net, targets, "t")
    dist = nx.single_source_dijkstra_path_length(g, ("s", i), cutoff=limit, weight="weight")
    reached, unreached = [], []
    for a, b, data in g.edges(data=True):
        pa, pb, w = where[a], where[b], data["weight"]
        # Other points' access walks are dead ends to a door, not streets.
        if w == 0 or any(_is_leaf(x) and x != ("s", i) for x in (a, b)):
            continue
        ra = limit - dist.get(a, np.inf)
        rb = limit - dist.get(b, np.inf)
        line = LineString([pa, pb])
        if ra + rb >= w:
            reached.append(line)
            continue
        if ra > 0:
            reached.append(substring(line, 0, ra))
        if rb > 0:
            reached.append(substring(line, w - rb, w))
        lo, hi = max(ra, 0.0), w - max(rb, 0.0)
        unreached.append(substring(line, lo, hi))
    return reached, unreached
