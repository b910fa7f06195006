"""Benchmark: the dashboard's speed and memory on the 北湖区 demo (issue #6).

Runs the real server (``gridmap serve STORE --production``: waitress, in a
child process, warmed as it is for users) and measures, in one run:

* **drill-down, server time** — 100 drills, parent to child (25 random
  buildings of the demo, each reached district → subdistrict → community →
  grid → building). One drill is every request a click sends: the click
  callback (which writes the child's code into the URL), the page callback
  (breadcrumb and panels), the GET of the level's geometry (at its own URL;
  once per level, as the browser caches it) and the six callbacks of the new
  page (unit styles, numbers, trend, and the three overlay callbacks, off by
  default). The requests are the ones Chromium sends (the same JSON bodies:
  check them against ``/_dash-dependencies`` when callbacks change), sent one
  after another over HTTP; a drill's time is their sum — the browser sends
  the last six together, so this overstates it.
  Target: p95 ≤ 150 ms.
* **first painted map** — a fresh headless Chromium context (empty cache)
  opening ``/``, until the district's units are drawn (the first
  ``path.gm-unit`` in the DOM), ``--paints`` times. Target: ≤ 2 s (the
  slowest run is the figure compared).
* **memory** — the server process's resident memory with the demo loaded
  (VmRSS after start), and its peak (VmHWM) after everything above. Target:
  ≤ 1 GB.

No peer is named for these targets, so none is run. Exit status 1 if a target
is missed.

Run: ``./dev.sh bench app [--store DEMO.gpkg] [--drills 100] [--paints 5]``;
without ``--store`` the 北湖区 demo is built into a temporary folder first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LEVELS = ("district", "subdistrict", "community", "grid", "building")
CHILD = dict(zip(LEVELS, (*LEVELS[1:], None), strict=True))
WIDTH = {"district": 6, "subdistrict": 9, "community": 12, "grid": 14, "building": 17}
TARGETS = {"drill_p95_ms": 150.0, "first_paint_s": 2.0, "rss_mb": 1024.0}


# -- the server -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gridmap() -> str:
    return str(Path(sys.executable).with_name("gridmap"))


def _start(store: Path, log: Path) -> tuple[subprocess.Popen, str, float]:
    """``gridmap serve --production`` in a child process; its URL and start-up seconds."""
    port = _free_port()
    out = log.open("w")
    proc = subprocess.Popen(
        [_gridmap(), "serve", str(store), "--port", str(port), "--production"],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"gridmap serve exited:\n{log.read_text()}")
        try:
            urllib.request.urlopen(url + "/_dash-layout", timeout=1).read()
            return proc, url, time.perf_counter() - t0
        except OSError:
            if time.perf_counter() - t0 > 120:
                raise SystemExit("gridmap serve did not answer within 120 s") from None
            time.sleep(0.1)


def _memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


# -- drills ---------------------------------------------------------------------------


def _post(url: str, body: dict) -> tuple[float, Any]:
    """POST one callback request; its wall time (s) and JSON answer."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url + "/_dash-update-component",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = response.read()
        status = response.status
    elapsed = time.perf_counter() - t0
    return elapsed, (json.loads(payload) if status == 200 and payload else None)


def _out(ids: list[tuple[str, str]]) -> dict:
    outputs = [{"id": i, "property": p} for i, p in ids]
    name = ".." + "...".join(f"{i}.{p}" for i, p in ids) + ".." if len(ids) > 1 else ""
    if len(ids) == 1:
        return {"output": f"{ids[0][0]}.{ids[0][1]}", "outputs": outputs[0]}
    return {"output": name, "outputs": outputs}


def _inputs(values: list[tuple[str, str, Any]]) -> list[dict]:
    return [{"id": i, "property": p, "value": v} for i, p, v in values]


def _drill_requests(parent: str, child: str, child_level: str, months: int) -> list[tuple]:
    """The callback requests one click on ``child`` (shown under ``parent``) makes, in order."""
    view_before = {"code": parent, "lang": "zh", "child_level": child_level}
    view = {"code": child, "lang": "zh", "child_level": CHILD[child_level]}
    toggles, window = ["units"], [0, max(months - 1, 0)]
    # The version of the data on screen (an input of the figures; its value is not read).
    version = ("gm-data-version", "data", "bench")
    click = {"type": "Feature", "properties": {"code": child, "level": child_level}}
    return [
        (
            "click",
            {
                **_out([("gm-url", "search")]),
                "inputs": [
                    {"id": "gm-units", "property": "clickData", "value": click},
                    [],
                ],
                "state": _inputs([("gm-view", "data", view_before)]),
                "changedPropIds": ["gm-units.clickData"],
            },
        ),
        (
            "page",
            {
                **_out([("_pages_content", "children"), ("_pages_store", "data")]),
                "inputs": _inputs(
                    [
                        ("_pages_location", "pathname", "/"),
                        ("_pages_location", "search", f"?unit={child}&lang=zh"),
                    ]
                ),
                "changedPropIds": ["_pages_location.search"],
            },
        ),
        (
            "styles",
            {
                **_out([("gm-units", "hideout"), ("gm-legend-units", "children")]),
                "inputs": _inputs(
                    [
                        ("gm-measure", "value", "households"),
                        ("gm-layer-toggles", "value", toggles),
                        version,
                    ]
                ),
                "state": _inputs([("gm-view", "data", view)]),
                "changedPropIds": [],
            },
        ),
        (
            "numbers",
            {
                **_out([("gm-numbers", "children")]),
                "inputs": _inputs([("gm-view", "data", view), version]),
                "changedPropIds": [],
            },
        ),
        (
            "trend",
            {
                **_out([("gm-trend", "children")]),
                "inputs": _inputs(
                    [
                        ("gm-heat-months", "value", window),
                        ("gm-heat-categories", "value", []),
                        version,
                    ]
                ),
                "state": _inputs([("gm-view", "data", view)]),
                "changedPropIds": [],
            },
        ),
        *[
            (
                name,
                {
                    **_out([(f"gm-{name}", "children"), (f"gm-legend-{name}", "children")]),
                    "inputs": _inputs([("gm-layer-toggles", "value", toggles), *extra, version]),
                    "state": _inputs([("gm-view", "data", view)]),
                    "changedPropIds": [],
                },
            )
            for name, extra in (
                ("party", []),
                ("circles", [("gm-facility-type", "value", "clinic"), ("gm-minutes", "value", 5)]),
                (
                    "heatmap",
                    [("gm-heat-months", "value", window), ("gm-heat-categories", "value", [])],
                ),
            )
        ],
    ]


def _drills(url: str, buildings: list[str], months: int) -> tuple[list[float], dict]:
    """Time every drill of the paths to ``buildings``; per drill seconds, per callback seconds."""
    per_drill: list[float] = []
    per_callback: dict[str, list[float]] = {}
    fetched: set[str] = set()  # what the browser has cached
    for building in buildings:
        for parent_level, child_level in itertools.pairwise(LEVELS):
            parent = building[: WIDTH[parent_level]]
            child = building[: WIDTH[child_level]]
            total = 0.0
            for name, body in _drill_requests(parent, child, child_level, months):
                elapsed, answer = _post(url, body)
                if name == "click" and child not in json.dumps(answer):
                    raise SystemExit(f"the click on {child} did not drill: {answer}")
                if name == "page" and child not in json.dumps(answer):
                    raise SystemExit(f"the page of {child} does not show it")
                total += elapsed
                per_callback.setdefault(name, []).append(elapsed)
                if name == "page":
                    # The level's geometry, at the URL the page names (a grid's
                    # buildings serve its building views too: the browser has them).
                    units = re.search(r"/_gridmap/units/\d+\.geojson\?v=\w+", json.dumps(answer))
                    if units is None:
                        raise SystemExit(f"the page of {child} names no units URL")
                    if units.group(0) not in fetched:
                        fetched.add(units.group(0))
                        t0 = time.perf_counter()
                        urllib.request.urlopen(url + units.group(0), timeout=60).read()
                        elapsed = time.perf_counter() - t0
                        total += elapsed
                        per_callback.setdefault("units (GET)", []).append(elapsed)
            per_drill.append(total)
    return per_drill, per_callback


# -- first paint ----------------------------------------------------------------------


def _first_paints(url: str, runs: int) -> list[float]:
    """Seconds from opening ``/`` to the first drawn unit, each in a fresh browser context."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1920, "height": 1080})
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(url + "/")
            page.wait_for_selector("path.gm-unit", timeout=60_000)
            times.append(time.perf_counter() - t0)
            context.close()
        browser.close()
    return times


# -- main -----------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _demo(folder: Path) -> Path:
    store = folder / "beihu.gpkg"
    t0 = time.perf_counter()
    subprocess.run(
        [_gridmap(), "demo", "--district", "431002", "--out", str(store), "--no-serve", "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built the 北湖区 demo in {time.perf_counter() - t0:.1f} s: {store}")
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="a demo store (default: build 北湖区)")
    parser.add_argument("--drills", type=int, default=100, help="drills timed (multiple of 4)")
    parser.add_argument("--paints", type=int, default=5, help="first paints timed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gridmap-bench-app-") as tmp:
        folder = Path(tmp)
        store = args.store or _demo(folder)
        from gridmap.store import open_store

        with open_store(store) as opened:
            codes = opened.read("buildings", columns=["code"])["code"].astype(str).tolist()
            incidents = opened.read("incidents", columns=["reported_at"])
        months = len(
            {
                str(m)
                for m in incidents["reported_at"]
                .dt.tz_convert("Asia/Shanghai")
                .dt.tz_localize(None)
                .dt.to_period("M")
            }
        )
        buildings = random.Random(args.seed).sample(sorted(codes), max(1, args.drills // 4))

        proc, url, started = _start(store, folder / "serve.log")
        try:
            memory_start = _memory_mb(proc.pid)
            try:
                per_drill, per_callback = _drills(url, buildings, months)
            except urllib.error.HTTPError as error:
                raise SystemExit(f"{error}\n{(folder / 'serve.log').read_text()[-3000:]}") from None
            paints = _first_paints(url, args.paints)
            memory_end = _memory_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        log = (folder / "serve.log").read_text()
        if "Traceback" in log:
            print(log)
            return 1

    p50, p95 = 1000 * _pct(per_drill, 50), 1000 * _pct(per_drill, 95)
    rss = max(memory_start["VmRSS"], memory_end["VmHWM"])
    rows = [
        ("drill, server time p50", f"{p50:.1f} ms", ""),
        ("drill, server time p95", f"{p95:.1f} ms", f"<= {TARGETS['drill_p95_ms']:.0f} ms"),
        ("drill, server time max", f"{1000 * max(per_drill):.1f} ms", ""),
        ("first painted map (slowest)", f"{max(paints):.2f} s", f"<= {TARGETS['first_paint_s']} s"),
        ("first painted map (median)", f"{statistics.median(paints):.2f} s", ""),
        ("server RSS after start", f"{memory_start['VmRSS']:.0f} MB", ""),
        ("server RSS peak (end)", f"{memory_end['VmHWM']:.0f} MB", "<= 1024 MB"),
    ]
    met = {
        "drill": p95 <= TARGETS["drill_p95_ms"],
        "paint": max(paints) <= TARGETS["first_paint_s"],
        "rss": rss <= TARGETS["rss_mb"],
    }
    print(
        f"北湖区 demo: {len(codes):,} buildings; {len(per_drill)} drills over {len(buildings)} "
        f"paths district → building; server started (store read, network walked) in {started:.1f} s"
    )
    print(f"{'figure':32s} {'value':>12s}  {'target':14s} met?")
    verdict = {1: met["drill"], 3: met["paint"], 6: met["rss"]}
    for i, (name, value, target) in enumerate(rows):
        mark = ("yes" if verdict[i] else "NO") if i in verdict else ""
        print(f"{name:32s} {value:>12s}  {target:14s} {mark}")
    print("per callback (ms)      p50     p95     max")
    for name, times in per_callback.items():
        ms = [1000 * t for t in times]
        print(f"  {name:16s} {_pct(ms, 50):7.1f} {_pct(ms, 95):7.1f} {max(ms):7.1f}")
    print("first paints (s): " + ", ".join(f"{t:.2f}" for t in paints))
    print(f"peers: none named for these targets; machine: {os.cpu_count()} CPUs")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
