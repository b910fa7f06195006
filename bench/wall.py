"""Soak: ``/wall`` on a 4K screen for half an hour, touring, a case written every 10 s.

Issue 14, point 5. Runs the real server (``gridmap serve STORE``, in a child
process, on a copy of the demo store) and one headless Chromium (Debian's,
``/usr/bin/chromium``) at ``--size`` (3840×2160, device scale factor 1) showing
``/wall?token=…&tour=1&dwell=D&alert=10``, signed in with a wall token of the
store's district, and measures:

* **write-to-screen latency** — every ``--every`` seconds on average (each gap
  drawn in ``every × (1 ± --jitter)``, 0.5 by default: at exactly 10 s with
  30 s stops, every third write would fall at the same moment before a stop
  change and leave the screen) this process (not the server: as a field
  report or an import would) writes to the store,
  alternately a new case (``Store.write``, at a building under the unit on
  screen, read from ``window.gmWall.state.unit`` just before; its description
  says ``【合成】bench …``) and a move of an open case under that unit one step
  forward (``gridmap.incidents.workflow.move`` and
  ``Store.move_incident(..., expected_version=…)``). The latency is from the
  write's commit returning to the moment the case shows in the page's case
  feed (``[data-testid=case-feed] li[data-case=ID]``; a moved case when its row
  shows the new step: the feed lists each case once, at its last change,
  newest first). The moment is the page's own: a MutationObserver on the feed
  stamps ``Date.now()`` when a row appears or changes (the same clock as this
  process's ``time.time()``: one machine). Target: p95 ≤ 5 s. A case written
  while the tour then moved to another unit before it showed is counted apart,
  as "left the screen", never in the latency; one not shown within 90 s on the
  same unit is "never shown".
* **the page's memory** — through the DevTools protocol, after two garbage
  collections (``HeapProfiler.collectGarbage``): ``Performance.getMetrics``'
  ``JSHeapUsedSize``, ``Nodes`` (every live node, detached ones kept alive by
  a leak included), ``JSEventListeners`` and ``Documents``; and the elements in
  the document (``getElementsByTagName('*')``) and the markers drawn. Taken at
  the start (after a ``--warmup`` of 60 s, the page loaded and touring, no
  writes yet), every 5 minutes, and at the end. Start and end are taken at the
  same tour stop, settled (shown ≥ 10 s, no alert on screen): a district's
  wall and a subdistrict's draw different numbers of units and markers, so the
  end waits for the tour to come back to the start's stop (at most one round
  after ``--minutes``; the writes go on meanwhile). Noise, within which no
  growth is read as growth: the JS heap ≤ +10 % or ≤ +2 MB; nodes ≤ +5 % once
  the change in markers drawn is taken off (one SVG path per open case: the
  writes add open cases, and the wall rightly draws them); listeners ≤ +5 %.
* **the server** — resident memory (``/proc/PID/status`` VmRSS) at the start,
  its peak over the soak (sampled each minute; and VmHWM, the process's peak
  since it started) and at the end; the CPU time it used over the soak, in per
  cent of one CPU.
* **errors** — the page's console errors and uncaught exceptions
  (``pageerror``): there must be none; also the responses ≥ 400, the failed
  requests, reloads of the page, and the tracebacks in the server's log.

A progress line every minute; at the end a table with each target MET or NOT
MET and the memory figures of every checkpoint. The exit status is 0 either
way (a measurement), 1 only if the soak could not run.

Run: ``./dev.sh bench wall [--store DEMO.gpkg] [--minutes 30] [--every 10]
[--jitter 0.5] [--dwell 30] [--size 3840x2160] [--warmup 60] [--out-json FILE]
[--keep] [--production]``. Without ``--store`` the 北湖区 demo is built into a temporary
folder first (``gridmap demo``, ~20 s). The store given is never written: the
soak works on a copy in the temporary folder, which is removed afterwards
(``--keep`` keeps it, with the server's log).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
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
#: The targets: latency p95 (s); the noise of the page's memory, start to end.
LATENCY_P95_S = 5.0
HEAP_NOISE = (0.10, 2.0)  # ≤ +10 % or ≤ +2 MB
NODES_NOISE = 0.05  # ≤ +5 %, the markers' change taken off
LISTENERS_NOISE = 0.05
#: Seconds between the page-memory checkpoints (with garbage collection).
CHECKPOINT_S = 300.0
#: Seconds a sample waits on the same unit before it counts as never shown.
NEVER_S = 90.0
#: Who the benchmark's cases and moves are by, and where its dispatches go (a demo department).
ACTOR = "bench"
DEPARTMENT = "网格工作站"
#: The categories of the new cases (no emergency: it would raise an alert and take the screen).
CATEGORIES = ("city_appearance", "street_order", "facility", "resident_request", "other")
#: One step forward from each open step (no transfer, no rework: each move changes the step).
FORWARD = {
    "collected": "registered",
    "registered": "dispatched",
    "dispatched": "handling",
    "handling": "reported_back",
    "reported_back": "closed",
}

#: Installed once in the page: stamps every row of the case feed that appears or changes
#: (its id and step text), and every change of the unit on screen, with Date.now().
RECORDER = """() => {
  if (window.__gmSoak) { return false; }
  const feed = document.querySelector('[data-testid=case-feed]');
  const state = window.gmWall.state;
  const rec = window.__gmSoak = {events: [], units: [], shown: {}, unit: state.unit,
                                 arrived: Date.now()};
  const scan = () => {
    const now = Date.now();
    if (state.unit !== rec.unit) {
      rec.unit = state.unit; rec.arrived = now; rec.units.push([now, state.unit]);
    }
    const next = {};
    for (const li of feed.querySelectorAll('li[data-case]')) {
      const step = li.querySelector('.gm-step');
      const text = step ? step.textContent : '';
      next[li.dataset.case] = text;
      if (rec.shown[li.dataset.case] !== text) {
        rec.events.push([now, li.dataset.case, text, rec.unit]);
      }
    }
    rec.shown = next;
  };
  new MutationObserver(scan).observe(feed, {childList: true, subtree: true});
  setInterval(scan, 100);
  scan();
  return true;
}"""
#: What the recorder saw since the last call (and emptied: the page keeps nothing of it).
DRAIN = """() => {
  const r = window.__gmSoak;
  if (!r) { return null; }
  const s = window.gmWall.state;
  const out = {events: r.events, units: r.units, unit: r.unit, arrived: r.arrived,
               now: Date.now(), stop: s.stop, stops: s.stops.length, next_stop: s.nextStop,
               takeover: !document.querySelector('[data-testid=alert-takeover]').hidden,
               drawn: s.data.unit ? s.data.unit.code : null,
               version: s.data.unit ? s.data.unit.version : null};
  r.events = []; r.units = [];
  return out;
}"""
PAGE_COUNTS = """() => {
  const all = document.getElementsByTagName('*'), kinds = {};
  for (const e of all) {
    const cls = typeof e.className === 'string' ? e.className : e.getAttribute('class') || '';
    const k = e.tagName.toLowerCase() + (cls ? '.' + cls.trim().split(/\\s+/)[0] : '');
    kinds[k] = (kinds[k] || 0) + 1;
  }
  return {elements: all.length, kinds,
    markers: Object.keys(window.gmWall.state.markers).length, unit: window.gmWall.state.unit,
    feed: document.querySelectorAll('[data-testid=case-feed] li').length};
}"""


# -- the server -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gridmap() -> str:
    return str(Path(sys.executable).with_name("gridmap"))


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def _start(store: Path, log: Path, production: bool) -> tuple[subprocess.Popen, str, float]:
    """``gridmap serve STORE --port P`` in a child process; its URL and start-up seconds."""
    port = _free_port()
    out = log.open("w")
    command = [_gridmap(), "serve", str(store), "--port", str(port)]
    proc = subprocess.Popen(
        command + (["--production"] if production else []),
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"gridmap serve exited ({proc.returncode}):\n{_tail(log)}")
        try:
            # The ping answers without a session.
            urllib.request.urlopen(url + "/_gridmap/ping", timeout=1).read()
            return proc, url, time.perf_counter() - t0
        except OSError:
            if time.perf_counter() - t0 > 120:
                proc.terminate()
                raise SystemExit(
                    f"gridmap serve did not answer within 120 s:\n{_tail(log)}"
                ) from None
            time.sleep(0.2)


def _status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process in MB, and its CPU seconds (user + system)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    # /proc/PID/stat: fields 14 and 15 are utime and stime in clock ticks (after the
    # command name, which is in parentheses and may hold spaces).
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    out["cpu_s"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def _alive(proc: subprocess.Popen, log: Path) -> None:
    if proc.poll() is not None:
        raise SystemExit(f"gridmap serve died ({proc.returncode}):\n{_tail(log)}")


# -- the store ------------------------------------------------------------------------


def _demo(folder: Path) -> Path:
    store = folder / "beihu.gpkg"
    t0 = time.perf_counter()
    subprocess.run(
        [_gridmap(), "demo", "--out", str(store), "--no-serve", "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built the 北湖区 demo in {time.perf_counter() - t0:.1f} s: {store}", flush=True)
    return store


def _copy(source: Path, folder: Path) -> Path:
    """A copy of a GeoPackage (with its -wal and -shm files, if any) in ``folder``."""
    with source.open("rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise SystemExit(f"{source} is not a GeoPackage (not an SQLite file)")
    copy = folder / source.name
    shutil.copy(source, copy)
    for suffix in ("-wal", "-shm"):
        extra = source.with_name(source.name + suffix)
        if extra.exists():
            shutil.copy(extra, copy.with_name(copy.name + suffix))
    return copy


def _token(store: Path) -> tuple[str, str]:
    """A wall token of the store's (first) district, and that district's code."""
    from gridmap.services.accounts import create_token, local_actor
    from gridmap.store import open_store

    with open_store(store) as st:
        district = str(st.read("districts", columns=["code"])["code"].astype(str).min())
        name = f"bench-wall-{uuid.uuid4().hex[:6]}"
        return create_token(st, local_actor(), name, [district]), district


class Buildings:
    """The store's buildings (code, grid, a point inside), to place a case under a unit."""

    def __init__(self, store: Path) -> None:
        import numpy as np

        from gridmap.store import open_store

        with open_store(store) as st:
            frame = st.read("buildings", columns=["code", "grid_code"])
        points = frame.geometry.representative_point()
        self.codes = frame["code"].astype(str).to_numpy(dtype=str)
        grids = frame["grid_code"].astype("string").fillna("").to_numpy(dtype=object)
        self.grids = np.array(
            [g or c[:14] for g, c in zip(grids, self.codes, strict=True)], dtype=object
        )
        self.xs, self.ys = points.x.to_numpy(), points.y.to_numpy()
        self._under: dict[str, Any] = {}

    def pick(self, unit: str, rng: random.Random) -> tuple[str, str, float, float]:
        import numpy as np

        if unit not in self._under:
            self._under[unit] = np.flatnonzero(np.char.startswith(self.codes, unit))
        hits = self._under[unit]
        if not len(hits):
            raise SystemExit(f"no building under {unit}: cannot place a case on screen")
        i = int(hits[rng.randrange(len(hits))])
        return self.codes[i], self.grids[i], float(self.xs[i]), float(self.ys[i])


@dataclass
class Sample:
    """One write: what, where (the unit on screen), when, and when the page showed it."""

    case: str
    kind: str  # "new" or "move FROM→TO"
    unit: str
    read_ms: float  # when the unit on screen was read (before the write)
    commit_ms: float  # when the write's commit returned
    write_s: float  # how long the write took in this process
    shown_ms: float | None = None
    left: bool = False
    never: bool = False

    @property
    def latency_s(self) -> float | None:
        return None if self.shown_ms is None else (self.shown_ms - self.commit_ms) / 1000

    @property
    def pending(self) -> bool:
        return self.shown_ms is None and not self.left and not self.never


class Writer:
    """Writes the cases and moves, as another process than the server does."""

    def __init__(self, store: Path, buildings: Buildings, rng: random.Random) -> None:
        self.store = store
        self.buildings = buildings
        self.rng = rng
        self.count = 0
        self.new = 0
        self.moves = 0
        self.no_move = 0  # a move was due, no open case under the unit: a new case instead
        self.errors: list[str] = []

    def write(self, unit: str, read_ms: float, busy: set[str]) -> Sample | None:
        self.count += 1
        t0 = time.perf_counter()
        try:
            if self.count % 2 == 0:
                done = self._move(unit, busy)
                if done is None:
                    self.no_move += 1
                    done = self._new_case(unit)
            else:
                done = self._new_case(unit)
        except Exception as error:  # a failed write is reported, the soak goes on
            self.errors.append(f"{type(error).__name__}: {error}"[:300])
            return None
        commit_ms = time.time() * 1000
        case, kind = done
        if kind == "new":
            self.new += 1
        else:
            self.moves += 1
        return Sample(case, kind, unit, read_ms, commit_ms, time.perf_counter() - t0)

    def _new_case(self, unit: str) -> tuple[str, str]:
        import geopandas as gpd
        import pandas as pd

        from gridmap.incidents.report import case_id, new_case
        from gridmap.services.accounts import local_actor
        from gridmap.store import open_store

        building, grid, lon, lat = self.buildings.pick(unit, self.rng)
        at = datetime.now(UTC)
        incident = case_id(at, uuid.uuid4().hex)
        row, event = new_case(
            incident_id=incident,
            lon=lon,
            lat=lat,
            category=self.rng.choice(CATEGORIES),
            description=f"【合成】bench 大屏浸泡测试 第 {self.count} 次写入",
            grid_code=grid,
            building_code=building,
            actor=ACTOR,
            at=at,
        )
        with open_store(self.store) as st:
            st.write(
                {
                    "incidents": gpd.GeoDataFrame([row], geometry="geometry", crs="EPSG:4326"),
                    "incident_events": pd.DataFrame([event]),
                },
                audit=local_actor().entry("incident_create", incident),
            )
        return incident, "new"

    def _move(self, unit: str, busy: set[str]) -> tuple[str, str] | None:
        from gridmap.incidents.workflow import move
        from gridmap.services.accounts import local_actor
        from gridmap.store import open_store

        with open_store(self.store) as st:
            rows = st.read(
                "incidents", where={"step": list(FORWARD)}, prefixes={"grid_code": [unit]}
            )
            rows = rows[~rows["id"].astype(str).isin(busy)]
            if not len(rows):
                return None
            row = rows.iloc[self.rng.randrange(len(rows))]
            step = str(row["step"])
            to = FORWARD[step]
            extra: dict[str, str] = {}
            if to == "dispatched":
                extra["department"] = DEPARTMENT
            elif to == "closed":
                extra["closed_level"] = "grid"
            moved, events = move(
                row.drop(labels="geometry").to_dict(),
                to,
                actor=ACTOR,
                at=datetime.now(UTC),
                note="【合成】bench 大屏浸泡测试",
                **extra,
            )
            st.move_incident(
                moved,
                events,
                expected_version=int(row["version"]),
                audit=local_actor().entry("incident_move", str(row["id"])),
            )
        return str(row["id"]), f"move {step}→{to}"


# -- the page -------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """The page's memory (after garbage collection) and the server's, at one moment."""

    at_s: float  # seconds since the soak's start
    unit: str
    heap_mb: float
    heap_total_mb: float
    nodes: int
    listeners: int
    documents: int
    elements: int
    markers: int
    feed_rows: int
    task_s: float  # the renderer's main-thread task seconds, since the page opened
    server_rss_mb: float
    server_hwm_mb: float
    server_cpu_s: float
    kinds: dict[str, int] = field(default_factory=dict)  # elements by tag.first-class


def _metrics(cdp: Any, gc: bool) -> dict[str, float]:
    if gc:
        # Twice: the first collection can leave what only a second one frees.
        cdp.send("HeapProfiler.collectGarbage")
        cdp.send("HeapProfiler.collectGarbage")
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def _checkpoint(page: Any, cdp: Any, pid: int, at_s: float) -> Checkpoint:
    m = _metrics(cdp, gc=True)
    counts = page.evaluate(PAGE_COUNTS)
    server = _status(pid)
    return Checkpoint(
        at_s=at_s,
        unit=counts["unit"],
        heap_mb=m["JSHeapUsedSize"] / 2**20,
        heap_total_mb=m["JSHeapTotalSize"] / 2**20,
        nodes=int(m["Nodes"]),
        listeners=int(m["JSEventListeners"]),
        documents=int(m["Documents"]),
        elements=int(counts["elements"]),
        markers=int(counts["markers"]),
        feed_rows=int(counts["feed"]),
        task_s=float(m.get("TaskDuration", 0.0)),
        server_rss_mb=server["VmRSS"],
        server_hwm_mb=server["VmHWM"],
        server_cpu_s=server["cpu_s"],
        kinds=counts["kinds"],
    )


@dataclass
class PageLog:
    """What the page said went wrong, and the requests that did."""

    console: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    reloads: int = 0

    def watch(self, page: Any) -> None:
        page.on("console", lambda m: m.type == "error" and self.console.append(m.text[:300]))
        page.on("pageerror", lambda e: self.exceptions.append(str(e)[:300]))
        page.on(
            "response",
            lambda r: r.status >= 400 and self.bad_responses.append(f"{r.status} {r.url[:160]}"),
        )
        page.on(
            "requestfailed",
            lambda r: self.failed_requests.append(f"{r.failure} {r.url[:160]}"),
        )


class Screen:
    """The page as the soak follows it: the recorder's events, the unit and stop on screen."""

    def __init__(self, page: Any, log: PageLog) -> None:
        self.page = page
        self.log = log
        self.events: list[list] = []  # [ms, case, step text, unit], since the last take
        self.units: list[list] = []  # [ms, unit]
        self.last: dict[str, Any] = {}
        self.install()

    def install(self) -> None:
        self.page.wait_for_function("() => window.gmWall && window.gmWall.state", timeout=60_000)
        self.page.evaluate(RECORDER)

    def poll(self) -> dict[str, Any]:
        from playwright.sync_api import Error

        try:
            out = self.page.evaluate(DRAIN)
        except Error:  # the page is navigating (a reload): its context is gone
            out = None
        if out is None:
            # The page reloaded (its nightly reload, or a crash): the recorder is gone.
            self.log.reloads += 1
            self.install()
            out = self.page.evaluate(DRAIN)
        self.events.extend(out.pop("events"))
        self.units.extend(out.pop("units"))
        self.last = out
        return out

    def ready(self, unit: str | None, settle_s: float, left_s: float) -> bool:
        """Whether the stop on screen (``unit``, or any) is settled for a checkpoint."""
        s = self.last
        if not s or s["takeover"] or s["drawn"] != s["unit"]:
            return False
        if unit is not None and s["unit"] != unit:
            return False
        if s["now"] - s["arrived"] < settle_s * 1000:
            return False
        touring = s["stops"] >= 2 and s["next_stop"]
        return not touring or s["next_stop"] - s["now"] >= left_s * 1000


def _resolve(screen: Screen, samples: list[Sample], now_ms: float) -> None:
    """Match the page's events to the pending samples, in the order they happened."""
    pending = [s for s in samples if s.pending]
    happened = [("event", e[0], e) for e in screen.events] + [
        ("unit", u[0], u) for u in screen.units
    ]
    happened.sort(key=lambda h: (h[1], h[0] == "unit"))
    for what, at, item in happened:
        for s in pending:
            if not s.pending:
                continue
            if what == "unit" and at >= s.read_ms:
                s.left = True
            elif what == "event" and item[1] == s.case and item[3] == s.unit and at >= s.read_ms:
                s.shown_ms = at
    screen.events.clear()
    screen.units.clear()
    for s in pending:
        if s.pending and now_ms - s.commit_ms > NEVER_S * 1000:
            s.never = True


# -- figures ------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile (linear between the closest ranks); NaN without values."""
    if not values:
        return math.nan
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _growth(start: float, end: float) -> float:
    return (end - start) / start if start else math.nan


def _mark(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def _report(
    args: argparse.Namespace,
    samples: list[Sample],
    writer: Writer,
    points: list[Checkpoint],
    start: Checkpoint,
    end: Checkpoint,
    rss_peak: float,
    log: PageLog,
    server_log: str,
    extra_s: float,
    stops: int,
) -> dict[str, Any]:
    """Print the table; the figures (for ``--out-json``)."""
    duration = end.at_s - start.at_s
    latencies = [s.latency_s for s in samples if s.latency_s is not None]
    new_lat = [s.latency_s for s in samples if s.latency_s is not None and s.kind == "new"]
    move_lat = [s.latency_s for s in samples if s.latency_s is not None and s.kind != "new"]
    left = sum(s.left for s in samples)
    write_s = [s.write_s for s in samples]
    never = sum(s.never for s in samples)
    p50, p95 = _pct(latencies, 50), _pct(latencies, 95)
    heap_d = end.heap_mb - start.heap_mb
    heap_g = _growth(start.heap_mb, end.heap_mb)
    markers_d = end.markers - start.markers
    nodes_net = end.nodes - markers_d
    nodes_g = _growth(start.nodes, nodes_net)
    listeners_g = _growth(start.listeners, end.listeners)
    cpu = 100 * (end.server_cpu_s - start.server_cpu_s) / duration if duration else math.nan
    page_busy = 100 * (end.task_s - start.task_s) / duration if duration else math.nan
    tracebacks = server_log.count("Traceback")
    met = {
        "latency_p95": bool(latencies) and p95 <= LATENCY_P95_S,
        "heap": heap_d <= HEAP_NOISE[1] or heap_g <= HEAP_NOISE[0],
        "nodes": nodes_g <= NODES_NOISE,
        "listeners": listeners_g <= LISTENERS_NOISE,
        "errors": not log.console and not log.exceptions,
    }

    w, h = args.size
    print()
    print(
        f"/wall soak: {w}×{h}, tour on ({stops} stops, {args.dwell:g} s each), a write every "
        f"{args.every:g} s (± {100 * args.jitter:.0f} %) for {args.minutes:g} min "
        f"(+{extra_s / 60:.1f} min until the tour was "
        f"back at the start's stop {start.unit}); {os.cpu_count()} CPUs"
    )
    rows: list[tuple[str, str, str, str]] = [
        ("duration (start → end figures)", f"{duration / 60:.1f} min", "", ""),
        (
            "writes (new cases / moves)",
            f"{writer.new + writer.moves} ({writer.new} / {writer.moves})",
            "",
            "",
        ),
        ("writes failed", str(len(writer.errors)), "", ""),
        (
            "write time here p50 / max",
            f"{_pct(write_s, 50):.2f} / {max(write_s, default=math.nan):.2f} s",
            "",
            "",
        ),
        ("samples on screen", str(len(latencies)), "", ""),
        ("write-to-screen latency p50", f"{p50:.2f} s", "", ""),
        (
            "write-to-screen latency p95",
            f"{p95:.2f} s",
            f"<= {LATENCY_P95_S:g} s",
            _mark(met["latency_p95"]),
        ),
        ("write-to-screen latency max", f"{max(latencies, default=math.nan):.2f} s", "", ""),
        (
            "  p50 new cases / moves",
            f"{_pct(new_lat, 50):.2f} / {_pct(move_lat, 50):.2f} s",
            "",
            "",
        ),
        ("samples that left the screen", str(left), "(not in latency)", ""),
        ("samples never shown (90 s)", str(never), "0", ""),
        (
            "JS heap used, after GC",
            f"{start.heap_mb:.1f} → {end.heap_mb:.1f} MB ({100 * heap_g:+.1f} %)",
            "<= +10 % or +2 MB",
            _mark(met["heap"]),
        ),
        (
            "DOM nodes (CDP), after GC",
            f"{start.nodes:,} → {end.nodes:,} ({100 * _growth(start.nodes, end.nodes):+.1f} %)",
            "",
            "",
        ),
        ("  markers drawn", f"{start.markers:,} → {end.markers:,} ({markers_d:+,})", "", ""),
        (
            "  nodes, markers' change off",
            f"{start.nodes:,} → {nodes_net:,} ({100 * nodes_g:+.1f} %)",
            "<= +5 %",
            _mark(met["nodes"]),
        ),
        ("elements in the document", f"{start.elements:,} → {end.elements:,}", "", ""),
        (
            "JS event listeners",
            f"{start.listeners:,} → {end.listeners:,} ({100 * listeners_g:+.1f} %)",
            "<= +5 %",
            _mark(met["listeners"]),
        ),
        ("documents", f"{start.documents} → {end.documents}", "", ""),
        ("page main thread busy", f"{page_busy:.1f} %", "", ""),
        (
            "server RSS start / peak / end",
            f"{start.server_rss_mb:.0f} / {rss_peak:.0f} / {end.server_rss_mb:.0f} MB",
            "",
            "",
        ),
        ("server VmHWM (peak since start)", f"{end.server_hwm_mb:.0f} MB", "", ""),
        ("server CPU, over the soak", f"{cpu:.1f} % of one CPU", "", ""),
        (
            "page errors (console / pageerror)",
            f"{len(log.console)} / {len(log.exceptions)}",
            "0",
            _mark(met["errors"]),
        ),
        (
            "responses >= 400 / failed requests",
            f"{len(log.bad_responses)} / {len(log.failed_requests)}",
            "",
            "",
        ),
        ("page reloads / server tracebacks", f"{log.reloads} / {tracebacks}", "", ""),
    ]
    print(f"{'figure':36s} {'value':38s} {'target':18s} verdict")
    for name, value, target, verdict in rows:
        print(f"{name:36s} {value:38s} {target:18s} {verdict}")
    print()
    print(
        "checkpoints (after GC)   unit          heap MB   nodes  elements  listeners  markers"
        "  server RSS MB"
    )
    for c in points:
        print(
            f"  {c.at_s / 60:6.1f} min             {c.unit:12s} {c.heap_mb:8.1f} {c.nodes:7,} "
            f"{c.elements:9,} {c.listeners:10,} {c.markers:8,} {c.server_rss_mb:14.0f}"
        )
    changed = {k: end.kinds.get(k, 0) - start.kinds.get(k, 0) for k in {*start.kinds, *end.kinds}}
    changed = {k: v for k, v in changed.items() if v}
    if changed:
        top = sorted(changed.items(), key=lambda kv: -abs(kv[1]))[:8]
        print(
            "elements that changed, start → end (tag.class): "
            + ", ".join(f"{k} {start.kinds.get(k, 0)}→{end.kinds.get(k, 0)}" for k, _ in top)
        )
    slow = sorted((s for s in samples if s.latency_s is not None), key=lambda s: -s.latency_s)[:5]
    if slow:
        print(
            "slowest samples: "
            + ", ".join(f"{s.latency_s:.1f} s ({s.kind}, {s.unit})" for s in slow)
        )
    for title, items in (
        ("console errors", log.console),
        ("page exceptions", log.exceptions),
        ("responses >= 400", log.bad_responses),
        ("failed requests", log.failed_requests),
        ("failed writes", writer.errors),
    ):
        if items:
            print(f"{title} ({len(items)}), the first: " + " | ".join(items[:3]))
    if tracebacks:
        first = server_log.index("Traceback")
        print("the server's first traceback:\n" + server_log[first : first + 2000])
    if end.unit != start.unit:
        print(f"the tour did not come back to {start.unit} in time: the end is at {end.unit}")
    if writer.no_move:
        print(
            f"{writer.no_move} moves were due with no open case under the unit: new cases instead"
        )
    print("verdict: " + ", ".join(f"{k} {_mark(v)}" for k, v in met.items()))
    return {
        "size": f"{w}x{h}",
        "minutes": args.minutes,
        "every_s": args.every,
        "dwell_s": args.dwell,
        "stops": stops,
        "duration_s": duration,
        "writes": writer.new + writer.moves,
        "new_cases": writer.new,
        "moves": writer.moves,
        "writes_failed": writer.errors,
        "latency_s": {
            "n": len(latencies),
            "p50": p50,
            "p95": p95,
            "max": max(latencies, default=math.nan),
        },
        "left_the_screen": left,
        "never_shown": never,
        "start": asdict(start),
        "end": asdict(end),
        "checkpoints": [asdict(c) for c in points],
        "server_rss_peak_mb": rss_peak,
        "server_cpu_percent": cpu,
        "page_busy_percent": page_busy,
        "console_errors": log.console,
        "page_exceptions": log.exceptions,
        "bad_responses": log.bad_responses,
        "failed_requests": log.failed_requests,
        "page_reloads": log.reloads,
        "server_tracebacks": tracebacks,
        "samples": [asdict(s) | {"latency_s": s.latency_s} for s in samples],
        "met": met,
    }


# -- the soak -------------------------------------------------------------------------


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not WIDTHxHEIGHT: {text}") from None
    return w, h


def _progress(elapsed: float, samples: list[Sample], screen: Screen, cdp: Any, pid: int) -> float:
    """One progress line; the server's RSS (MB)."""
    lat = [s.latency_s for s in samples if s.latency_s is not None]
    top = max(lat, default=math.nan)
    m = _metrics(cdp, gc=False)
    server = _status(pid)
    s = screen.last
    print(
        f"[{int(elapsed // 60):3d}:{int(elapsed % 60):02d}] writes {len(samples)}, "
        f"on screen {len(lat)} (p50 {_pct(lat, 50):.1f} s, max {top:.1f} s), "
        f"left {sum(x.left for x in samples)}, never {sum(x.never for x in samples)}, "
        f"pending {sum(x.pending for x in samples)} | stop {s.get('stop', 0) + 1}/{s.get('stops')} "
        f"{s.get('unit')} | heap {m['JSHeapUsedSize'] / 2**20:.1f} MB (no GC), "
        f"nodes {int(m['Nodes']):,} | server RSS {server['VmRSS']:.0f} MB",
        flush=True,
    )
    return server["VmRSS"]


def _wait(page: Any, screen: Screen, seconds: float, proc: subprocess.Popen, log: Path) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        _alive(proc, log)
        page.wait_for_timeout(250)
        screen.poll()
        screen.events.clear()
        screen.units.clear()


def soak(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    store = _copy(args.store, folder) if args.store else _demo(folder)
    token, district = _token(store)
    buildings = Buildings(store)
    writer = Writer(store, buildings, random.Random(args.seed))
    rng = random.Random(args.seed + 1)
    server_log = folder / "serve.log"
    proc, url, started = _start(store, server_log, args.production)
    print(f"server up in {started:.1f} s: {url} (log {server_log}); wall of {district}", flush=True)
    w, h = args.size
    settle = min(10.0, args.dwell / 3)
    left_s = min(4.0, args.dwell / 4)
    log = PageLog()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(
                    viewport={"width": w, "height": h}, device_scale_factor=1
                )
                page = context.new_page()
                log.watch(page)
                page.goto(
                    f"{url}/wall?token={token}&tour=1&dwell={args.dwell:g}&alert=10",
                    timeout=60_000,
                )
                page.wait_for_function(
                    "() => document.querySelector('[data-testid=kpi-open] .gm-fig')"
                    ".textContent !== '—' && document.querySelectorAll("
                    "'.leaflet-interactive, .gm-wall-map path').length > 0",
                    timeout=60_000,
                )
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")
                screen = Screen(page, log)
                print(f"page filled; warming up {args.warmup:g} s", flush=True)
                _wait(page, screen, args.warmup, proc, server_log)
                while not screen.ready(None, settle, left_s):
                    _wait(page, screen, 0.25, proc, server_log)
                t0 = time.monotonic()
                start = _checkpoint(page, cdp, proc.pid, 0.0)
                stops = int(screen.last["stops"])
                print(
                    f"start: stop {start.unit}, heap {start.heap_mb:.1f} MB, "
                    f"nodes {start.nodes:,}, "
                    f"listeners {start.listeners:,}, server RSS {start.server_rss_mb:.0f} MB",
                    flush=True,
                )
                points = [start]
                samples: list[Sample] = []
                rss_peak = start.server_rss_mb
                end_at = t0 + 60 * args.minutes
                round_s = max(stops, 1) * args.dwell + 30
                next_write, next_line, next_point = t0, t0 + 60, t0 + CHECKPOINT_S
                while True:
                    now = time.monotonic()
                    _alive(proc, server_log)
                    info = screen.poll()
                    _resolve(screen, samples, time.time() * 1000)
                    if now >= end_at:
                        late = now - end_at > round_s
                        if screen.ready(None if late else start.unit, settle, left_s):
                            break
                    if now >= next_write:
                        busy = {s.case for s in samples if s.pending}
                        sample = writer.write(info["unit"], info["now"], busy)
                        if sample is not None:
                            samples.append(sample)
                        # Gaps of every × (1 ± jitter): writes keep no phase with the stops.
                        next_write += args.every * rng.uniform(1 - args.jitter, 1 + args.jitter)
                    if now >= next_line:
                        rss_peak = max(
                            rss_peak, _progress(now - t0, samples, screen, cdp, proc.pid)
                        )
                        next_line += 60
                    if now >= next_point:
                        points.append(_checkpoint(page, cdp, proc.pid, now - t0))
                        rss_peak = max(rss_peak, points[-1].server_rss_mb)
                        next_point += CHECKPOINT_S
                    page.wait_for_timeout(100)
                end = _checkpoint(page, cdp, proc.pid, time.monotonic() - t0)
                points.append(end)
                rss_peak = max(rss_peak, end.server_rss_mb)
                extra = end.at_s - 60 * args.minutes
                # The last writes' samples: until each showed, left or timed out (no new writes).
                give_up = time.monotonic() + NEVER_S + 5
                while any(s.pending for s in samples) and time.monotonic() < give_up:
                    _alive(proc, server_log)
                    page.wait_for_timeout(200)
                    screen.poll()
                    _resolve(screen, samples, time.time() * 1000)
                context.close()
            finally:
                browser.close()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return _report(
        args,
        samples,
        writer,
        points,
        start,
        end,
        rss_peak,
        log,
        server_log.read_text(errors="replace"),
        extra,
        stops,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="a demo GeoPackage (default: build 北湖区)")
    parser.add_argument("--minutes", type=float, default=30.0, help="the soak's length (30)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between writes (10)")
    parser.add_argument(
        "--jitter",
        type=float,
        default=0.5,
        help="each gap between writes is every × (1 ± jitter), drawn uniformly (0.5)",
    )
    parser.add_argument("--dwell", type=float, default=30.0, help="tour seconds per stop (30)")
    parser.add_argument("--size", type=_size, default=(3840, 2160), help="WxH (3840x2160)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the start (60)")
    parser.add_argument("--out-json", type=Path, help="write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--production", action="store_true", help="serve with waitress")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 <= args.jitter < 1:
        parser.error("--jitter is a fraction in [0, 1)")
    if args.store is not None and not args.store.is_file():
        parser.error(f"no such store: {args.store}")

    folder = Path(tempfile.mkdtemp(prefix="gridmap-bench-wall-"))
    try:
        figures = soak(args, folder)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if args.out_json:
        args.out_json.write_text(
            json.dumps(figures, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
        )
        print(f"figures written to {args.out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
