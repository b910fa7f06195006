"""Clustering of the demo's atoms into units: balanced k-means and contiguity repair.

Units are groups of whole atoms (:mod:`gridmap.demo.atoms`). A subdistrict,
community or grid is one cluster of its parent's atoms: of a given weight
(capacity), compact, and in one connected piece, as real units are. All
coordinates are metres.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["balanced_kmeans", "fill_empty", "farthest_points", "fix_contiguity"]


def balanced_kmeans(
    xy: np.ndarray,
    weight: np.ndarray,
    targets: np.ndarray,
    centres: np.ndarray,
    rounds: int = 8,
    inner: int = 80,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster points into ``len(targets)`` compact groups of given total weight.

    A power diagram (k-means with an additive offset per cluster): for fixed
    centres the offsets are tuned until each cluster's load is near its
    target (sign-adaptive steps on the dual of the capacitated assignment),
    then the centres move to their clusters' centroids, and again. Clusters
    stay convex-ish, which keeps units compact, while capacities let small
    dense units sit beside large sparse ones.

    Parameters
    ----------
    xy
        The points, (n, 2).
    weight
        The weight of each point (what the targets count).
    targets
        The share of the total weight each cluster should get (any scale).
    centres
        The starting centres, (k, 2), e.g. from :func:`farthest_points`.
    rounds
        Times the centres move to their clusters' centroids.
    inner
        Offset steps per round.

    Returns
    -------
    labels, centres, offsets
        The cluster of each point and the diagram's final centres and offsets
        (``argmin |x - c|² - b`` reproduces the labels for new points).
    """
    k = len(targets)
    targets = np.asarray(targets, float)
    targets = targets / targets.sum() * weight.sum()
    c = np.array(centres, float)
    b = np.zeros(k)
    if k == 1:
        return np.zeros(len(xy), int), xy.mean(axis=0, keepdims=True), b
    for r in range(rounds):
        d2 = ((xy[:, None, :] - c[None]) ** 2).sum(axis=2)
        step = np.full(k, 0.05 * np.median(d2.min(axis=1)) + 1.0)
        last = np.zeros(k)
        for _ in range(inner):
            lab = np.argmin(d2 - b[None], axis=1)
            gap = targets - np.bincount(lab, weight, k)
            sign = np.sign(gap)
            step = np.where(sign * last < 0, step * 0.5, step * 1.3)
            b += sign * step
            last = sign
        lab = np.argmin(d2 - b[None], axis=1)
        if r == rounds - 1:
            break
        sw = np.bincount(lab, weight, k)
        live = sw > 0
        for dim in range(2):
            mean = np.bincount(lab, weight * xy[:, dim], k)
            c[live, dim] = mean[live] / sw[live]
    return fill_empty(lab, xy, c, k), c, b


def fill_empty(lab: np.ndarray, xy: np.ndarray, c: np.ndarray, k: int) -> np.ndarray:
    """Give every cluster at least one point, taken from a cluster with several.

    Parameters
    ----------
    lab
        The cluster of each point.
    xy
        The points, (n, 2).
    c
        The cluster centres, (k, 2): an empty cluster takes the nearest
        point that its cluster can spare.
    k
        The number of clusters.

    Raises
    ------
    ValueError
        If there are fewer points than clusters.
    """
    lab = lab.copy()
    for j in range(k):
        if np.any(lab == j):
            continue
        counts = np.bincount(lab, minlength=k)
        donors = np.flatnonzero(counts[lab] > 1)
        if len(donors) == 0:
            raise ValueError("fewer points than clusters")
        d = np.hypot(*(xy[donors] - c[j]).T)
        lab[donors[np.argmin(d)]] = j
    return lab


def farthest_points(xy: np.ndarray, k: int, start: np.ndarray | None = None) -> np.ndarray:
    """Indices of ``k`` points spread out by farthest-point sampling.

    The first is the point nearest the mean (or, with ``start``, the point
    farthest from it): good starting centres for :func:`balanced_kmeans`.

    Parameters
    ----------
    xy
        Candidate points.
    k
        How many to pick.
    start
        Points already chosen elsewhere, to stay away from.
    """
    if k == 0:
        return np.zeros(0, int)
    if start is None or len(start) == 0:
        d = np.hypot(*(xy - xy.mean(axis=0)).T)
        first = int(np.argmin(d))
        chosen = [first]
        d = np.hypot(*(xy - xy[first]).T)
    else:
        d = np.min(
            np.hypot(xy[:, None, 0] - start[None, :, 0], xy[:, None, 1] - start[None, :, 1]), 1
        )
        chosen = [int(np.argmax(d))]
        d = np.minimum(d, np.hypot(*(xy - xy[chosen[0]]).T))
    while len(chosen) < k:
        nxt = int(np.argmax(d))
        chosen.append(nxt)
        d = np.minimum(d, np.hypot(*(xy - xy[nxt]).T))
    return np.array(chosen)


def fix_contiguity(
    labels: np.ndarray,
    edges: tuple[np.ndarray, np.ndarray],
    parent: np.ndarray | None = None,
    rounds: int = 20,
) -> np.ndarray:
    """Make every label's atoms one connected piece where the parent allows.

    Each label keeps its largest connected piece; every other piece joins
    the neighbouring label (within the same parent) it borders most.

    Parameters
    ----------
    labels
        The unit of each atom.
    edges
        Pairs of neighbouring atoms (both directions).
    parent
        The parent unit of each atom; pieces only move to a label of the same parent.
    rounds
        At most this many passes (a moved piece can leave another stray).

    Returns
    -------
    numpy.ndarray
        The new label of each atom.
    """
    labels = labels.copy()
    a, b = edges
    if parent is not None:
        keep = parent[a] == parent[b]
        a, b = a[keep], b[keep]
    n = len(labels)
    for _ in range(rounds):
        same = labels[a] == labels[b]
        graph = sparse.coo_matrix((np.ones(same.sum()), (a[same], b[same])), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        size = np.bincount(comp)
        # The main piece of each label: its largest (ties: lowest component id).
        order = np.lexsort((np.arange(len(size)), -size))
        comp_label = np.zeros(len(size), int)
        comp_label[comp] = labels
        main = np.zeros(len(size), bool)
        _, first = np.unique(comp_label[order], return_index=True)
        main[order[first]] = True
        stray = ~main[comp]
        if not stray.any():
            break
        border = stray[a] & ~same
        if not border.any():
            break
        # Count (stray piece, neighbouring label) pairs and move each piece to
        # its most frequent neighbour.
        pc, nl = comp[a[border]], labels[b[border]]
        pairs, cnt = np.unique(np.column_stack([pc, nl]), axis=0, return_counts=True)
        order = np.lexsort((pairs[:, 1], -cnt, pairs[:, 0]))
        pairs = pairs[order]
        _, first = np.unique(pairs[:, 0], return_index=True)
        target = dict(zip(pairs[first, 0].tolist(), pairs[first, 1].tolist(), strict=True))
        move = stray & np.isin(comp, pairs[first, 0])
        labels[move] = [target[c] for c in comp[move].tolist()]
    return labels
