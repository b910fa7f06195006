"""Benchmark: incident assignment and density (issue #5, speed targets).

Measured side by side in one run; gridmap is the median of ``--repeat`` (5),
peers the median of ``--peer-repeat`` (3):

* **assignment** — 10,000,000 points into 10,000 irregular polygons (Voronoi
  cells of random seeds clipped to a 20 km square, metres in EPSG:32649, ~1 % of
  the points outside every cell), with the count per polygon. gridmap:
  :func:`gridmap.assign.build_index` + ``query`` + :func:`count_per_polygon`
  (the index is built inside every timed run). Peer: :func:`geopandas.sjoin`
  (``predicate="within"``) plus ``value_counts``, timed on a 1,000,000-point
  subset and extrapolated linearly to 10,000,000 (printed as such); the point
  GeoDataFrame is built outside its timing, in its favour. On the subset both
  answers must be equal. Target: ≤ 2 s and ≥ 5× sjoin.
* **density** — 10,000,000 points (metres) on a 1000 × 1000 raster, radius 30
  cells (σ = 7.5 cells, cut off at 4σ): :func:`gridmap.density.density_grid`,
  binning *and* Gaussian smoothing. Reference: datashader's count aggregation
  ``Canvas(1000, 1000).points(df, "x", "y")``, which only bins (no smoothing).
  Target: ≤ 0.25 s. gridmap's unsmoothed binning must equal datashader's counts.
* **peak memory** — gridmap's 10,000,000-point assignment alone, in a child
  process (``resource.getrusage(...).ru_maxrss`` there, inputs included and
  also printed on their own). Target: ≤ 1.5 GB.
* **unit metrics** — a hook (:func:`_bench_metrics`) for
  ``gridmap.incidents.unit_metrics`` on a year of 1,000,000 incidents; target
  ≤ 0.5 s; "not available" when that function is missing.

First calls (numba compile, or loading its disk cache) are printed on rows of
their own and kept out of the medians. Exit status 1 if a target is missed or an
answer differs. ``--quick`` runs 1,000,000 points and 1,000 polygons as a smoke
test; its targets are printed but not enforced.

Run: ``.venv/bin/python bench/incidents.py [--quick] [--repeat 5]`` (needs the
``bench`` extra: datashader).
"""

from __future__ import annotations

import argparse
import inspect
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _unshadow_coverage() -> None:
    """Take this file's folder off ``sys.path``.

    Run as a script, this file's folder comes first on ``sys.path``, and
    bench/coverage.py would shadow the ``coverage`` package, which numba imports
    when it compiles.
    """
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]


_unshadow_coverage()

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402

from gridmap.assign import build_index, count_per_polygon  # noqa: E402
from gridmap.density import TRUNCATE, density_grid  # noqa: E402

CRS = "EPSG:32649"
ORIGIN = (500_000.0, 3_400_000.0)  # real UTM magnitudes: coordinates are not small numbers
SIDE_M = 20_000.0


# ---------------------------------------------------------------------------
# Data


def make_polygons(n: int, seed: int = 0) -> gpd.GeoSeries:
    """``n`` irregular polygons: Voronoi cells of random seeds, clipped to the square."""
    rng = np.random.default_rng(seed)
    x0, y0 = ORIGIN
    box = shapely.box(x0, y0, x0 + SIDE_M, y0 + SIDE_M)
    seeds = shapely.multipoints(rng.uniform((x0, y0), (x0 + SIDE_M, y0 + SIDE_M), (n, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box))
    return gpd.GeoSeries(shapely.intersection(cells, box), crs=CRS)


def make_points(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points over the square and a 0.5 % margin around it (~1 % fall outside)."""
    rng = np.random.default_rng(seed)
    pad = SIDE_M * 0.0025
    x = rng.uniform(ORIGIN[0] - pad, ORIGIN[0] + SIDE_M + pad, n)
    y = rng.uniform(ORIGIN[1] - pad, ORIGIN[1] + SIDE_M + pad, n)
    return x, y


def gridmap_assign(x: np.ndarray, y: np.ndarray, polygons: gpd.GeoSeries) -> np.ndarray:
    """gridmap's whole job: index, assignment, counts."""
    index = build_index(polygons)
    assignment = index.query(x, y)
    return count_per_polygon(assignment, len(polygons)), assignment


def sjoin_assign(points: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame) -> pd.Series:
    """The peer: sjoin(within) and counts per polygon."""
    joined = gpd.sjoin(points, polygons, predicate="within", how="inner")
    return joined["index_right"]


# ---------------------------------------------------------------------------
# Timing helpers


def _median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``fn()`` over ``repeat`` runs, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------
# gridmap's assignment alone, in a child process, for its peak memory


def _child_memory(args: argparse.Namespace) -> None:
    polygons = make_polygons(args.polygons, args.seed)
    x, y = make_points(args.points, args.seed + 1)
    # numba's import and compile (or cache load) are part of the job: a first user pays them.
    inputs = _peak_mb()
    counts, _ = gridmap_assign(x, y, polygons)
    assert counts.sum() > 0
    print(json.dumps({"inputs_mb": inputs, "peak_mb": _peak_mb()}))


def _measure_memory(args: argparse.Namespace) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            f"--points={args.points}",
            f"--polygons={args.polygons}",
            f"--seed={args.seed}",
            "--child-memory",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# The unit-metrics hook (gridmap/incidents/metrics.py)


def _bench_metrics(n: int = 1_000_000, n_grids: int = 10_000, seed: int = 2) -> dict[str, Any]:
    """HOOK: time ``gridmap.incidents.unit_metrics`` over a year of ``n`` incidents.

    Returns ``{"available": False, "why": …}`` when the function is missing or
    cannot run on the synthetic year; otherwise the median seconds of
    ``unit_metrics(incidents, "grid", start, end, now, grids)`` (every grid) over
    3 runs, after one warm-up call. Only the keyword arguments the function
    accepts are passed.
    """
    try:
        from gridmap import incidents as inc_mod
    except Exception as error:  # pragma: no cover - depends on the other part of issue #5
        return {"available": False, "why": f"gridmap.incidents does not import: {error}"}
    fn = getattr(inc_mod, "unit_metrics", None)
    if fn is None:
        return {"available": False, "why": "gridmap.incidents has no unit_metrics"}
    frame, grids, start, end = _year_of_incidents(n, n_grids, seed)
    wanted = {"start": start, "end": end, "now": end, "grids": grids}
    accepted = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in wanted.items() if k in accepted}
    try:
        fn(frame, "grid", **kwargs)  # warm-up
        t, table = _median_time(lambda: fn(frame, "grid", **kwargs), 3)
    except Exception as error:  # report, never crash the other rows
        return {"available": False, "why": f"unit_metrics failed: {type(error).__name__}: {error}"}
    return {"available": True, "seconds": t, "units": len(table), "incidents": n}


def _year_of_incidents(
    n: int, n_grids: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """A synthetic year of closed-loop cases over ``n_grids`` grids (columns of gridmap.schema)."""
    from gridmap.schema import INCIDENT_CATEGORIES, INCIDENT_STEPS

    rng = np.random.default_rng(seed)
    # 14-digit grid codes: district 431002, 10 subdistricts, 100 communities each, grids.
    per_comm = max(1, n_grids // 1000)
    codes = np.array(
        [
            f"431002{s + 1:03d}{c + 1:03d}{g + 1:02d}"
            for s in range(10)
            for c in range(100)
            for g in range(per_comm)
        ][:n_grids]
    )
    start = pd.Timestamp("2025-01-01", tz="UTC")
    end = pd.Timestamp("2026-01-01", tz="UTC")
    reported = start + pd.to_timedelta(rng.uniform(0, 365 * 86400, n), unit="s")
    dispatched = reported + pd.to_timedelta(rng.uniform(0, 3600, n), unit="s")
    closed_mask = rng.random(n) < 0.85
    closed = (dispatched + pd.to_timedelta(rng.exponential(40 * 3600, n), unit="s")).where(
        closed_mask
    )
    steps = np.asarray(INCIDENT_STEPS, dtype=object)
    step = np.where(closed_mask, "evaluated", rng.choice(steps, n))
    frame = pd.DataFrame(
        {
            "id": pd.Series(np.char.add("E", np.arange(n).astype(str)), dtype="str"),
            "grid_code": pd.Series(codes[rng.integers(0, len(codes), n)], dtype="str"),
            "category": pd.Series(rng.choice(np.asarray(INCIDENT_CATEGORIES), n), dtype="str"),
            "step": pd.Series(step, dtype="str"),
            "reported_at": reported,
            "dispatched_at": dispatched,
            "deadline": dispatched + pd.Timedelta(hours=72),
            "closed_at": closed,
            "closed_level": pd.Series(
                np.where(closed_mask, rng.choice(["grid", "community", "subdistrict"], n), None),
                dtype="str",
            ),
            "satisfaction": pd.Series(
                np.where(
                    closed_mask,
                    rng.choice(["satisfied", "basically_satisfied", "dissatisfied"], n),
                    None,
                ),
                dtype="str",
            ),
            "rework_count": rng.poisson(0.1, n).astype("int64"),
            "transfer_count": rng.poisson(0.1, n).astype("int64"),
            "whistled": rng.random(n) < 0.02,
        }
    )
    grids = pd.DataFrame({"code": pd.Series(codes, dtype="str")})
    return frame, grids, start, end


# ---------------------------------------------------------------------------
# The benchmark


def _row(step, ours, peer="", theirs=None, target="", met=None) -> None:
    ours_s = f"{ours:.3f}" if isinstance(ours, float) else str(ours)
    theirs_s = "" if theirs is None else f"{theirs:.3f}"
    ratio = "" if theirs is None or not isinstance(ours, float) else f"{theirs / ours:.1f}×"
    met_s = "" if met is None else ("yes" if met else "no")
    print(f"{step:<30}{ours_s:>10}  {peer:<46}{theirs_s:>9}{ratio:>8}  {target:<18}{met_s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000,000 points, 1,000 polygons")
    parser.add_argument("--points", type=int, help="points to assign (10,000,000)")
    parser.add_argument("--polygons", type=int, help="polygons (10,000)")
    parser.add_argument("--sjoin-points", type=int, help="sjoin subset (1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="median of N (gridmap)")
    parser.add_argument("--peer-repeat", type=int, default=3, help="median of N (peers)")
    parser.add_argument("--no-metrics", action="store_true", help="skip the unit-metrics hook")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    small = (1_000_000, 1_000, 200_000) if args.quick else (10_000_000, 10_000, 1_000_000)
    args.points = args.points or small[0]
    args.polygons = args.polygons or small[1]
    args.sjoin_points = min(args.sjoin_points or small[2], args.points)
    if args.child_memory:
        _child_memory(args)
        return

    # Peak memory first, in a child process, while nothing else runs here.
    memory = _measure_memory(args)

    polygons = make_polygons(args.polygons, args.seed)
    x, y = make_points(args.points, args.seed + 1)
    n_edges = int(shapely.get_num_coordinates(polygons.to_numpy()).sum() - len(polygons))
    print(
        f"assignment: {args.points:,} points, {len(polygons):,} Voronoi polygons "
        f"({n_edges:,} edges) in a {SIDE_M / 1000:g} km square, {CRS}"
    )

    # --- gridmap assignment
    t_first, _ = _timed(lambda: gridmap_assign(x[:1000], y[:1000], polygons))
    t_assign, (_, assignment) = _median_time(lambda: gridmap_assign(x, y, polygons), args.repeat)
    index = build_index(polygons)
    t_index, _ = _median_time(lambda: build_index(polygons), args.repeat)
    outside = float((assignment < 0).mean())

    # --- sjoin on a subset, extrapolated linearly
    sub = slice(0, args.sjoin_points)
    points_gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x[sub], y[sub]), crs=CRS)
    polys_gdf = gpd.GeoDataFrame(geometry=polygons.reset_index(drop=True), crs=CRS)
    t_sjoin_sub, joined = _median_time(
        lambda: sjoin_assign(points_gdf, polys_gdf).value_counts(), args.peer_repeat
    )
    t_sjoin = t_sjoin_sub * args.points / args.sjoin_points
    t_assign_sub, _ = _median_time(lambda: gridmap_assign(x[sub], y[sub], polygons), args.repeat)
    by_sjoin = np.full(args.sjoin_points, -1, np.int64)
    right = sjoin_assign(points_gdf, polys_gdf)
    by_sjoin[right.index.to_numpy()] = right.to_numpy()
    assign_diff = int((by_sjoin != assignment[sub]).sum())
    sub_counts_ok = np.array_equal(
        joined.reindex(range(len(polygons)), fill_value=0).to_numpy(),
        count_per_polygon(assignment[sub], len(polygons)),
    )

    # --- density
    nd = args.points
    cell = SIDE_M / 1000
    radius = 30 * cell
    bounds = (ORIGIN[0], ORIGIN[1], ORIGIN[0] + SIDE_M, ORIGIN[1] + SIDE_M)
    dx, dy = x[:nd], y[:nd]
    t_dfirst, _ = _timed(
        lambda: density_grid(dx[:1000], dy[:1000], bounds=bounds, cell_m=cell, radius_m=radius)
    )
    t_density, _ = _median_time(
        lambda: density_grid(dx, dy, bounds=bounds, cell_m=cell, radius_m=radius), args.repeat
    )
    t_bin, (binned, _) = _median_time(
        lambda: density_grid(dx, dy, bounds=bounds, cell_m=cell, radius_m=0), args.repeat
    )
    ds = _datashader(dx, dy, bounds, args.peer_repeat)
    bin_equal = None
    if ds is not None:
        ours = np.rint(binned * cell * cell / 1e6).astype(np.int64)
        # datashader's row 0 is the south; ours is the north.
        bin_equal = float(np.mean(ours == np.flipud(ds["counts"])))

    # --- unit metrics hook
    metrics = (
        {"available": False, "why": "skipped (--no-metrics)"}
        if args.no_metrics
        else _bench_metrics(n=100_000 if args.quick else 1_000_000)
    )

    # --- the table
    print(
        f"density: {nd:,} points on a 1000 × 1000 raster, {cell:g} m cells, radius "
        f"{radius:g} m = 30 cells (σ = {radius / TRUNCATE / cell:g} cells, cut off at "
        f"{TRUNCATE:g}σ)"
    )
    print()
    print(
        f"gridmap: median of {args.repeat}; peers: median of {args.peer_repeat}; "
        "ratio = peer s / gridmap s (above 1: gridmap is faster)"
    )
    print(
        f"{'step':<30}{'gridmap s':>10}  {'peer':<46}{'peer s':>9}{'ratio':>8}  {'target':<18}met?"
    )
    print("-" * 128)
    targets: list[tuple[str, bool]] = []
    a_t_ok = t_assign <= 2.0
    a_r_ok = t_sjoin / t_assign >= 5
    _row(
        f"assign {args.points / 1e6:g}M + counts",
        t_assign,
        f"sjoin within (extrap. from {args.sjoin_points / 1e6:g}M)",
        t_sjoin,
        "<= 2 s, >= 5×",
        a_t_ok and a_r_ok,
    )
    targets += [
        (f"assignment {t_assign:.3f} s <= 2 s", a_t_ok),
        (f"assignment {t_sjoin / t_assign:.1f}× sjoin >= 5×", a_r_ok),
    ]
    _row(
        "  of which: index build",
        t_index,
        f"({index.shape[1]}×{index.shape[0]} cells of {index.cell:.0f} m, "
        f"{(index.owner >= -1).mean():.0%} fast path)",
    )
    _row(
        f"assign {args.sjoin_points / 1e6:g}M (sjoin's subset)",
        t_assign_sub,
        "sjoin within, measured",
        t_sjoin_sub,
    )
    _row("assign: first call", t_first, "(numba compile or cache load)")
    d_ok = t_density <= 0.25
    if ds is not None:
        _row(
            "density 1000², radius 30 cells",
            t_density,
            "datashader count (bins only, no smoothing)",
            ds["seconds"],
            "<= 0.25 s",
            d_ok,
        )
        _row("  binning only (radius 0)", t_bin, "datashader count (bins only)", ds["seconds"])
        _row("", "", f"datashader first call {ds['first']:.2f} s")
    else:
        _row("density 1000², radius 30 cells", t_density, "datashader not installed", None,
             "<= 0.25 s", d_ok)  # fmt: skip
        _row("  binning only (radius 0)", t_bin)
    _row("density: first call", t_dfirst, "(numba compile or cache load)")
    targets.append((f"density {t_density:.3f} s <= 0.25 s", d_ok))
    mem_ok = memory["peak_mb"] <= 1536
    _row(
        "peak memory, assign alone",
        f"{memory['peak_mb']:.0f} MB",
        f"(inputs and imports alone {memory['inputs_mb']:.0f} MB)",
        None,
        "<= 1536 MB",
        mem_ok,
    )
    targets.append((f"peak memory {memory['peak_mb']:.0f} MB <= 1536 MB", mem_ok))
    if metrics["available"]:
        m_ok = metrics["seconds"] <= 0.5
        _row(
            f"unit_metrics, {metrics['incidents'] / 1e6:g}M/year",
            metrics["seconds"],
            f"({metrics['units']:,} grids; gridmap/incidents/metrics.py)",
            None,
            "<= 0.5 s",
            m_ok,
        )
        targets.append((f"unit metrics {metrics['seconds']:.3f} s <= 0.5 s", m_ok))
    else:
        _row("unit_metrics, 1M/year", "n/a", "not available", None, "<= 0.5 s")
    print("-" * 128)
    print(
        f"sjoin: {args.sjoin_points:,} points took {t_sjoin_sub:.2f} s"
        + (f", extrapolated linearly to {args.points:,}" if args.sjoin_points < args.points else "")
        + " (its point GeoDataFrame built outside the timing)"
    )
    print(
        f"check vs sjoin on {args.sjoin_points:,} points: {assign_diff} assignments differ; "
        f"counts {'equal' if sub_counts_ok else 'DIFFER'}; {outside:.2%} of points outside all"
    )
    if bin_equal is not None:
        print(f"binning vs datashader's count: {bin_equal:.4%} of cells equal")
    if not metrics["available"]:
        print(f"unit metrics: not available ({metrics['why']})")
    print()
    correct = [
        (f"assignment equals sjoin(within) on {args.sjoin_points:,} points", assign_diff == 0),
        ("counts per polygon equal sjoin's", sub_counts_ok),
    ]
    if bin_equal is not None:
        correct.append(("binning equals datashader's count", bin_equal == 1.0))
    if not args.quick:
        correct.append(
            (
                ">= 10,000,000 points, >= 10,000 polygons",
                args.points >= 10_000_000 and len(polygons) >= 10_000,
            )
        )
    for text, ok in correct + targets:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    if args.quick:
        print("(--quick: speed and memory targets are for the full size and not enforced)")
        failed = not all(ok for _, ok in correct)
    else:
        failed = not all(ok for _, ok in correct + targets)
    sys.exit(1 if failed else 0)


def _datashader(
    x: np.ndarray, y: np.ndarray, bounds: tuple[float, ...], repeat: int
) -> dict[str, Any] | None:
    """datashader's count aggregation on the same raster (None if not installed)."""
    try:
        import datashader
    except ImportError:
        return None
    df = pd.DataFrame({"x": x, "y": y})
    canvas = datashader.Canvas(
        plot_width=1000,
        plot_height=1000,
        x_range=(bounds[0], bounds[2]),
        y_range=(bounds[1], bounds[3]),
    )
    t_first, _ = _timed(lambda: canvas.points(df, "x", "y", agg=datashader.count()))
    t, agg = _median_time(lambda: canvas.points(df, "x", "y", agg=datashader.count()), repeat)
    return {"seconds": t, "first": t_first, "counts": np.asarray(agg.values, dtype=np.int64)}


if __name__ == "__main__":
    main()
