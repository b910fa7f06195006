"""The wall display's data: every panel of a unit's cockpit, computed once and shared.

Twenty walls on one server must not mean twenty computations per refresh. A
:class:`WallFeed` (one per store and process) keeps the panels of each unit
a wall asked for recently, computed from the store's :class:`Source` by
:func:`gridmap.incidents.cockpit.cockpit`, and one background thread keeps
them current: it asks the store's version once a second (one query, whatever
the number of walls), reads the store again when it changed and recomputes
the units walls are showing; without a write it recomputes them every
:data:`RECOMPUTE_SECONDS` (open cases become overdue, midnight passes). A
wall's request then only compares digests: each panel carries the digest of
its content, the page sends the digests it holds, and only the panels that
changed are sent back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from gridmap.codes import level_of
from gridmap.errors import GridmapError, StoreError
from gridmap.incidents.cockpit import WALL_LEVELS, WALL_TZ, cockpit
from gridmap.services.source import Source, UnitNotFoundError, get_source

__all__ = ["WallFeed", "Snapshot", "feed_for", "stop_feeds", "wall_panels", "panel_digest"]

log = logging.getLogger(__name__)

#: Seconds between two checks of the store's version (one query, shared by every wall).
CHECK_SECONDS = 1.0
#: Seconds after which a unit's panels are recomputed without a write (overdue, midnight).
RECOMPUTE_SECONDS = 15.0
#: Seconds a unit stays on the feed's list after the last wall asked for it.
KEEP_SECONDS = 120.0
#: Seconds since a wall last asked for a unit within which the thread keeps it current
#: (walls ask every second or two; a unit the tour left waits until it is asked again).
ACTIVE_SECONDS = 10.0
#: Units whose panels are kept (least recently asked dropped first).
MAX_UNITS = 64


def panel_digest(data: Any) -> str:
    """A short digest of a panel's content (what the page sends back to say what it has)."""
    body = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha1(body.encode()).hexdigest()[:10]


def wall_panels(
    src: Source,
    code: str,
    *,
    now: datetime,
    acknowledged: set[str] | frozenset[str] = frozenset(),
    tz: str = WALL_TZ,
    alerts_only: bool = False,
) -> dict[str, Any]:
    """Every panel of ``code``'s wall at ``now`` (see :func:`gridmap.incidents.cockpit.cockpit`),
    plus ``unit``: its name, level, path, the units under it (the tour's stops) and whether
    the store is synthetic. Markers are shifted to the basemap's datum like the geometry.
    ``alerts_only``: the ``alerts`` panel alone (a touring wall's home).

    Raises
    ------
    UnitNotFoundError
        If ``code`` is not a unit of the store.
    gridmap.errors.CodeError
        If it is below a community.
    """
    row = src.unit(code)
    level = level_of(code)
    children = src.children(code)
    grids = src.units("grid")
    names = dict(zip(grids["code"], grids["name"].astype("str"), strict=True))
    panels = cockpit(
        src.incidents,
        code,
        children[["code", "name"]],
        now=pd.Timestamp(now),
        grid_names=names,
        acknowledged=acknowledged,
        tz=tz,
        only=("alerts",) if alerts_only else None,
    )
    if alerts_only:
        return panels
    markers = panels["map"]["markers"]
    if src.offset is not None and markers:
        import shapely

        from gridmap.offsets import shift_geometries

        points = shift_geometries(shapely.points([[m[0], m[1]] for m in markers]), src.offset)
        for m, p in zip(markers, points, strict=True):
            m[0], m[1] = round(float(p.x), 6), round(float(p.y), 6)
    panels["unit"] = {
        "code": code,
        "name": str(row["name"]),
        "level": level,
        "path": [{"code": c, "name": n, "level": lv} for c, n, lv in src.path(code)],
        "children": [
            {"code": str(c), "name": str(n)}
            for c, n in zip(children["code"], children["name"], strict=True)
        ],
        "synthetic": bool(src.synthetic),
        "version": hashlib.sha1(src.version.encode()).hexdigest()[:12],
    }
    return panels


@dataclass
class Snapshot:
    """A unit's panels as computed at ``computed`` (monotonic) for ``version`` of the store."""

    version: str
    computed: float
    at: datetime
    panels: dict[str, dict[str, Any]]


@dataclass
class _Unit:
    asked: float
    snapshot: Snapshot | None = None
    error: GridmapError | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class WallFeed:
    """The panels of the units walls show, kept current by one thread (see the module).

    Parameters
    ----------
    address, offset
        The store, as :func:`gridmap.services.source.get_source` takes them.
    clock
        The wall's time (UTC): a test or a rehearsal can start it elsewhere.
    tz
        The zone of the walls' days.
    """

    def __init__(
        self,
        address: str,
        offset: str | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        tz: str = WALL_TZ,
    ) -> None:
        self.address = address
        self.offset = offset
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tz = tz
        self._units: OrderedDict[str, _Unit] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: When the store last answered (monotonic, and as a time), and its version then.
        self.checked: float = 0.0
        self.checked_at: datetime | None = None
        self.version: str | None = None
        #: The store's failure since the last answer (None while it answers).
        self.failure: str | None = None
        self._acks: frozenset[str] = frozenset()
        #: The store's copy the version was read from (panels are computed on it).
        self._src: Source | None = None

    # -- what a request calls --------------------------------------------------------

    def snapshot(self, code: str, *, alerts_only: bool = False) -> Snapshot:
        """The current panels of ``code`` (computed now if no wall asked for it lately);
        ``alerts_only``: its alerts alone (what a touring wall asks of its home).

        Raises
        ------
        gridmap.errors.StoreError
            While the store does not answer (the page shows the connection lost).
        UnitNotFoundError, gridmap.errors.CodeError
            For a code that is not a wall's unit.
        """
        self._start()
        if self.failure is not None:
            raise StoreError(
                f"the store does not answer: {self.failure}", "it is asked again every second"
            )
        key = ("alerts:" if alerts_only else "") + code
        with self._lock:
            unit = self._units.get(key)
            if unit is None:
                unit = self._units[key] = _Unit(asked=time.monotonic())
                while len(self._units) > MAX_UNITS:
                    self._units.popitem(last=False)
            else:
                unit.asked = time.monotonic()
                self._units.move_to_end(key)
        if unit.snapshot is None or unit.snapshot.version != self.version:
            self._compute(key, unit)
        if unit.error is not None:
            raise unit.error
        assert unit.snapshot is not None
        return unit.snapshot

    def stop(self) -> None:
        """Stop the background thread (a test's server going away)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- the thread ------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._check()
                self._thread = threading.Thread(target=self._run, name="gridmap-wall", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(CHECK_SECONDS):
            try:
                changed = self._check()
                self._refresh(changed)
            except Exception:  # the thread must outlive any one failure
                log.exception("wall: the refresh failed")

    def _check(self) -> bool:
        """Ask the store's version (and the acknowledged alerts); whether either changed."""
        try:
            src = get_source(self.address, self.offset, fresh=True)
            version = src.version
            acks = frozenset(src.store.acknowledged_alerts())
        except Exception as error:
            # Any error reads as "the store is away" (psycopg's, GDAL's, a file
            # removed): say it once, keep the last panels, ask again next second.
            if self.failure is None:
                log.warning("wall: the store does not answer: %s", type(error).__name__)
            self.failure = type(error).__name__
            return False
        changed = version != self.version or acks != self._acks
        self.version, self._acks, self._src = version, acks, src
        self.failure = None
        self.checked = time.monotonic()
        self.checked_at = self.clock()
        return changed

    def _refresh(self, changed: bool) -> None:
        now = time.monotonic()
        with self._lock:
            for key in [k for k, u in self._units.items() if now - u.asked > KEEP_SECONDS]:
                del self._units[key]
            # Those on screen now (asked in the last few seconds), the latest asked
            # first; one a wall left is computed again when it is asked again.
            units = [(k, u) for k, u in self._units.items() if now - u.asked <= ACTIVE_SECONDS]
        units.sort(key=lambda pair: -pair[1].asked)
        day = self._day(self.clock())
        for key, unit in units:
            snap = unit.snapshot
            # Stale after a while (cases fall overdue), and at once after midnight.
            stale = snap is None or now - snap.computed > RECOMPUTE_SECONDS
            stale = stale or self._day(snap.at) != day
            if changed or stale:
                self._compute(key, unit)

    def _day(self, when: datetime) -> str:
        """The wall's local date of an instant (its "today")."""
        from zoneinfo import ZoneInfo

        return when.astimezone(ZoneInfo(self.tz)).date().isoformat()

    def _compute(self, key: str, unit: _Unit) -> None:
        alerts_only = key.startswith("alerts:")
        code = key.removeprefix("alerts:")
        with unit.lock:
            snap = unit.snapshot
            fresh = snap is not None and time.monotonic() - snap.computed < 0.5
            if fresh and snap.version == self.version:
                return  # another request computed it meanwhile
            src = self._src or get_source(self.address, self.offset)
            at = self.clock()
            try:
                if level_of(code) not in WALL_LEVELS:
                    raise UnitNotFoundError(
                        f"a wall shows a district, a subdistrict or a community, not {code}",
                        "open /wall without ?unit= or with the code of a community or above",
                    )
                panels = wall_panels(
                    src, code, now=at, acknowledged=self._acks, tz=self.tz, alerts_only=alerts_only
                )
            except GridmapError as error:
                unit.error = error
                return
            unit.error = None
            unit.snapshot = Snapshot(
                version=src.version,
                computed=time.monotonic(),
                at=at,
                panels={k: {"digest": panel_digest(v), "data": v} for k, v in panels.items()},
            )


_FEEDS: dict[tuple[str, str | None], WallFeed] = {}
_FEEDS_LOCK = threading.Lock()


def feed_for(
    address: str,
    offset: str | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    tz: str = WALL_TZ,
) -> WallFeed:
    """The process's :class:`WallFeed` of a store (made on first use)."""
    with _FEEDS_LOCK:
        key = (address, offset)
        if key not in _FEEDS:
            _FEEDS[key] = WallFeed(address, offset, clock=clock, tz=tz)
        return _FEEDS[key]


def stop_feeds() -> None:
    """Stop every feed's thread and forget them."""
    with _FEEDS_LOCK:
        for feed in _FEEDS.values():
            feed.stop()
        _FEEDS.clear()
