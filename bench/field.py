"""Benchmark: the field mode (``/field``) under 50 grid supervisors, and on a slow link.

The field-mode issue, point 6. Runs the real server (``gridmap serve STORE
--production``: waitress, 8 threads, in a child process) on a copy of the demo
store and measures, in one run:

* **50 supervisors at once** — the benchmark adds 50 supervisor accounts to its copy, each
  of its own grid (picked at random from the store's ``grids``), and puts
  ``--cases-per-grid`` cases at ``reported_back`` into each of those grids (written with the
  store's API before the server starts: reported, registered, dispatched, handled and
  reported back, every event in place). (One password for all, hashed once: 50 Argon2 hashes
  are ~9 s of set-up.) Each account signs in once (``POST /login``, before the clock
  starts), then loops, one thread per session (``requests``), for ``--seconds``: **open**
  (``GET /field``, the page with its first list), **list** (``GET
  /_gridmap/field/cases.json``), **report** (``POST /_gridmap/field/report`` from a point
  inside the grid, with one 1600×1200 JPEG of ~300 kB, three times what the page's script
  uploads (it fits photos to 100 kB); each report's picture is different, as each photo is,
  so the store keeps every one) and **move** (``POST /_gridmap/field/move``: closes one of
  the grid's cases at ``reported_back``, chosen from the list it just got, at the version it
  read). About 5 % of the reports are sent a second time with the same key, as the outbox
  retries a report whose answer was lost: half after the first answer came, half at the same
  time as the first. No pause between requests (``--think`` adds one). Printed:
  p50/p95/p99/max per kind, the counts, the errors (any non-2xx answer or exception: there
  must be none; the first ones with status and body), the cases in the store afterwards
  against the reports answered 201 (no report lost, none saved twice; every retry answered
  ``duplicate`` with the first case's id), the cases closed, the server's resident memory at
  start and end (``/proc/PID/status``: VmRSS, and the peak VmHWM) and the CPU time it used;
  after the run, SQLite's ``integrity_check`` of the store and the tracebacks of the
  server's log (counted by the exception they end in; the first one's frames), and how deep
  waitress's task queue went.
* **a slow link, in headless Chromium** — one of the supervisors signs in through
  ``/login``; then, on Chromium's emulated slow connection (CDP
  ``Network.emulateNetworkConditions``: 400 ms round trip, 400 kbit/s each way), ``/field``
  is opened with the browser's cache emptied (``Network.clearBrowserCache``; the context has
  never opened ``/field``, so no service worker either) until it is usable: the case list
  shows its cases (or says there are none) and the map its Leaflet container with the cases
  drawn (``.leaflet-interactive``) — budget ≤ 5 s; opened again with the cache warm — budget
  ≤ 1 s; and a report with one photo: a 4000×3000 camera-size JPEG (~3.5 MB) chosen in the
  form, which the page resizes (at most 1600 px, smaller until it fits 100 kB) before it
  goes into the outbox, timed from the click on submit until the outbox count is back to 0
  (the server answered 2xx) — budget ≤ 3 s. The cold and the warm view are opened ``--runs``
  times (cold, warm, cold …): the slowest is held to the budget, each is printed, also as
  the page's own clock has it (from the navigation's start, and when its HTML had come).
  Then the page is opened once more (cache warm, after that write: the geometry's URLs name
  the store's version). The service worker is blocked in this context: Chromium's emulated
  link slows the page's own requests only, not a service worker's (which would then fetch at
  full speed and flatter the warm figure); the HTTP cache alone is measured. Printed beside
  each figure: its budget, the bytes received (compressed, headers included) and the photo's
  bytes sent.

No peer is named for these budgets, so none is run. Exit status 1 if a budget
is missed or anything failed.

Run: ``./dev.sh bench field [--store DEMO.gpkg] [--seconds 120] [--sessions 50]
[--cases-per-grid N] [--runs 3] [--only load|browser] [--quick] [--keep DIR]``;
``--quick`` is a 20-second run of 10 sessions (for trying it). Without ``--store`` the
北湖区 demo is built into a temporary folder first (20 s). The store given is never
written: the benchmark works on a copy (``--keep DIR`` keeps it, with the server's log).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import itertools
import math
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
#: The issue's slow connection: 400 kbit/s each way, 400 ms round trip.
SLOW = {"offline": False, "latency": 400, "downloadThroughput": 50_000, "uploadThroughput": 50_000}
#: Budgets on the slow link, in seconds.
BUDGETS = {"cold_s": 5.0, "warm_s": 1.0, "report_s": 3.0}
#: The admin the benchmark acts as when it sets its copy up.
BENCH_USER = "bench"
#: The department the prepared cases were dispatched to (one of the demo's).
DEPARTMENT = "网格工作站"
#: Share of the reports sent twice with the same key (the outbox's retry).
RETRY_SHARE = 0.05
#: waitress's warning when requests wait for a thread.
_QUEUE = re.compile(r"WARNING:waitress\.queue:Task queue depth is (\d+)")
KINDS = ("open", "list", "report", "move", "report retry, after", "report retry, at once")


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
            # The ping answers without a session.
            urllib.request.urlopen(url + "/_gridmap/ping", timeout=1).read()
            return proc, url, time.perf_counter() - t0
        except OSError:
            if time.perf_counter() - t0 > 120:
                raise SystemExit("gridmap serve did not answer within 120 s") from None
            time.sleep(0.1)


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


# -- the store's set-up -----------------------------------------------------------------


@dataclass
class Supervisor:
    """A benchmark account: its name, its grid, points inside the grid."""

    name: str
    grid: str
    points: list[tuple[float, float]]


def _points_in(polygon: Any, count: int, rng: random.Random) -> list[tuple[float, float]]:
    """``count`` random points inside ``polygon`` (lon, lat), drawn in its bounds."""
    import shapely

    minx, miny, maxx, maxy = polygon.bounds
    inner = polygon.buffer(-1e-5) if polygon.area > 1e-9 else polygon
    inner = inner if not inner.is_empty else polygon
    shapely.prepare(inner)
    out: list[tuple[float, float]] = []
    for _ in range(100 * count):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(inner, x, y):
            out.append((x, y))
            if len(out) == count:
                return out
    point = polygon.representative_point()
    return out + [(point.x, point.y)] * (count - len(out))


def _reported_back(
    incident_id: str, grid: str, point: tuple[float, float], at: datetime
) -> tuple[dict, list[dict]]:
    """A case reported at ``at`` in ``grid``, walked to ``reported_back``: its row, its events."""
    from gridmap import incidents as inc
    from gridmap.incidents.report import new_case

    row, event = new_case(
        incident_id=incident_id,
        lon=point[0],
        lat=point[1],
        category="city_appearance",
        description="基准测试：待核查的案件",
        grid_code=grid,
        building_code=None,
        actor=BENCH_USER,
        at=at,
    )
    events = [event]
    for i, (step, extra) in enumerate(
        (
            ("registered", {}),
            ("dispatched", {"department": DEPARTMENT}),
            ("handling", {}),
            ("reported_back", {}),
        ),
        start=1,
    ):
        row, more = inc.move(
            row, step, actor=BENCH_USER, at=at + timedelta(minutes=10 * i), **extra
        )
        events.extend(more)
    return row, events


def _set_up(store: Path, sessions: int, per_grid: int, seed: int) -> tuple[list[Supervisor], str]:
    """Add the supervisors and their cases at ``reported_back`` to ``store`` (the copy).

    Returns the supervisors and their password (one for all: the same hash,
    so that 50 accounts do not cost 50 Argon2 hashes of set-up).
    """
    import geopandas as gpd
    import pandas as pd

    from gridmap.accounts import Account, generate_password, hash_password
    from gridmap.audit import AuditEntry
    from gridmap.store import open_store

    rng = random.Random(seed)
    password = generate_password()
    digest = hash_password(password)
    now = datetime.now(UTC)
    with open_store(store) as opened:
        grids = opened.read("grids", columns=["code"])
        buildings = opened.read("buildings", columns=["grid_code"])
        # Grids with buildings (a report there finds one within 30 m, as most do).
        built = set(buildings["grid_code"].astype(str))
        codes = sorted(c for c in grids["code"].astype(str) if c in built)
        chosen = rng.sample(codes, sessions)
        shapes = dict(zip(grids["code"].astype(str), grids.geometry, strict=True))
        admin = AuditEntry(BENCH_USER, "admin", "cli", "user_change", BENCH_USER)
        if opened.user(BENCH_USER) is None:
            opened.add_user(Account(BENCH_USER, "admin", password_hash=digest), audit=admin)
        people = []
        rows: list[dict] = []
        events: list[dict] = []
        for i, grid in enumerate(chosen, start=1):
            name = f"field-{i:02d}"
            points = _points_in(shapes[grid], 24, rng)
            account = Account(name, "supervisor", scope=(grid,), password_hash=digest)
            opened.add_user(
                account, audit=AuditEntry(BENCH_USER, "admin", "cli", "user_change", name)
            )
            people.append(Supervisor(name, grid, points))
            for k in range(per_grid):
                at = now - timedelta(hours=3, seconds=k)
                row, evs = _reported_back(f"BENCH-{grid}-{k:03d}", grid, points[k % 24], at)
                rows.append(row)
                events.extend(evs)
        if rows:
            opened.write(
                {
                    "incidents": gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326"),
                    "incident_events": pd.DataFrame(events),
                },
                mode="append",
                audit=AuditEntry(
                    BENCH_USER, "admin", "cli", "import", "incidents", {"rows": len(rows)}
                ),
            )
    return people, password


def _field_cases(store: Path) -> dict[str, Any]:
    """What the store holds of the reports: the ids of ``F…`` cases from patrols, requests."""
    import sqlite3

    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as con:
        ids = [
            r[0]
            for r in con.execute(
                "SELECT id FROM incidents WHERE id LIKE 'F%' AND source = 'patrol'"
            )
        ]
        keys = con.execute("SELECT count(*) FROM client_requests WHERE kind = 'report'").fetchone()
        closed = [r[0] for r in con.execute("SELECT id FROM incidents WHERE step = 'closed'")]
        photos = con.execute("SELECT count(*) FROM photos").fetchone()
    return {"ids": ids, "report_keys": keys[0], "closed": closed, "photos": photos[0]}


# -- pictures -------------------------------------------------------------------------


def _scene(width: int, height: int, seed: int, noise: float, finest: int) -> Any:
    """A picture with detail at every scale, as a photo has (octaves of smooth noise, grain).

    Uniform noise alone would compress like no photo does; octaves of random
    fields, each four times finer and fainter than the last, down to ``finest``
    pixels, plus a camera's grain, give a JPEG of a photo's size.
    """
    import numpy as np
    from PIL import Image

    gen = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float32)
    total, cells, k = 0.0, 6, 0
    while width / cells >= finest:
        amp = 0.6**k
        rows = max(2, round(cells * height / width))
        small = (gen.random((rows, cells, 3)) * 255).astype(np.uint8)
        big = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
        out += amp * np.asarray(big, np.float32)
        total += amp
        cells, k = cells * 4, k + 1
    out /= total
    out += gen.normal(0, noise, (height, width, 1)).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _jpeg(pixels: Any, quality: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=quality)
    return out.getvalue()


class Photos:
    """One 1600×1200 scene, made at start-up; each report's JPEG differs in a stamped corner.

    The store keeps a picture once by its content: the same bytes in every
    report would be stored once, and the writes would be lighter than the
    field's, whose every photo is new.
    """

    def __init__(self) -> None:
        self.base = _scene(1600, 1200, seed=1, noise=3.0, finest=4)
        self.counter = itertools.count()
        self.size = len(_jpeg(self.base, 85))

    def next(self) -> bytes:
        n = next(self.counter)
        pixels = self.base.copy()
        # 16 cells of 12 px, one bit of n each: every picture's pixels differ.
        for bit in range(16):
            value = 255 if (n >> bit) & 1 else 0
            pixels[8 : 8 + 12, 8 + 12 * bit : 20 + 12 * bit] = value
        return _jpeg(pixels, 85)


# -- the sessions ---------------------------------------------------------------------


@dataclass
class Results:
    """What every session saw, under one lock."""

    times: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    error_count: int = 0
    error_kinds: collections.Counter = field(default_factory=collections.Counter)
    reasons: collections.Counter = field(default_factory=collections.Counter)
    created: dict[str, str] = field(default_factory=dict)  # key -> case id (201 answers)
    retries: int = 0
    retries_ok: int = 0
    retries_failed: int = 0  # one of its answers was an error (counted with the errors)
    moves_closed: set[str] = field(default_factory=set)
    moves_none_left: int = 0
    own_missing: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def time(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.times[kind].append(seconds)

    def error(self, kind: str, status: str, body: str) -> None:
        # One line: an HTML error page says its title, a JSON answer its error.
        text = " ".join(re.sub(r"<[^>]+>", " ", body).split())
        # What went wrong, without the names that differ (a layer, the store's path).
        reason = re.sub(r"layer '\w+' of \S+", "layer … of STORE", text)
        reason = re.sub(r"^\{\s*\"error\": \"", "", reason)
        with self.lock:
            self.error_count += 1
            self.error_kinds[(kind, status)] += 1
            self.reasons[f"{status}: {reason[:110]}"] += 1
            if len(self.errors) < 20:
                self.errors.append((kind, status, text[:260]))


def _sign_in(url: str, name: str, password: str):
    """A ``requests`` session signed in as ``name`` (``POST /login``)."""
    import requests

    session = requests.Session()
    response = session.post(url + "/login", data={"name": name, "password": password}, timeout=120)
    if response.status_code != 200 or "gridmap_session" not in session.cookies:
        raise SystemExit(f"could not sign in as {name}: {response.status_code}")
    return session


def _send(results: Results, kind: str, call, ok: tuple[int, ...]):
    """Time one request; an exception or a status not in ``ok`` is an error (None)."""
    t0 = time.perf_counter()
    try:
        response = call()
        response.content  # noqa: B018 (the whole body is part of the time)
    except Exception as error:  # every failure counts, and is shown
        results.error(kind, type(error).__name__, str(error))
        return None
    elapsed = time.perf_counter() - t0
    if response.status_code not in ok:
        results.error(kind, str(response.status_code), response.text)
        return None
    results.time(kind, elapsed)
    return response


def _session_loop(
    url: str,
    session: Any,
    who: Supervisor,
    photos: Photos,
    results: Results,
    end: float,
    think: float,
    rng: random.Random,
) -> None:
    """One supervisor's loop until ``end``: open, list, report (with a photo), move."""
    api = url + "/_gridmap/field/"
    last_report: str | None = None
    n = 0
    while time.perf_counter() < end:
        opened = _send(results, "open", lambda: session.get(url + "/field", timeout=120), (200,))
        if opened is not None and 'data-testid="case-list"' not in opened.text:
            results.error("open", "200", "the page has no case list: " + opened.text[:200])
        listed = _send(
            results, "list", lambda: session.get(api + "cases.json", timeout=120), (200,)
        )
        cases = listed.json()["cases"] if listed is not None else []
        if listed is not None and last_report and last_report not in {c["id"] for c in cases}:
            with results.lock:
                results.own_missing += 1
        if think:
            time.sleep(think)
        # A report from a point of the grid, with one photo.
        key = uuid.uuid4().hex
        lon, lat = who.points[n % len(who.points)]
        form = {
            "key": key,
            "lon": f"{lon:.7f}",
            "lat": f"{lat:.7f}",
            "frame": "gps",
            "accuracy": "8",
            "category": rng.choice(("city_appearance", "street_order", "facility", "other")),
            "description": f"基准测试 {who.name} 第 {n + 1} 次上报",
        }
        _report(results, session, api, who, form, photos.next(), rng)
        with results.lock:
            last_report = results.created.get(key)
        # Close one of the grid's cases that waits for the supervisor's check.
        closable = [c for c in cases if any(m["name"] == "close" for m in c["moves"]) and c["id"]]
        with results.lock:
            closable = [c for c in closable if c["id"] not in results.moves_closed]
        if closable:
            case = closable[0]
            move = next(m for m in case["moves"] if m["name"] == "close")
            done = _send(
                results,
                "move",
                lambda case=case, move=move: session.post(
                    api + "move",
                    data={
                        "key": uuid.uuid4().hex,
                        "id": case["id"],
                        "move": "close",
                        "to_step": move["to_step"],
                        "version": str(case["version"]),
                        "closed_level": "grid",
                        "note": "现场核查，已办结",
                    },
                    timeout=120,
                ),
                (200,),
            )
            if done is not None:
                body = done.json()
                if body.get("step") != "closed" or body.get("duplicate"):
                    results.error("move", "200", f"unexpected answer {body}")
                with results.lock:
                    results.moves_closed.add(case["id"])
        else:
            with results.lock:
                results.moves_none_left += 1
        if think:
            time.sleep(think)
        n += 1


def _report(
    results: Results,
    session: Any,
    api: str,
    who: Supervisor,
    form: dict[str, str],
    picture: bytes,
    rng: random.Random,
) -> None:
    """Send one report; about :data:`RETRY_SHARE` of them twice (after the answer, or at once)."""

    def post(client: Any = session) -> Any:
        return client.post(
            api + "report",
            data=form,
            files={"photo": ("photo-1.jpg", picture, "image/jpeg")},
            timeout=120,
        )

    retry = rng.random() < RETRY_SHARE
    if retry and rng.random() < 0.5:
        # The same report sent twice at once (a retry while the first is in flight),
        # the second from another connection of the same signed-in user.
        twin = _twin(session)
        answers: list = [None, None]

        def first() -> None:
            answers[0] = _send(results, "report", post, (200, 201))

        def second() -> None:
            answers[1] = _send(results, "report retry, at once", lambda: post(twin), (200, 201))

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _check_pair(results, form["key"], who, answers)
        return
    answer = _send(results, "report", post, (201,))
    if answer is None:
        return
    body = answer.json()
    if body.get("duplicate") or body.get("grid_code") != who.grid:
        results.error("report", "201", f"unexpected answer {body}")
    with results.lock:
        results.created[form["key"]] = body["id"]
    if retry:
        again = _send(results, "report retry, after", post, (200,))
        _check_retry(results, body["id"], again)


def _twin(session: Any) -> Any:
    """A second ``requests`` session with the same cookie (the same signed-in user)."""
    import requests

    twin = requests.Session()
    twin.cookies.update(session.cookies)
    return twin


def _check_retry(results: Results, first_id: str, again: Any) -> None:
    with results.lock:
        results.retries += 1
    if again is None:
        with results.lock:
            results.retries_failed += 1
        return
    body = again.json()
    if body.get("duplicate") is True and body.get("id") == first_id:
        with results.lock:
            results.retries_ok += 1
    else:
        results.error("report retry, after", str(again.status_code), f"not the first: {body}")


def _check_pair(results: Results, key: str, who: Supervisor, answers: list) -> None:
    """Of a report sent twice at once, one answer is 201 and the other its duplicate."""
    with results.lock:
        results.retries += 1
    if None in answers:
        # One of them failed (counted as an error): the other's case, if it made one, counts.
        with results.lock:
            results.retries_failed += 1
        for a in answers:
            if a is not None and a.status_code == 201:
                with results.lock:
                    results.created[key] = a.json()["id"]
        return
    bodies = [a.json() for a in answers]
    statuses = sorted(a.status_code for a in answers)
    same = bodies[0].get("id") == bodies[1].get("id")
    if statuses == [200, 201] and same and bodies[0].get("grid_code") == who.grid:
        with results.lock:
            results.retries_ok += 1
            results.created[key] = bodies[0]["id"]
    else:
        results.error("report retry, at once", "/".join(map(str, statuses)), f"answers {bodies}")
        with results.lock:
            for a, b in zip(answers, bodies, strict=True):
                if a.status_code == 201:
                    results.created[f"{key}:{b.get('id')}"] = b.get("id")


def _load(
    url: str, people: list[Supervisor], sessions: list, seconds: float, think: float, seed: int
) -> tuple[Results, float, Photos]:
    """Run every session's loop at once for ``seconds``; the results and the wall time."""
    photos = Photos()
    results = Results()
    start = time.perf_counter()
    end = start + seconds
    threads = [
        threading.Thread(
            target=_session_loop,
            args=(url, s, p, photos, results, end, think, random.Random(seed * 1000 + i)),
            daemon=True,
        )
        for i, (s, p) in enumerate(zip(sessions, people, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - start, photos


# -- the slow link ------------------------------------------------------------------


class _Wire:
    """The bytes a page receives (``encodedDataLength``: compressed, headers included).

    From the DevTools protocol's ``Network.loadingFinished``, so a response the
    browser's cache answered counts nothing.
    """

    def __init__(self, page: Any) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        self.total = 0
        self.urls: dict[str, str] = {}
        self.status: dict[str, int] = {}
        self.by_url: dict[str, int] = {}
        self.pending: set[str] = set()
        self.last = time.perf_counter()
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.responseReceived", self._response)
        self.cdp.on("Network.loadingFinished", self._done)
        self.cdp.on("Network.loadingFailed", self._failed)

    def _sent(self, event: dict) -> None:
        self.pending.add(event["requestId"])
        self.urls[event["requestId"]] = event["request"]["url"]
        self.last = time.perf_counter()

    def _response(self, event: dict) -> None:
        self.status[event["response"]["url"]] = int(event["response"]["status"])

    def _done(self, event: dict) -> None:
        self.pending.discard(event["requestId"])
        size = int(event.get("encodedDataLength", 0))
        self.total += size
        url = self.urls.get(event["requestId"], "?")
        self.by_url[url] = self.by_url.get(url, 0) + size
        self.last = time.perf_counter()

    def _failed(self, event: dict) -> None:
        self.pending.discard(event["requestId"])
        self.last = time.perf_counter()

    def reset(self) -> None:
        self.total, self.by_url = 0, {}

    def top(self, n: int = 5) -> list[tuple[str, int]]:
        return sorted(self.by_url.items(), key=lambda kv: -kv[1])[:n]

    def quiet(self, page: Any, ms: float = 1500, timeout: float = 180) -> float:
        """Wait until nothing has been in flight for ``ms``; when the last response ended."""
        t0 = time.perf_counter()
        while True:
            page.wait_for_timeout(100)
            if not self.pending and (time.perf_counter() - self.last) * 1000 >= ms:
                return self.last
            if time.perf_counter() - t0 > timeout:
                raise SystemExit(
                    f"the page did not settle within {timeout} s: "
                    + ", ".join(self.urls.get(r, r) for r in self.pending)
                )


#: The page is usable: its list shows cases (or says there are none) and the map draws them.
_USABLE = """() => {
    const list = document.querySelector('[data-testid=case-list]');
    const listed = list && list.querySelector('[data-testid=case-item], [data-testid=case-empty]');
    const map = document.querySelector('[data-testid=field-map].leaflet-container');
    return !!(listed && map && map.querySelector('.leaflet-interactive'));
}"""

#: Before the click on submit: note when it is clicked and when the outbox count,
#: having gone up, is back to 0 (every item answered 2xx by the server).
_WATCH_OUTBOX = """() => {
    const w = window.__gmBench = {click: null, zero: null, seen: false};
    const count = document.querySelector('[data-testid=outbox-count]');
    new MutationObserver(() => {
        const text = count.textContent.trim();
        if (text !== '0') w.seen = true;
        else if (w.seen && w.zero === null) w.zero = performance.now();
    }).observe(count, {childList: true, characterData: true, subtree: true});
    document.querySelector('[data-testid=report-submit]').addEventListener(
        'click', () => { if (w.click === null) w.click = performance.now(); }, true);
}"""

#: The bytes of what the page uploads (its POSTs' form fields and files), noted as it sends.
_COUNT_UPLOADS = """(() => {
    const sent = window.__gmUploads = [];
    const original = window.fetch;
    window.fetch = function (input, init) {
        const body = init && init.body;
        if (body instanceof FormData) {
            let bytes = 0;
            for (const [, v] of body.entries()) bytes += typeof v === 'string' ? v.length : v.size;
            sent.push({url: String(input), bytes});
        }
        return original.apply(this, arguments);
    };
})();"""


#: In the page from its first moment: when it became usable (ms from the navigation's start).
_NOTE_USABLE = (
    "(() => { const usable = "
    + _USABLE
    + """;
    const check = () => {
        if (usable()) window.__gmUsable = performance.now(); else setTimeout(check, 10);
    };
    setTimeout(check, 0);
})();"""
)


def _open_usable(page: Any, url: str) -> dict[str, float]:
    """Open ``/field`` until :data:`_USABLE`: seconds as timed here, and as the page timed it.

    ``s`` runs from asking the browser to open the page until it is usable;
    ``page_s`` from the navigation's start (the page's clock) until it is,
    ``html_s`` until the page's HTML had come.
    """
    t0 = time.perf_counter()
    page.goto(url + "/field", wait_until="commit", timeout=180_000)
    page.wait_for_function(_USABLE, timeout=180_000)
    wall = time.perf_counter() - t0
    page.wait_for_function("() => window.__gmUsable !== undefined", timeout=10_000)
    seen = page.evaluate(
        """() => ({usable: window.__gmUsable,
                   html: performance.getEntriesByType('navigation')[0].responseEnd})"""
    )
    return {"s": wall, "page_s": seen["usable"] / 1000, "html_s": seen["html"] / 1000}


def _slow_link(url: str, who: Supervisor, password: str, camera: Path, runs: int) -> dict[str, Any]:
    """The slow-link figures (see the module's docstring), for supervisor ``who``.

    The cold and the warm view are opened ``runs`` times each (cold, warm, cold …).
    """
    from playwright.sync_api import sync_playwright

    lon, lat = who.points[0]
    out: dict[str, Any] = {"cold": [], "warm": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1280, "height": 800},
            geolocation={"longitude": lon, "latitude": lat, "accuracy": 8},
            permissions=["geolocation"],
            # See the module's docstring: the emulated link does not slow a worker's fetches.
            service_workers="block",
        )
        context.add_init_script(_COUNT_UPLOADS)
        context.add_init_script(_NOTE_USABLE)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        # Signed in on the fast link, as the supervisor did at the office.
        page.goto(url + "/login")
        page.get_by_test_id("login-user").fill(who.name)
        page.get_by_test_id("login-password").fill(password)
        with page.expect_navigation(timeout=60_000):
            page.get_by_test_id("login-submit").click()
        if "/login" in page.url:
            raise SystemExit(f"the browser could not sign in as {who.name}")
        page.wait_for_load_state("networkidle", timeout=60_000)
        page.goto("about:blank")
        wire = _Wire(page)
        wire.cdp.send("Network.emulateNetworkConditions", SLOW)
        for _ in range(runs):
            # (a) cold: nothing in the cache (the dashboard just opened shares the
            # geometry's URLs with /field: that is forgotten too).
            page.goto("about:blank")
            wire.cdp.send("Network.clearBrowserCache")
            wire.reset()
            t0 = time.perf_counter()
            out["cold"].append(_open_usable(page, url))
            out["cold"][-1]["all_s"] = wire.quiet(page) - t0
            out["cold_bytes"], out["cold_top"] = wire.total, wire.top()
            # (b) warm: the same page again, the cache kept.
            page.goto("about:blank")
            wire.reset()
            t0 = time.perf_counter()
            out["warm"].append(_open_usable(page, url))
            out["warm"][-1]["all_s"] = wire.quiet(page) - t0
            out["warm_bytes"], out["warm_top"] = wire.total, wire.top()
        out["cases_shown"] = page.locator("[data-testid=case-item]").count()

        # (c) a report with a camera-size photo.
        page.get_by_test_id("report-open").click()
        page.get_by_test_id("report-here").click()
        page.wait_for_selector("[data-testid=report-place][data-frame=gps]", timeout=30_000)
        page.get_by_test_id("report-category").select_option("city_appearance")
        page.get_by_test_id("report-description").fill("基准测试：路面破损，现场拍照")
        t0 = time.perf_counter()
        page.get_by_test_id("report-photo").set_input_files(str(camera))
        page.wait_for_selector("[data-testid=report-thumb]", timeout=60_000)
        out["resize_s"] = time.perf_counter() - t0
        page.evaluate(_WATCH_OUTBOX)
        wire.reset()
        page.get_by_test_id("report-submit").click()
        page.wait_for_function("() => window.__gmBench.zero !== null", timeout=180_000)
        watch = page.evaluate("() => window.__gmBench")
        out["report_s"] = (watch["zero"] - watch["click"]) / 1000
        uploads = page.evaluate("() => window.__gmUploads")
        out["upload_bytes"] = sum(u["bytes"] for u in uploads if u["url"].endswith("/report"))
        out["report_status"] = next(
            (s for u, s in wire.status.items() if u.endswith("/_gridmap/field/report")), None
        )
        wire.quiet(page)
        out["report_bytes_in"] = wire.total

        # (d) warm again, after that write (the geometry's URLs name the store's version).
        page.goto("about:blank")
        wire.reset()
        t0 = time.perf_counter()
        out["after"] = [_open_usable(page, url)]
        out["after"][0]["all_s"] = wire.quiet(page) - t0
        out["after_bytes"], out["after_top"] = wire.total, wire.top()
        out["console_errors"] = errors
        context.close()
        browser.close()
    return out


# -- printing -------------------------------------------------------------------------


def _pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _print_load(
    results: Results,
    wall: float,
    sessions: int,
    before: dict[str, Any],
    after: dict[str, Any],
    memory: tuple[dict[str, float], dict[str, float]],
    photos: Photos,
    per_grid: int,
) -> bool:
    """The load figures; whether nothing failed and nothing was lost or doubled."""
    print(
        f"{sessions} supervisor sessions for {wall:.0f} s, gridmap serve --production "
        f"(waitress, 8 threads); machine: {os.cpu_count()} CPUs; "
        f"photo {photos.size / 1000:.0f} kB (1600×1200 JPEG)"
    )
    print(
        f"{'request':24s} {'count':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'max ms':>8s}"
    )
    total = 0
    for kind in KINDS:
        ms = [1000 * t for t in results.times[kind]]
        total += len(ms)
        if not ms:
            print(f"  {kind:22s} {0:6d}")
            continue
        print(
            f"  {kind:22s} {len(ms):6d} {_pct(ms, 50):8.0f} {_pct(ms, 95):8.0f} "
            f"{_pct(ms, 99):8.0f} {max(ms):8.0f}"
        )
    print(f"  {'all':22s} {total:6d}   ({total / wall:.1f} requests/s)")
    ok = results.error_count == 0
    print(
        f"errors: {results.error_count}"
        + "".join(
            f"; {kind} {status} × {n}" for (kind, status), n in results.error_kinds.most_common()
        )
    )
    for reason, n in results.reasons.most_common(8):
        print(f"  {n:4d} × {reason}")
    if results.errors:
        print("  the first ones:")
    for kind, status, body in results.errors[:4]:
        print(f"    {kind}: {status}: {body}")
    answered = set(results.created.values())
    new_ids = set(after["ids"]) - set(before["ids"])
    report_keys = after["report_keys"] - before["report_keys"]
    same = new_ids == answered and len(answered) == len(results.created)
    ok &= same and report_keys == len(answered)
    print(
        f"reports answered 201: {len(results.created)}; new F… patrol cases in the store: "
        f"{len(new_ids)}; request keys saved: {report_keys}; the same cases: "
        f"{'yes' if same else 'NO'}"
    )
    if not same:
        print(
            f"  answered, not in the store: {sorted(answered - new_ids)[:5]}; "
            f"in the store, not answered: {sorted(new_ids - answered)[:5]}"
        )
    wrong = results.retries - results.retries_ok - results.retries_failed
    ok &= wrong == 0
    print(
        f"retries (same key): {results.retries} sent; {results.retries_ok} answered with the "
        f"first case, {results.retries_failed} failed (an error above), {wrong} answered "
        f"otherwise; photos stored: {after['photos'] - before['photos']}"
    )
    closed = set(after["closed"]) - set(before["closed"])
    moved_ok = closed == results.moves_closed
    ok &= moved_ok
    print(
        f"moves: {len(results.moves_closed)} cases closed (closed in the store: {len(closed)}, "
        f"the same: {'yes' if moved_ok else 'NO'}); {per_grid} prepared per grid; "
        f"loops that found none left to close: {results.moves_none_left}"
    )
    if not moved_ok:
        print(
            f"  answered closed, not closed in the store: "
            f"{sorted(results.moves_closed - closed)[:8]}; "
            f"closed in the store, not answered: {sorted(closed - results.moves_closed)[:8]}"
        )
    if results.own_missing:
        print(f"lists without the session's own last report: {results.own_missing}")
        ok = False
    start, end = memory
    print(
        f"server memory: VmRSS {start['VmRSS']:.0f} MB at start, {end['VmRSS']:.0f} MB at the "
        f"end, peak {end['VmHWM']:.0f} MB; CPU {end['cpu_s'] - start['cpu_s']:.0f} s in "
        f"{wall:.0f} s ({(end['cpu_s'] - start['cpu_s']) / wall:.2f} cores busy)"
    )
    return ok


def _print_slow(slow: dict[str, Any], photo_size: tuple[int, int] | None) -> bool:
    """The slow-link figures beside their budgets; whether they are met."""
    kb = 1000.0
    print(
        f"slow link (Chromium's emulation: {SLOW['downloadThroughput'] * 8 // 1000} kbit/s each "
        f"way, {SLOW['latency']} ms round trip; service worker blocked: the HTTP cache alone)"
    )
    print(f"  {'figure':44s} {'value':>8s}  {'budget':>8s}  met?  {'kB received':>11s}")
    rows = [
        ("/field, cold cache, until usable", "cold", "cold_bytes"),
        ("/field, warm cache, until usable", "warm", "warm_bytes"),
        ("report with a photo, submit to confirmed", "report", "report_bytes_in"),
    ]
    met = True
    for name, key, size in rows:
        # The slowest of the runs is the figure held to the budget.
        value = max(r["s"] for r in slow[key]) if key != "report" else slow["report_s"]
        budget = BUDGETS[f"{key}_s"]
        ok = value <= budget
        met &= ok
        print(
            f"  {name:44s} {value:7.2f}s  {'<= ' + f'{budget:g}':>6s} s  "
            f"{'yes' if ok else 'NO ':3s}   {slow[size] / kb:9.1f}"
        )
    print(
        f"  {'/field, warm, after a write (no budget)':44s} {slow['after'][0]['s']:7.2f}s  "
        f"{'':>8s}        {slow['after_bytes'] / kb:9.1f}"
    )
    for name, key in (("cold", "cold"), ("warm", "warm"), ("after a write", "after")):
        print(
            f"  {name}, each run (s): "
            + "; ".join(
                f"{r['s']:.2f} (page's clock {r['page_s']:.2f}, HTML in {r['html_s']:.2f}, "
                f"network quiet {r['all_s']:.1f})"
                for r in slow[key]
            )
        )
    print(f"  cases listed: {slow['cases_shown']}")
    dims = f", {photo_size[0]}×{photo_size[1]} as stored" if photo_size else ""
    print(
        f"  the photo: {slow['camera_bytes'] / 1e6:.1f} MB 4000×3000 chosen, resized by the "
        f"page in {slow['resize_s']:.1f} s; uploaded {slow['upload_bytes'] / kb:.0f} kB{dims}; "
        f"the report answered {slow['report_status']}"
    )
    for name, key in (("cold", "cold_top"), ("warm", "warm_top"), ("after a write", "after_top")):
        print(
            f"  largest responses, {name} (kB): "
            + ", ".join(
                f"{u.split('?')[0].rsplit('/', 1)[-1] or '/'} {n / kb:.1f}" for u, n in slow[key]
            )
        )
    if slow["console_errors"]:
        print("  console errors: " + " | ".join(slow["console_errors"][:5]))
    return met


def _photo_size(store: Path, case_ids: set[str]) -> tuple[int, int] | None:
    """Width and height of the photo stored for one of ``case_ids`` (the browser's report)."""
    import sqlite3

    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as con:
        for case in case_ids:
            row = con.execute(
                "SELECT p.width, p.height FROM photos p JOIN incident_photos i ON i.hash = p.hash "
                "WHERE i.incident_id = ?",
                (case,),
            ).fetchone()
            if row:
                return int(row[0]), int(row[1])
    return None


def _print_log(text: str) -> bool:
    """What the server's log says: its tracebacks (the first in full), its queue; none is well."""
    lines = text.splitlines()
    depths = [int(m.group(1)) for m in map(_QUEUE.match, lines) if m]
    if depths:
        print(f"waitress's task queue (requests waiting for a thread): up to {max(depths)}")
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if not starts:
        return True
    # The exception each traceback ends in: its first line that is not indented; of a
    # chain ("During handling of the above exception ..."), the last one.
    ends: collections.Counter = collections.Counter()
    for start in starts:
        end = next((j for j in range(start + 1, len(lines)) if not lines[j].startswith(" ")), None)
        if end is None:
            continue
        chained = any(
            lines[k].startswith(("During handling", "The above exception"))
            for k in range(end + 1, min(end + 3, len(lines)))
        )
        if not chained:
            ends[lines[end][:160]] += 1
    print(f"the server's log has {len(starts)} tracebacks (chains counted once), ending in:")
    for line, count in ends.most_common(8):
        print(f"  {count:4d} × {line}")
    # The first one, its frames in gridmap (and where it failed) only.
    first = starts[0]
    head = lines[first - 1] if first and lines[first - 1].startswith("ERROR") else ""
    end = next((j for j in range(first + 1, len(lines)) if lines[j].startswith("WARNING")), None)
    block = lines[first:end]
    frames = [
        line.strip()
        for line in block
        if line.startswith("  File") and ("/gridmap/" in line or "pyogrio/" in line)
    ]
    last = [line for line in block if line and not line.startswith((" ", "Traceback", "During"))]
    print(f"the first: {head}")
    for line in frames[-12:] + last[-1:]:
        print(f"  {line}")
    return False


# -- main -----------------------------------------------------------------------------


def _store_copy(given: Path | None, folder: Path) -> Path:
    store = folder / "field.gpkg"
    if given is not None:
        shutil.copy(given, store)
        return store
    t0 = time.perf_counter()
    subprocess.run(
        [_gridmap(), "demo", "--district", "431002", "--out", str(store), "--no-serve", "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built the 北湖区 demo in {time.perf_counter() - t0:.1f} s")
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="a demo store (copied; default: the demo)")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the load run")
    parser.add_argument("--sessions", type=int, default=50, help="supervisors at once")
    parser.add_argument(
        "--cases-per-grid",
        type=int,
        help="cases put at reported_back in each grid (default: enough for the run)",
    )
    parser.add_argument("--think", type=float, default=0.0, help="seconds between two requests")
    parser.add_argument("--only", choices=("load", "browser"), help="only one half")
    parser.add_argument("--quick", action="store_true", help="20 s, 10 sessions: to try it")
    parser.add_argument(
        "--runs", type=int, default=3, help="cold and warm views opened on the slow link"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--keep", type=Path, help="work in this folder and keep it (the store, the server's log)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.sessions = 20.0, 10
    # A session's loop took ~5 s with 10 sessions and ~27 s with 50 here: one case per
    # 8 s of run is plenty (the demo's own cases at reported_back come on top).
    per_grid = args.cases_per_grid or max(8, math.ceil(args.seconds / 8))

    with contextlib.ExitStack() as stack:
        if args.keep:
            folder = args.keep
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gm-bench-")))
        store = _store_copy(args.store, folder)
        t0 = time.perf_counter()
        people, password = _set_up(store, args.sessions, per_grid, args.seed)
        camera = folder / "camera.jpg"
        camera.write_bytes(_jpeg(_scene(4000, 3000, seed=2, noise=4.5, finest=8), 92))
        print(
            f"set up in {time.perf_counter() - t0:.1f} s: {len(people)} supervisors, "
            f"{per_grid} cases at reported_back in each grid"
        )
        log = folder / "serve.log"
        proc, url, started = _start(store, log)
        print(f"server started in {started:.1f} s (pid {proc.pid})")
        met = []
        try:
            if args.only != "browser":
                before = _field_cases(store)
                # Signed in first (50 Argon2 checks): the figures are those of the work.
                sessions = [_sign_in(url, p.name, password) for p in people]
                memory_start = _status(proc.pid)
                results, wall, photos = _load(
                    url, people, sessions, args.seconds, args.think, args.seed
                )
                memory_end = _status(proc.pid)
                after = _field_cases(store)
                met.append(
                    _print_load(
                        results,
                        wall,
                        len(people),
                        before,
                        after,
                        (memory_start, memory_end),
                        photos,
                        per_grid,
                    )
                )
            if args.only != "load":
                # The server's copy of the store is read again after the last write:
                # the slow-link figures measure the link, not that.
                time.sleep(2.5)
                _sign_in(url, people[0].name, password).get(url + "/field", timeout=120)
                before = _field_cases(store)
                slow = _slow_link(url, people[0], password, camera, args.runs)
                slow["camera_bytes"] = camera.stat().st_size
                new = set(_field_cases(store)["ids"]) - set(before["ids"])
                slow["created"] = len(new)
                met.append(_print_slow(slow, _photo_size(store, new)))
                if len(new) != 1:
                    print(f"  the browser's report made {len(new)} cases, not 1")
                    met.append(False)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        import sqlite3

        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as con:
            check = [r[0] for r in con.execute("PRAGMA integrity_check")]
        print(f"the store's integrity_check after the run: {'; '.join(check[:5])}")
        met.append(check == ["ok"])
        met.append(_print_log(log.read_text()))
    print("peers: none named for these budgets")
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
