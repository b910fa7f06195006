"""Benchmark: what-if coverage on the demo district (target: new coverage in under 1 s).

A planner adds or removes one facility and wants the new coverage at once.
Measured on the 北湖区 demo (seed 0), median of N runs, side by side in one
process:

- gridmap: ``CoverageModel.add(point).coverage`` and ``.remove([id]).coverage``
  (buildings were snapped once, when the model was built);
- peer: networkx multi-source Dijkstra on the same graph with the same
  snapping (the nearest-facility distance of every building, recomputed).

Run: ``./dev.sh bench whatif [--type clinic] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np

# bench/coverage.py would shadow the `coverage` package numba imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from gridmap.coverage import THRESHOLDS, CoverageModel  # noqa: E402
from gridmap.demo import build_demo  # noqa: E402
from gridmap.network import build_network, snap  # noqa: E402


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _nx_graph(net, sources, targets) -> nx.Graph:
    """The network split at every snap point, with one leaf per point (as the tests build it)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from nxref import nx_reference

    return nx_reference(net, s=sources, t=targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--type", default="clinic")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    layers = build_demo("431002", seed=0, progress=False)
    roads, buildings, facilities = layers["roads"], layers["buildings"], layers["facilities"]
    meters = THRESHOLDS[args.type]
    t0 = time.perf_counter()
    net = build_network(roads)
    model = CoverageModel(net, buildings, args.type, meters=meters, facilities=facilities)
    _ = model.coverage
    setup = time.perf_counter() - t0
    uncovered = model.coverage.index[~model.coverage["covered"].to_numpy(bool)]
    spot = gpd.GeoSeries(
        [buildings.geometry.loc[uncovered[len(uncovered) // 2]].centroid], crs=buildings.crs
    )
    first = model.facility_ids[0]

    t_add = _median(lambda: model.add(spot).coverage, args.repeat)
    t_remove = _median(lambda: model.remove([first]).coverage, args.repeat)

    mine = facilities[facilities["type"] == args.type]
    sources = snap(net, mine)
    targets = snap(net, buildings)
    g = _nx_graph(net, sources, targets)
    starts = [("s", i) for i in np.flatnonzero(sources.reachable)]
    peer = _median(
        lambda: nx.multi_source_dijkstra_path_length(g, starts, cutoff=meters, weight="weight"),
        max(1, args.repeat // 2),
    )
    print(
        f"demo 431002: {net.n_nodes:,} nodes, {len(buildings):,} buildings, "
        f"{len(mine)} {args.type} facilities, {meters:.0f} m; model set-up {setup:.2f} s"
    )
    print(f"{'step':<34}{'gridmap s':>10}{'networkx s':>12}{'ratio':>8}  target")
    for step, ours in (("add one facility → coverage", t_add), ("remove one → coverage", t_remove)):
        verdict = "PASS" if ours < 1.0 else "FAIL"
        print(f"{step:<34}{ours:>10.4f}{peer:>12.4f}{peer / ours:>7.1f}×  < 1 s {verdict}")
    print("ratio = networkx recompute / gridmap what-if (above 1: gridmap is faster)")
    if max(t_add, t_remove) >= 1.0:
        sys.exit(1)


if __name__ == "__main__":
    main()
