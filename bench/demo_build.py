"""Benchmark: building the demo (target: `gridmap demo` under 60 s on 2 cores).

Prints, per district: the time to generate the layers, the time to write them
into a GeoPackage store in one transaction (gridmap's writer), and, side by
side in the same process, the time geopandas/pyogrio takes to write the same
layers to a GeoPackage one layer at a time (no cross-layer transaction) — the
peer — with the ratio.

Run: ``.venv/bin/python bench/demo_build.py [--district 431002 ...] [--repeat N]``
"""

from __future__ import annotations

import argparse
import functools
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import pyogrio

from gridmap.demo import build_demo, resolve_district
from gridmap.store.gpkg import GeoPackageStore


def _median_time(fn, repeat: int) -> tuple[float, object]:
    """Median wall time of ``fn()`` over ``repeat`` runs, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def _write_ours(layers: dict, meta, folder: Path, counter: itertools.count) -> None:
    st = GeoPackageStore(folder / f"ours{next(counter)}.gpkg", create=True)
    st.write(layers, mode="replace", metadata=meta.to_dict("records"))


def _write_peer(layers: dict, folder: Path, counter: itertools.count) -> None:
    path = folder / f"peer{next(counter)}.gpkg"
    for name, frame in layers.items():
        pyogrio.write_dataframe(frame, path, layer=name, append=path.exists())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--district", nargs="*", default=["431002", "321111", "320585"])
    parser.add_argument("--repeat", type=int, default=3, help="median of N runs")
    args = parser.parse_args()
    print(
        f"{'district':<10}{'generate s':>12}{'store s':>10}{'pyogrio s':>11}{'ratio':>8}"
        f"{'total s':>10}  rows"
    )
    for d in args.district:
        code = resolve_district(d)
        t_gen, layers = _median_time(
            functools.partial(build_demo, code, seed=0, progress=False), args.repeat
        )
        meta = layers.pop("metadata")
        counter = itertools.count()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            t_ours, _ = _median_time(
                functools.partial(_write_ours, layers, meta, folder, counter), args.repeat
            )
            t_peer, _ = _median_time(
                functools.partial(_write_peer, layers, folder, counter), args.repeat
            )
        rows = sum(len(f) for f in layers.values())
        print(
            f"{code:<10}{t_gen:>12.2f}{t_ours:>10.2f}{t_peer:>11.2f}{t_ours / t_peer:>8.2f}"
            f"{t_gen + t_ours:>10.2f}  {rows:,}"
        )
    print("ratio = gridmap store write / pyogrio write (below 1: gridmap is faster)")


if __name__ == "__main__":
    main()
