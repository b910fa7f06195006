"""The embedded store: one GeoPackage file, no server.

Layers are created once by GDAL (through pyogrio), so the file is a standard
GeoPackage that QGIS and ``ogrinfo`` open. Writes go through SQLite directly,
inside one ``BEGIN IMMEDIATE`` transaction, which gives what GDAL's layer-at-a-
time writers do not: several layers written atomically, rows updated in place,
and SQLite's own file locking between writers (a second writer waits up to the
lock timeout, then gets :class:`~gridmap.errors.StoreBusyError`). The spatial
index triggers GDAL installs call ``ST_IsEmpty``/``ST_MinX``…, which plain
SQLite lacks; we register them on our connection.

Two copies of SQLite live in one process: Python's ``sqlite3`` (the writes,
the accounts) and the one built into GDAL (pyogrio's reads). Neither sees the
other's locks — SQLite's own guard against a torn read works within one copy
only, and closing one copy's file handle drops the process's POSIX locks the
other holds — so a GDAL read in one thread while another thread writes read
half-written pages ("attempt to write a readonly database", "not a
GeoPackage"): 2,525 of 2,848 reads failed in a 10-second test, none across
processes. :class:`_Turns` takes the file in turns, process-wide: any number of
``sqlite3`` connections at once, or any number of GDAL reads, never both.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridmap.audit import AuditEntry
from gridmap.errors import InputError, StoreBusyError, StoreError
from gridmap.io.atomic import atomic_new_path
from gridmap.schema import LAYERS, layer
from gridmap.store import accounts as sql_accounts
from gridmap.store import field as sql_field
from gridmap.store.accounts import Cursor
from gridmap.store.base import (
    Store,
    as_multi,
    cast_frame,
    column_values,
    conflict_error,
    conform,
    empty_frame,
    incident_update,
    metadata_frame,
    prefix_codes,
)

__all__ = ["GeoPackageStore"]

_SRID = 4326
_GEOM = "geom"
#: Appends of at least this many rows take the bulk path (see _bulk_insert).
_BULK_ROWS = 20_000


class GeoPackageStore(Store):
    """A store in one GeoPackage file.

    Parameters
    ----------
    path
        The ``.gpkg`` file.
    create
        Create an empty store if the file does not exist (otherwise that is an error).
    lock_timeout
        Seconds a writer waits for another writer to finish.
    """

    def __init__(
        self, path: str | os.PathLike, *, create: bool = False, lock_timeout: float = 30.0
    ):
        self.path = Path(path)
        self.address = str(path)
        self.lock_timeout = lock_timeout
        if not self.path.exists():
            if not create:
                raise StoreError(
                    f"no store at {self.path}",
                    f"build one with `gridmap demo --out {self.path} --no-serve`, "
                    f"or import a districts file into it with `gridmap import {self.path} FILE "
                    "--layer districts`",
                )
            _create(self.path)
        self._check()
        self._upgrade()

    # -- opening --------------------------------------------------------
    def _check(self) -> None:
        """Refuse files that are not gridmap GeoPackages, saying what they lack."""
        try:
            with _turns(self.path).hold("sqlite"):
                con = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, timeout=self.lock_timeout
                )
                try:
                    tables = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
                finally:
                    con.close()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} is not a GeoPackage ({exc})",
                "name a .gpkg file made by gridmap, or a new path to create one",
            ) from None
        missing = [n for n in LAYERS if n not in tables]
        if missing:
            raise StoreError(
                f"{self.path} is a GeoPackage but not a gridmap store: it lacks the layers "
                + ", ".join(missing),
                "import its data into a new store with `gridmap import NEW.gpkg FILE --layer NAME`",
            )

    def _upgrade(self) -> None:
        """Bring a store made by an older gridmap to schema version 0003, in place.

        0002 adds the account tables (:mod:`gridmap.store.accounts`) and the
        incidents' reporter columns; 0003 the field mode's photos and request
        keys (:mod:`gridmap.store.field`). Nothing is removed or rewritten.
        """
        with self._connection() as con:
            have = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            cols = {r[1] for r in con.execute('PRAGMA table_info("incidents")')}
            tables = {"gridmap_settings", "photos", "incident_photos", "client_requests"}
            if tables <= have and "reporter_phone" in cols:
                return
            try:
                _begin(con, self)
            except StoreError as exc:
                raise StoreError(
                    f"{self.path} was made by an older gridmap and needs an upgrade, "
                    f"which failed: {exc.what}",
                    "open it once with write access (the upgrade adds tables and columns)",
                ) from None
            with _committed(con):
                _add_accounts(con)
                for col in ("reporter_name", "reporter_phone"):
                    if col not in cols:
                        con.execute(f'ALTER TABLE "incidents" ADD COLUMN "{col}" TEXT')

    @contextlib.contextmanager
    def _accounts(self, *, write: bool) -> Iterator[Cursor]:
        with self._connection() as con:
            cur = Cursor(con.cursor())
            if not write:
                yield cur
                return
            _begin(con, self)
            with _committed(con):
                yield cur

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with _turns(self.path).hold("sqlite"), self._open() as con:
            yield con

    @contextlib.contextmanager
    def _open(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=self.lock_timeout, isolation_level=None)
        _register_functions(con)
        # A large page cache keeps index pages in memory during bulk writes; the
        # default (~2 MB) makes SQLite spill and re-read them many times.
        con.execute("PRAGMA cache_size = -262144")
        try:
            yield con
        finally:
            con.close()

    # -- reading --------------------------------------------------------
    def read(
        self,
        name: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        where: Mapping[str, object] | None = None,
        columns: Iterable[str] | None = None,
        prefixes: Mapping[str, Iterable[str]] | None = None,
    ) -> pd.DataFrame:
        lay = layer(name)
        cols = list(columns) if columns is not None else lay.column_names
        for c in cols:
            lay.column(c)  # KeyError for a column that is not in the schema
        clauses = [_where_sql(where)] if where else []
        for col, codes in prefix_codes(prefixes or {}).items():
            lay.column(col)
            likes = " OR ".join(f""""{col}" LIKE '{c}%'""" for c in codes)
            clauses.append(f"({likes})" if codes else "0 = 1")
        try:
            with _turns(self.path).hold("gdal"):
                frame = pyogrio.read_dataframe(
                    self.path,
                    layer=name,
                    columns=cols,
                    bbox=bbox,
                    where=" AND ".join(clauses) if clauses else None,
                    read_geometry=lay.geometry is not None,
                    fid_as_index=False,
                )
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise StoreError(f"cannot read layer '{name}' of {self.path}: {exc}") from None
        return cast_frame(name, frame, cols)

    def count(self, name: str) -> int:
        layer(name)
        with self._connection() as con:
            return con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]

    def keys(self, name: str) -> set[str]:
        key = layer(name).key
        if key is None:
            return set()
        with self._connection() as con:
            return {r[0] for r in con.execute(f'SELECT "{key}" FROM "{name}"')}

    def _query(self, sql: str, params: Mapping[str, object]) -> pd.DataFrame:
        with self._connection() as con:
            cur = con.execute(sql, dict(params))
            return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])

    # -- writing --------------------------------------------------------
    def write(
        self,
        frames: Mapping[str, pd.DataFrame],
        *,
        mode: str = "append",
        metadata: Iterable[Mapping[str, object]] | None = None,
        progress: Callable[[str, int], None] | None = None,
        audit: AuditEntry | None = None,
        also: Callable[[Cursor], None] | None = None,
    ) -> None:
        if mode not in ("append", "replace"):
            raise ValueError(f"mode must be 'append' or 'replace', not {mode!r}")
        # Convert everything before taking the lock: the lock is held only
        # for the inserts themselves.
        prepared = [(name, *_rows(name, conform(name, frame))) for name, frame in frames.items()]
        meta_rows = _metadata_rows(metadata) if metadata else None
        with self._connection() as con:
            _begin(con, self)
            try:
                for name, cols, rows in prepared:
                    if mode == "replace":
                        con.execute(f'DELETE FROM "{name}"')
                    if mode == "replace" or len(rows) >= _BULK_ROWS:
                        _bulk_insert(con, name, cols, rows)
                    else:
                        _insert(con, name, cols, rows)
                    _touch_contents(con, name)
                    if progress is not None:
                        progress(name, len(rows))
                if meta_rows:
                    cols, rows = meta_rows
                    con.executemany(
                        'DELETE FROM "metadata" WHERE "layer" = ?', [(r[0],) for r in rows]
                    )
                    _insert(con, "metadata", cols, rows)
                    _touch_contents(con, "metadata")
                cur = Cursor(con.cursor())
                sql_accounts.bump_data_version(cur)
                if audit is not None:
                    sql_accounts.append_audit(cur, audit)
                if also is not None:
                    also(cur)
                con.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                con.execute("ROLLBACK")
                raise _duplicate_error(con, prepared, mode, exc) from None
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def move_incident(
        self,
        row: Mapping[str, object],
        events: Iterable[Mapping[str, object]],
        *,
        expected_version: int,
        audit: AuditEntry | None = None,
        also: Callable[[Cursor], None] | None = None,
    ) -> None:
        cols, values = incident_update(row, bool_as_int=True)
        _, event_rows = _rows(
            "incident_events", conform("incident_events", pd.DataFrame(list(events)))
        )
        event_cols = LAYERS["incident_events"].column_names
        sets = ", ".join(f'"{c}" = ?' for c in cols)
        with self._connection() as con:
            _begin(con, self)
            try:
                cur = con.execute(
                    f'UPDATE "incidents" SET {sets}, "version" = ? '
                    'WHERE "id" = ? AND "version" = ?',
                    [*values, expected_version + 1, row["id"], expected_version],
                )
                if cur.rowcount != 1:
                    found = con.execute(
                        'SELECT "version" FROM "incidents" WHERE "id" = ?', (row["id"],)
                    ).fetchone()
                    raise conflict_error(row["id"], expected_version, found[0] if found else None)
                _insert(con, "incident_events", event_cols, event_rows)
                cur = Cursor(con.cursor())
                sql_accounts.bump_data_version(cur)
                if audit is not None:
                    sql_accounts.append_audit(cur, audit)
                if also is not None:
                    also(cur)
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

    def version(self) -> str:
        # gridmap's own data writes count themselves in gridmap_settings (in
        # their transaction); an edit by another program (QGIS, ogr2ogr) moves
        # gpkg_contents.last_change, which GDAL keeps. Account and audit rows
        # change neither: a sign-in must not make every open page re-read the
        # layers (the file's change counter, used before, moved on every write).
        with self._connection() as con:
            row = con.execute(
                'SELECT (SELECT "value" FROM gridmap_settings WHERE "key" = \'data_version\'), '
                "(SELECT max(last_change) FROM gpkg_contents)"
            ).fetchone()
        return f"{row[0] or 0}:{row[1] or ''}"

    def close(self) -> None:
        # Connections are opened per operation; nothing is held between calls.
        pass


# -- creation -------------------------------------------------------------


def _create(path: Path) -> None:
    """Create an empty gridmap GeoPackage at ``path``, atomically.

    The file is built under a temporary name and linked into place
    (:func:`gridmap.io.atomic.atomic_new_path`), so a reader never sees a
    half-made store and two creators cannot clobber each other (the second
    one's link fails and it uses the first one's file).
    """
    if path.suffix.lower() != ".gpkg":
        raise StoreError(f"{path} does not end in .gpkg", "name the store file NAME.gpkg")
    if not path.parent.exists():
        raise StoreError(f"the folder {path.parent} does not exist", "create it first")
    try:
        with atomic_new_path(path, suffix=".gpkg") as tmp:
            _build_empty(tmp)
    except FileExistsError:
        pass  # another process created it first: use theirs


def _build_empty(tmp: Path) -> None:
    """Write every layer of the schema, empty, with its unique and plain indexes, to ``tmp``."""
    for name, lay in LAYERS.items():
        frame = empty_frame(name)
        kwargs = {"geometry_type": lay.geometry} if lay.geometry else {}
        if not tmp.exists():
            # GeoPackage 1.2: the version every GDAL of the last years (and
            # so every QGIS) reads without a warning.
            kwargs["dataset_options"] = {"VERSION": "1.2"}
        pyogrio.write_dataframe(
            frame, tmp, layer=name, driver="GPKG", append=tmp.exists(), **kwargs
        )
    con = sqlite3.connect(tmp, isolation_level=None)
    try:
        con.execute("BEGIN")
        for name, lay in LAYERS.items():
            if lay.key:
                con.execute(f'CREATE UNIQUE INDEX "uq_{name}_{lay.key}" ON "{name}"("{lay.key}")')
            for col in lay.indexes:
                con.execute(f'CREATE INDEX "ix_{name}_{col}" ON "{name}"("{col}")')
        _add_accounts(con)
        con.execute("COMMIT")
    finally:
        con.close()


def _add_accounts(con: sqlite3.Connection) -> None:
    """Create the account tables (if absent) and record the schema version.

    Runs in ``con``'s open transaction.
    """
    for statement in _statements(sql_accounts.SQLITE_DDL + sql_field.SQLITE_DDL):
        con.execute(statement)
    sql_accounts.set_setting(Cursor(con.cursor()), "schema_version", sql_accounts.SCHEMA_VERSION)


def _statements(script: str) -> list[str]:
    """The statements of a DDL script (``executescript`` would commit the transaction)."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            out.append(text)
            buf = []
    return out


# -- one copy of SQLite at a time ---------------------------------------------


class _Turns:
    """A lock with two kinds of holders (``sqlite``, ``gdal``): many of one kind, never both.

    Holders of one kind share the file (each copy of SQLite orders its own
    connections); the other kind waits until the last one leaves. While a kind
    waits, no new holder of the other kind comes in, so neither starves. A
    thread already holding the lock enters again at once (same kind only).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._kind: str | None = None
        self._holders = 0
        self._waiting = {"sqlite": 0, "gdal": 0}
        self._mine = threading.local()

    @contextlib.contextmanager
    def hold(self, kind: str) -> Iterator[None]:
        held = getattr(self._mine, "kind", None)
        if held is not None:
            if held != kind:
                raise RuntimeError(f"a {held} access of a GeoPackage opened a {kind} one")
            with self._cond:
                self._holders += 1
            try:
                yield
            finally:
                self._leave()
            return
        other = "gdal" if kind == "sqlite" else "sqlite"
        with self._cond:
            self._waiting[kind] += 1
            while self._holders and (self._kind != kind or self._waiting[other]):
                self._cond.wait()
            self._waiting[kind] -= 1
            self._kind = kind
            self._holders += 1
        self._mine.kind = kind
        try:
            yield
        finally:
            self._mine.kind = None
            self._leave()

    def _leave(self) -> None:
        with self._cond:
            self._holders -= 1
            if not self._holders:
                self._kind = None
                self._cond.notify_all()


_TURNS: dict[str, _Turns] = {}
_TURNS_LOCK = threading.Lock()


def _turns(path: Path) -> _Turns:
    """The process's :class:`_Turns` of a file (every store object of it shares one)."""
    key = os.path.realpath(path)
    with _TURNS_LOCK:
        turns = _TURNS.get(key)
        if turns is None:
            turns = _TURNS[key] = _Turns()
        return turns


# -- transactions and rows ------------------------------------------------


def _begin(con: sqlite3.Connection, store: GeoPackageStore) -> None:
    """Take the write lock, waiting up to the store's lock timeout."""
    try:
        con.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise StoreBusyError(
                f"{store.path} is being written by another process "
                f"(waited {store.lock_timeout:g} s)",
                "try again when it has finished, or raise GRIDMAP_LOCK_TIMEOUT",
            ) from None
        raise StoreError(f"cannot write {store.path}: {exc}") from None


@contextlib.contextmanager
def _committed(con: sqlite3.Connection) -> Iterator[None]:
    """Commit the open transaction if the block succeeds, else roll it back."""
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


def _insert(con: sqlite3.Connection, name: str, cols: list[str], rows: list[tuple]) -> None:
    if not rows:
        return
    names = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join("?" * len(cols))
    con.executemany(f'INSERT INTO "{name}" ({names}) VALUES ({marks})', rows)


def _bulk_insert(con: sqlite3.Connection, name: str, cols: list[str], rows: list[tuple]) -> None:
    """Insert many rows fast: lift the per-row work and redo it once at the end.

    GDAL's feature-count triggers update ``gpkg_ogr_contents`` on every row and
    each secondary index is updated row by row; for a few hundred thousand rows
    that is most of the time. Inside the caller's transaction we drop them,
    insert, then recreate the indexes (one sort each), recount, and recreate the
    triggers with their original SQL — so a rollback restores everything.
    """
    saved = con.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL AND "
        "((type = 'index' AND name LIKE 'ix\\_%' ESCAPE '\\') OR "
        "(type = 'trigger' AND name LIKE 'trigger\\_%\\_feature\\_count\\_%' ESCAPE '\\'))",
        (name,),
    ).fetchall()
    for kind, obj, _ in saved:
        con.execute(f'DROP {kind.upper()} "{obj}"')
    _insert(con, name, cols, rows)
    for _, _, sql in saved:
        con.execute(sql)
    con.execute(
        f'UPDATE gpkg_ogr_contents SET feature_count = (SELECT count(*) FROM "{name}") '
        "WHERE lower(table_name) = lower(?)",
        (name,),
    )


def _touch_contents(con: sqlite3.Connection, name: str) -> None:
    """Keep gpkg_contents' extent and last_change true (QGIS zooms to it)."""
    lay = LAYERS[name]
    if lay.geometry is not None:
        rtree = f"rtree_{name}_{_GEOM}"
        con.execute(
            f'UPDATE gpkg_contents SET min_x = (SELECT min(minx) FROM "{rtree}"), '
            f'min_y = (SELECT min(miny) FROM "{rtree}"), '
            f'max_x = (SELECT max(maxx) FROM "{rtree}"), '
            f'max_y = (SELECT max(maxy) FROM "{rtree}") WHERE table_name = ?',
            (name,),
        )
    con.execute(
        "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
        "WHERE table_name = ?",
        (name,),
    )


def _duplicate_error(
    con: sqlite3.Connection, prepared: list, mode: str, exc: sqlite3.IntegrityError
) -> InputError:
    """Turn SQLite's unique-index failure into a message naming the keys."""
    for name, cols, rows in prepared:
        key = LAYERS[name].key
        if key is None:
            continue
        i = cols.index(key)
        values = [r[i] for r in rows]
        seen: set = set()
        dup = [v for v in values if v in seen or seen.add(v)]
        if not dup and mode == "append":
            existing = {r[0] for r in con.execute(f'SELECT "{key}" FROM "{name}"')}
            dup = [v for v in values if v in existing]
        if dup:
            shown = ", ".join(map(str, dup[:5])) + (" …" if len(dup) > 5 else "")
            return InputError(
                f"{len(dup)} {key} value(s) of layer '{name}' already exist: {shown}",
                field=key,
                hint="remove the duplicates, or replace the layer",
            )
    return InputError(f"the write broke a constraint: {exc}")


def _rows(name: str, frame: pd.DataFrame) -> tuple[list[str], list[tuple]]:
    """The columns and SQLite-ready rows of a conformed frame."""
    lay = LAYERS[name]
    cols = lay.column_names
    values = column_values(frame, lay, bool_as_int=True)
    if lay.geometry is not None:
        cols = [*cols, _GEOM]
        values.append(_gpkg_blobs(frame.geometry.values, lay.geometry))
    return cols, list(zip(*values, strict=True)) if values else []


def _gpkg_blobs(geoms: np.ndarray, geom_type: str) -> list[bytes | None]:
    """GeoPackage binary geometries: a header with the envelope, then ISO WKB."""
    geoms = as_multi(geoms, geom_type)
    wkb = shapely.to_wkb(geoms, byte_order=1, flavor="iso")
    bounds = shapely.bounds(geoms)
    empty = shapely.is_empty(geoms)
    out: list[bytes | None] = []
    for w, b, e in zip(wkb.tolist(), bounds.tolist(), empty.tolist(), strict=True):
        if w is None:
            out.append(None)
        elif e:
            out.append(b"GP\x00\x11" + struct.pack("<i", _SRID) + w)
        else:
            # Envelope order in the header is minx, maxx, miny, maxy.
            out.append(b"GP\x00\x03" + struct.pack("<i4d", _SRID, b[0], b[2], b[1], b[3]) + w)
    return out


def _metadata_rows(metadata: Iterable[Mapping[str, object]]) -> tuple[list[str], list[tuple]]:
    return _rows("metadata", metadata_frame(metadata))


def _where_sql(where: Mapping[str, object]) -> str:
    """An OGR SQL filter from equality conditions, with values quoted safely."""

    def lit(v: object) -> str:
        if isinstance(v, bool):
            return str(int(v))
        if isinstance(v, int | float):
            return repr(v)
        return "'" + str(v).replace("'", "''") + "'"

    parts = []
    for col, val in where.items():
        if isinstance(val, list | tuple | set):
            vals = list(val)
            parts.append(f'"{col}" IN ({", ".join(map(lit, vals))})' if vals else "0 = 1")
        elif val is None:
            parts.append(f'"{col}" IS NULL')
        else:
            parts.append(f'"{col}" = {lit(val)}')
    return " AND ".join(parts)


# -- SQL functions the GeoPackage R-tree triggers call ---------------------


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a GeoPackage geometry blob, or None if empty."""
    if blob is None or len(blob) < 8:
        return None
    flags = blob[3]
    if flags & 0x10:
        return None
    order = "<" if flags & 1 else ">"
    kind = (flags >> 1) & 7
    if kind:
        return struct.unpack_from(order + "4d", blob, 8)
    # No envelope in the header (GDAL omits it for points): read the WKB.
    geom = shapely.from_wkb(blob[8:])
    if geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return minx, maxx, miny, maxy


def _register_functions(con: sqlite3.Connection) -> None:
    con.create_function("ST_IsEmpty", 1, lambda b: int(_envelope(b) is None), deterministic=True)
    for i, fn in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        con.create_function(
            fn, 1, lambda b, i=i: e[i] if (e := _envelope(b)) else None, deterministic=True
        )
