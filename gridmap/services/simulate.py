"""Synthetic cases reported and moved in a store, one every few seconds (``gridmap simulate``).

:class:`Simulation` opens the store, reads its grids and buildings once, and
then, every ``every`` seconds: reads the open cases, asks
:func:`gridmap.simulate.next_action` what happens next, and writes it as every
other writer does — ``Store.write`` for a new case and its first event,
``Store.move_incident`` for a move (with the version it was made on) — each
with its audit row in the same transaction, so every action is audited and
changes the store's :meth:`~gridmap.store.base.Store.version`. A write that
fails (another user moved the case first, the store is busy) is skipped with a
warning; the next action is tried at the next tick.

The simulator acts as :data:`SIMULATOR_ACTOR`: a local admin named
``simulate`` (it makes every kind of move), recorded as such in the events and
the audit log. It writes into a store whose incidents are synthetic (a demo)
or that has none yet, never among real cases.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.accounts import ADMIN, Account
from gridmap.errors import GridmapError, InputError, StoreError
from gridmap.incidents import OPEN_STEPS
from gridmap.services.accounts import Actor
from gridmap.simulate import (
    DEFAULT_EVERY,
    SIMULATOR,
    Action,
    Sites,
    check_count,
    check_every,
    next_action,
    sites_of,
)
from gridmap.store import open_store
from gridmap.store.base import Store

__all__ = ["SIMULATOR_ACTOR", "MAX_FAILURES", "SimulationReport", "Simulation", "check_store"]

log = logging.getLogger(__name__)

#: Who the simulator acts as: an admin (every move is allowed it) named ``simulate``,
#: not an account of the store; its audit rows say ``simulated``.
SIMULATOR_ACTOR = Actor(Account(SIMULATOR, ADMIN), address="cli")

#: Failed writes in a row after which the simulator gives up (the store is gone or
#: refuses every write: better one clear error than a warning every few seconds forever).
MAX_FAILURES = 20


@dataclass
class SimulationReport:
    """What a simulation did so far.

    Attributes
    ----------
    reported
        New cases written.
    moved
        Moves written.
    skipped
        Actions whose write failed (each warned about).
    """

    reported: int = 0
    moved: int = 0
    skipped: int = 0

    @property
    def written(self) -> int:
        """Actions written: new cases and moves."""
        return self.reported + self.moved


def check_store(store: Store) -> Sites:
    """Where the simulator may report: the store's grids and buildings, if it may write here.

    Raises
    ------
    gridmap.errors.InputError
        If the store's incidents are marked real (its ``metadata`` says they
        are not synthetic: synthetic cases must not mix with real ones), or it
        has no grids.
    """
    meta = store.read("metadata")
    row = meta[meta["layer"] == "incidents"] if "layer" in meta else meta.iloc[0:0]
    if len(row) and not bool(pd.Series(row["synthetic"]).astype("boolean").fillna(False).iloc[0]):
        raise InputError(
            f"the incidents of {store.address} are real data (the store's metadata marks them "
            "not synthetic): the simulator adds synthetic cases only to a synthetic store",
            hint="run it on a demo store (gridmap demo --out FILE)",
        )
    grids = store.read("grids", columns=["code", "name", "population"])
    buildings = store.read("buildings", columns=["code", "grid_code"])
    return sites_of(grids, buildings)


class Simulation:
    """Report and move synthetic cases in a store until stopped or ``count`` actions are written.

    Parameters
    ----------
    address
        The store: a ``.gpkg`` path or a ``postgresql://`` URL.
    every
        Seconds between two actions (a finite number above zero).
    count
        Stop after this many actions written; ``None``: until :meth:`stop`.
    seed
        Random seed; ``None``: a new one each run.
    on_ready
        Called once the store is open and may be simulated in, before the first action.
    on_action
        Called with each :class:`~gridmap.simulate.Action` once it is written.
    on_skip
        Called with the error of each write that failed (default: a warning in the log).
    clock
        The current time (timezone-aware); default the wall clock, UTC.

    Raises
    ------
    gridmap.errors.InputError
        If ``every`` or ``count`` is out of range.
    """

    def __init__(
        self,
        address: str,
        *,
        every: float = DEFAULT_EVERY,
        count: int | None = None,
        seed: int | None = None,
        on_ready: Callable[[], None] | None = None,
        on_action: Callable[[Action], None] | None = None,
        on_skip: Callable[[GridmapError], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.address = str(address)
        self.every = check_every(every)
        self.count = check_count(count)
        self.rng = np.random.default_rng(seed)
        self.on_ready = on_ready
        self.on_action = on_action
        self.on_skip = on_skip or (lambda error: log.warning("simulate: skipped: %s", error))
        self.clock = clock or (lambda: datetime.now(UTC))
        self.report = SimulationReport()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------------

    def run(self) -> SimulationReport:
        """Act every ``every`` seconds until :meth:`stop` is called or ``count`` are written.

        Raises
        ------
        gridmap.errors.GridmapError
            If the store cannot be opened or simulated in (:func:`check_store`),
            or :data:`MAX_FAILURES` writes in a row failed.
        """
        with open_store(self.address) as store:
            sites = check_store(store)
            if self.on_ready is not None:
                self.on_ready()
            failures = 0
            while not self._stop.is_set():
                try:
                    action = self._act(store, sites)
                except GridmapError as error:
                    self.report.skipped += 1
                    failures += 1
                    self.on_skip(error)
                    if failures >= MAX_FAILURES:
                        raise StoreError(
                            f"{failures} writes in a row failed; the last: {error}",
                            "check the store, then start the simulator again",
                        ) from None
                else:
                    failures = 0
                    if action.new:
                        self.report.reported += 1
                    else:
                        self.report.moved += 1
                    if self.on_action is not None:
                        self.on_action(action)
                    if self.count is not None and self.report.written >= self.count:
                        break
                self._stop.wait(self.every)
        return self.report

    def _act(self, store: Store, sites: Sites) -> Action:
        """Decide the next action on the cases as they are now, and write it with its audit row."""
        cases = store.read("incidents", where={"step": list(OPEN_STEPS)})
        cases = pd.DataFrame(cases.drop(columns="geometry", errors="ignore"))
        action = next_action(cases, sites, self.clock(), self.rng)
        if action.new:
            row = action.incident
            entry = SIMULATOR_ACTOR.entry(
                "incident_create",
                action.incident_id,
                source=row["source"],
                grid=row["grid_code"],
                building=row["building_code"],
                simulated=True,
            )
            frames = {
                "incidents": gpd.GeoDataFrame([row], geometry="geometry", crs="EPSG:4326"),
                "incident_events": pd.DataFrame(action.events),
            }
            store.write(frames, mode="append", audit=entry)
        else:
            version = int(action.expected_version)
            entry = SIMULATOR_ACTOR.entry(
                "incident_move",
                action.incident_id,
                move=action.move,
                steps=[[e["from_step"], e["to_step"]] for e in action.events],
                version=version + 1,
                simulated=True,
            )
            store.move_incident(
                action.incident, action.events, expected_version=version, audit=entry
            )
        return action

    # -- in the background -----------------------------------------------------------

    def start(self) -> threading.Thread:
        """Run in a background thread (a daemon: it never holds the process open).

        An error that ends it (the store cannot be simulated in, too many
        failed writes) is logged as one warning line.
        """

        def target() -> None:
            try:
                self.run()
            except GridmapError as error:
                log.warning("simulate: stopped: %s", error)

        self._thread = threading.Thread(target=target, name="gridmap-simulate", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = None) -> SimulationReport:
        """Stop after the action under way (if any); wait for the thread up to ``timeout`` s."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return self.report
