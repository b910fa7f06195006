"""Reads and writes of one GeoPackage from threads of one process (issue 13's 50 supervisors).

The store reads through GDAL's copy of SQLite and writes through Python's: two
copies in one process do not see each other's locks, and a read during a write
read half-written pages (bench/field.py: 71 errors in 1,081 requests; 2,525 of
2,848 reads in a 10-second loop). The store takes the file in turns
(``gridmap.store.gpkg._Turns``): a reader and a writer hammering the same store
for a few seconds see no error, and every write lands.
"""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from gridmap.audit import AuditEntry
from gridmap.store import open_store

pytestmark = pytest.mark.slow

SECONDS = 2.5


def test_threads_read_while_others_write(demo_path, tmp_path):
    path = tmp_path / "demo.gpkg"
    shutil.copy(demo_path, path)
    store = open_store(path)
    # The session's demo may hold export rows already (tests that export from it).
    exports_before = len(store.audit_log(action="export"))
    errors: list[str] = []
    counts = {"reads": 0, "writes": 0}
    counting = threading.Lock()  # `+=` on a shared dict is not atomic across threads
    end = time.monotonic() + SECONDS

    def read() -> None:
        while time.monotonic() < end:
            try:
                grids = store.read("grids", columns=["code"])
                assert len(grids) > 0
                store.read("incidents", where={"step": "handling"}, columns=["id"])
                with counting:
                    counts["reads"] += 1
            except Exception as exc:  # every failure is the finding, whatever its type
                errors.append(f"read: {type(exc).__name__}: {exc}")

    def write() -> None:
        # A separate store object of the same file: what the app's Source and a route do.
        own = open_store(path)
        while time.monotonic() < end:
            try:
                own.audit(AuditEntry("tests", "admin", "cli", "export", "x", {"n": 1}))
                with counting:
                    counts["writes"] += 1
            except Exception as exc:
                errors.append(f"write: {type(exc).__name__}: {exc}")
        own.close()

    threads = [threading.Thread(target=read) for _ in range(3)]
    threads += [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    assert counts["reads"] > 10 and counts["writes"] > 10, counts
    assert len(store.audit_log(action="export")) - exports_before == counts["writes"]
    assert store.verify_audit()[0] is None
    store.close()
