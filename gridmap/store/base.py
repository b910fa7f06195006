"""The store interface every backend implements.

A store holds the layers of :mod:`gridmap.schema`. It is named by one address
everywhere: a ``.gpkg`` path (the embedded default) or, with the PostGIS
backend, a ``postgresql://`` URL. Every write is one transaction: all of it
lands or none of it does.
"""

from __future__ import annotations

import abc
import contextlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.accounts import Account
from gridmap.audit import RETENTION_DAYS, AuditEntry, Broken, iso_utc, prune_limit
from gridmap.errors import ConflictError, InputError
from gridmap.schema import LAYERS, LEVEL_LAYERS, Layer, layer
from gridmap.store import accounts as sql_accounts
from gridmap.store import field as sql_field
from gridmap.store.accounts import Cursor

__all__ = [
    "DTYPES",
    "Store",
    "as_multi",
    "cast_frame",
    "column_values",
    "conform",
    "empty_frame",
    "metadata_frame",
]

#: pandas dtype of each logical column type.
DTYPES: dict[str, str] = {
    "text": "str",
    "int": "Int64",
    "float": "float64",
    "bool": "bool",
    "datetime": "datetime64[ms, UTC]",
}


def empty_frame(name: str) -> pd.DataFrame:
    """An empty frame of layer ``name`` with the schema's columns and dtypes."""
    lay = layer(name)
    data = {c.name: pd.Series([], dtype=DTYPES[c.type]) for c in lay.columns}
    if lay.geometry is None:
        return pd.DataFrame(data)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")


def conform(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Cast ``frame`` to layer ``name``'s columns, order and dtypes.

    Missing optional columns are added empty; missing required columns, or a
    spatial layer given without a CRS of EPSG:4326, are errors.

    Parameters
    ----------
    name
        The layer.
    frame
        Its rows.

    Raises
    ------
    gridmap.errors.InputError
        If a required column is missing or the geometry is not in EPSG:4326.
    """
    lay = layer(name)
    out = {}
    for col in lay.columns:
        if col.name not in frame.columns:
            if col.required:
                raise InputError(
                    f"layer '{name}' lacks the required column '{col.name}'",
                    field=col.name,
                    hint=f"columns of {name}: {', '.join(lay.column_names)}",
                )
            # An absent optional column is empty (a flag: false) in every row.
            fill = False if col.type == "bool" else None
            out[col.name] = pd.Series([fill] * len(frame), index=frame.index).astype(
                DTYPES[col.type]
            )
            continue
        out[col.name] = _cast_column(frame[col.name], col.type)
    if lay.geometry is None:
        return pd.DataFrame(out, index=frame.index)
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"layer '{name}' needs a geometry column", field="geometry")
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        raise InputError(
            f"layer '{name}' is in {frame.crs}, not EPSG:4326",
            hint="reproject to EPSG:4326 before storing",
        )
    return gpd.GeoDataFrame(out, geometry=frame.geometry.values, crs="EPSG:4326", index=frame.index)


def _cast_column(series: pd.Series, kind: str) -> pd.Series:
    """One column given to a store, cast to its logical type's dtype."""
    if kind == "bool":
        series = series.fillna(False)
    if kind == "datetime":
        series = pd.to_datetime(series, utc=True)
    return series.astype(DTYPES[kind])


def as_multi(geoms: np.ndarray, geom_type: str) -> np.ndarray:
    """Promote single polygons to multipolygons for a layer declared Multi*.

    A layer declared MultiPolygon holds only multipolygons (QGIS relies on it,
    and PostGIS's typed column refuses anything else).
    """
    geoms = np.asarray(geoms, dtype=object)
    if geom_type.startswith("Multi"):
        single = shapely.get_type_id(geoms) == 3
        if single.any():
            geoms = geoms.copy()
            geoms[single] = shapely.multipolygons(geoms[single][:, None])
    return geoms


def metadata_frame(metadata: Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """Provenance rows as a conformed ``metadata`` frame, stamped with the time of writing."""
    stamp = now_utc()
    return conform("metadata", pd.DataFrame([{"updated_at": stamp, **dict(m)} for m in metadata]))


def cast_frame(name: str, frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Give a frame read from a backend the schema's dtypes (text stays text)."""
    lay = LAYERS[name]
    for c in cols:
        t = lay.column(c).type
        if t == "datetime":
            frame[c] = pd.to_datetime(frame[c], utc=True, format="ISO8601").astype(DTYPES[t])
        elif t == "bool":
            frame[c] = frame[c].fillna(False).astype(bool)
        else:
            frame[c] = frame[c].astype(DTYPES[t])
    if lay.geometry is not None:
        frame = frame.set_crs("EPSG:4326", allow_override=True)
    return frame


def column_values(frame: pd.DataFrame, lay: Layer, *, bool_as_int: bool = False) -> list[list]:
    """Plain Python values of each attribute column of a conformed frame.

    Missing values become ``None``; datetimes become ISO 8601 text in UTC with
    millisecond precision (``2025-03-01T08:00:00.000Z``), which both SQLite
    (GeoPackage DATETIME) and PostgreSQL (timestamptz) read exactly.
    """
    values: list[list] = []
    for col in lay.columns:
        s = frame[col.name]
        if col.type == "datetime":
            arr = s.to_numpy(dtype="datetime64[ms]", na_value=np.datetime64("NaT"))
            text = np.datetime_as_string(arr, unit="ms")
            vals = [None if t == "NaT" else t + "Z" for t in text.tolist()]
        elif col.type == "bool":
            flags = s.to_numpy(dtype=bool).tolist()
            vals = [int(v) for v in flags] if bool_as_int else flags
        else:
            vals = [None if v is None or v is pd.NA or v != v else v for v in s.tolist()]
        values.append(vals)
    return values


class Store(abc.ABC):
    """A place gridmap keeps its layers: one interface, several backends.

    Use as a context manager, or call :meth:`close`.
    """

    #: The address the store was opened with (a path or a URL).
    address: str

    # -- reading --------------------------------------------------------
    @abc.abstractmethod
    def read(
        self,
        name: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        where: Mapping[str, object] | None = None,
        columns: Iterable[str] | None = None,
        prefixes: Mapping[str, Iterable[str]] | None = None,
    ) -> pd.DataFrame:
        """Read a layer.

        Parameters
        ----------
        name
            The layer.
        bbox
            ``(minx, miny, maxx, maxy)`` in EPSG:4326: only features whose
            bounding box meets it (through the spatial index).
        where
            Equality filters, ``{column: value}``; a list or tuple value means
            "one of".
        columns
            Attribute columns to read (default: all).
        prefixes
            ``{column: codes}``: only rows whose column starts with one of the
            codes (a user's scope: the units under them), in the query (SQL
            ``LIKE 'code%'``); codes are digits only. An empty list matches nothing.

        Returns
        -------
        pandas.DataFrame
            A GeoDataFrame in EPSG:4326 for spatial layers, with the schema's dtypes.
        """

    @abc.abstractmethod
    def count(self, name: str) -> int:
        """The number of rows of a layer."""

    def read_all(self, names: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
        """Read several layers (default: all) into a dict by name."""
        return {n: self.read(n) for n in (names or LAYERS)}

    def counts(self) -> dict[str, int]:
        """Row counts of every layer."""
        return {n: self.count(n) for n in LAYERS}

    def keys(self, name: str) -> set[str]:
        """The key values (codes, ids) present in a layer."""
        key = layer(name).key
        if key is None:
            return set()
        return set(self.read(name, columns=[key])[key].dropna().tolist())

    def distinct(self, name: str, column: str) -> list:
        """The distinct non-null values of a layer's column, sorted (in the database)."""
        layer(name).column(column)  # only a layer and a column of the schema reach the SQL
        frame = self._query(
            f'SELECT DISTINCT "{column}" AS v FROM "{name}" WHERE "{column}" IS NOT NULL', {}
        )
        return sorted(frame["v"].tolist())

    def unit_totals(self, level: str, *, under: str = "") -> pd.DataFrame:
        """Counts and sums per unit of ``level``, computed in the database.

        Parameters
        ----------
        level
            ``district``, ``subdistrict``, ``community`` or ``grid``.
        under
            Only units whose code starts with this (default: all).

        Returns
        -------
        pandas.DataFrame
            Indexed by unit code: ``subdistricts``, ``communities``, ``grids``,
            ``buildings``, ``residential_buildings``, ``households``,
            ``population``, ``elderly``, ``children``, ``branches``,
            ``grids_with_branch``, ``members``, ``building_groups``,
            ``buildings_with_group``, ``central_households`` (all int64; units
            with nothing under them have zeros). The SQL is the same on every
            backend (``gridmap/store/sql/unit_totals.sql``).
        """
        from gridmap.codes import WIDTHS

        if level not in ("district", "subdistrict", "community", "grid"):
            raise ValueError(
                f"unit totals are per district, subdistrict, community or grid, not {level}"
            )
        sql = _sql_file("unit_totals.sql").format(units=LEVEL_LAYERS[level], width=WIDTHS[level])
        frame = self._query(sql, {"under": under})
        return frame.set_index("code").astype("int64")

    def _query(self, sql: str, params: Mapping[str, object]) -> pd.DataFrame:
        """Run a read-only SQL query (named ``:param`` placeholders) into a frame."""
        raise NotImplementedError

    # -- writing --------------------------------------------------------
    @abc.abstractmethod
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
        """Write layers in one transaction: all of it lands, or none of it.

        Parameters
        ----------
        frames
            Rows per layer, conforming to the schema (see :func:`conform`).
        mode
            ``append`` adds rows (a key already present is an error);
            ``replace`` empties each named layer first.
        metadata
            Provenance rows (``layer, source, licence, synthetic, note``) to
            upsert into the ``metadata`` table in the same transaction.
        progress
            Called as ``progress(layer, rows)`` after each layer is written
            (the rows are not committed until the whole write is).
        audit
            The audit row recording the write (an import), appended in the same
            transaction: both land or neither does.
        also
            More SQL to run in the same transaction, given the transaction's
            :class:`~gridmap.store.accounts.Cursor` (a report's photos and its
            request key, :mod:`gridmap.store.field`).

        Raises
        ------
        gridmap.errors.StoreBusyError
            If another writer holds the store for longer than the lock timeout.
        gridmap.errors.InputError
            If a key already exists (append) or a row does not fit the schema.
        """

    @abc.abstractmethod
    def move_incident(
        self,
        row: Mapping[str, object],
        events: Iterable[Mapping[str, object]],
        *,
        expected_version: int,
        audit: AuditEntry | None = None,
        also: Callable[[Cursor], None] | None = None,
    ) -> None:
        """Save an incident's move: its new row and the events, in one transaction.

        The optimistic version check makes concurrent moves safe: the row is
        updated only if its stored version is still ``expected_version`` (the
        version the caller read); it is then saved with version + 1. Of two
        people moving the same incident at once, one wins and the other is told
        the incident changed; nothing is lost.

        Parameters
        ----------
        row
            The incident's columns after the move (``id`` names it; geometry is
            not changed). ``version`` in it is ignored: the store sets it.
        events
            The ``incident_events`` rows the move adds.
        expected_version
            The version the caller read.
        audit
            The audit row recording the move, appended in the same transaction.
        also
            More SQL to run in the same transaction (as for :meth:`write`).

        Raises
        ------
        gridmap.errors.ConflictError
            If the incident is gone or its version is no longer ``expected_version``.
        """

    def replace_all(
        self,
        frames: Mapping[str, pd.DataFrame],
        *,
        metadata: Iterable[Mapping[str, object]] | None = None,
        progress: Callable[[str, int], None] | None = None,
        audit: AuditEntry | None = None,
    ) -> None:
        """Replace the whole content of the store with ``frames`` (one transaction).

        Layers absent from ``frames`` (the metadata table aside) are emptied;
        accounts, tokens and the audit log are kept.
        """
        full = {n: frames.get(n, empty_frame(n)) for n in LAYERS if n != "metadata"}
        if metadata is not None:
            full["metadata"] = empty_frame("metadata")
        self.write(full, mode="replace", metadata=metadata, progress=progress, audit=audit)

    # -- accounts, tokens and the audit log (gridmap/store/accounts.py) --
    def _accounts(self, *, write: bool) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor on the account tables in one transaction (the write lock if ``write``)."""
        raise NotImplementedError

    def user(self, name: str) -> Account | None:
        """The account named ``name``, or None."""
        with self._accounts(write=False) as cur:
            return sql_accounts.get_user(cur, name)

    def users(self) -> list[Account]:
        """Every account, by name."""
        with self._accounts(write=False) as cur:
            return sql_accounts.list_users(cur)

    def add_user(self, account: Account, *, audit: AuditEntry) -> None:
        """Add an account and its audit row, in one transaction."""
        with self._accounts(write=True) as cur:
            sql_accounts.insert_user(cur, account)
            sql_accounts.append_audit(cur, audit)

    def change_user(
        self, name: str, changes: Mapping[str, object], *, audit: AuditEntry | None
    ) -> None:
        """Change an account's columns (and write ``audit``, if given, in the same transaction).

        Only the sign-in counters (``failed_attempts``, ``locked_until``) change
        without a row of their own: their sign-in writes ``sign_in`` or
        ``sign_in_failed``.
        """
        with self._accounts(write=True) as cur:
            sql_accounts.update_user(cur, name, changes)
            if audit is not None:
                sql_accounts.append_audit(cur, audit)

    def add_token(self, name: str, digest: str, scope: Iterable[str], *, audit: AuditEntry) -> None:
        """Add a wall token (its SHA-256) and its audit row."""
        with self._accounts(write=True) as cur:
            sql_accounts.insert_token(cur, name, digest, scope)
            sql_accounts.append_audit(cur, audit)

    def revoke_token(self, name: str, *, audit: AuditEntry) -> None:
        """Revoke a wall token and write its audit row."""
        with self._accounts(write=True) as cur:
            sql_accounts.revoke_token(cur, name)
            sql_accounts.append_audit(cur, audit)

    def token(self, digest: str) -> dict | None:
        """The live wall token with this SHA-256 (``name``, ``scope``), or None."""
        with self._accounts(write=False) as cur:
            return sql_accounts.find_token(cur, digest)

    def tokens(self) -> list[dict]:
        """Every wall token: name, scope, created_at, revoked_at (never the hash)."""
        with self._accounts(write=False) as cur:
            return sql_accounts.list_tokens(cur)

    def audit(self, entry: AuditEntry) -> None:
        """Append one audit row on its own (a sign-in, an export, a view of personal data)."""
        with self._accounts(write=True) as cur:
            sql_accounts.append_audit(cur, entry)

    def audit_log(
        self, *, since: str | None = None, user: str | None = None, action: str | None = None
    ) -> list[dict]:
        """Audit rows, oldest first: ``id``, ``at``, ``user``, ``role``, ``address``,
        ``action``, ``target``, ``detail`` (JSON text)."""
        with self._accounts(write=False) as cur:
            return sql_accounts.audit_rows(cur, since=since, user=user, action=action)

    def verify_audit(self) -> tuple[Broken | None, int, tuple[int, str]]:
        """Check the audit chain: the first broken row (or None), the rows checked, the head."""
        with self._accounts(write=False) as cur:
            return sql_accounts.verify_audit(cur)

    def prune_audit(self, before: datetime, *, audit: AuditEntry) -> int:
        """Remove audit rows older than ``before``; refused within the retention period.

        Raises
        ------
        gridmap.errors.InputError
            If ``before`` is later than now − :data:`gridmap.audit.RETENTION_DAYS` days.
        """
        limit = prune_limit()
        if before > limit:
            raise InputError(
                f"audit rows younger than {RETENTION_DAYS} days are kept: "
                f"{iso_utc(before)} is after {iso_utc(limit)}",
                field="--prune-before",
                hint=f"prune only before {limit.date().isoformat()} (the law asks for six months)",
            )
        with self._accounts(write=True) as cur:
            n = sql_accounts.prune_audit(cur, iso_utc(before))
            sql_accounts.append_audit(
                cur, replace(audit, detail={**dict(audit.detail), "removed": n})
            )
        return n

    # -- the field mode's photos and request keys (gridmap/store/field.py) --
    def request(self, key: str) -> dict | None:
        """The stored request of an idempotency key (``user``, ``kind``, ``target``, ``answer``)."""
        with self._accounts(write=False) as cur:
            return sql_field.find_request(cur, key)

    def photo(self, digest: str, *, thumb: bool = False) -> tuple[bytes, list[str]] | None:
        """A stored picture's JPEG (or thumbnail) and the cases it belongs to; None if unknown."""
        with self._accounts(write=False) as cur:
            found = sql_field.photo_bytes(cur, digest, thumb=thumb)
            return None if found is None else (found[0], sql_field.photo_cases(cur, digest))

    def case_photos(self, incident_id: str) -> list[dict]:
        """The pictures of a case, oldest first: ``hash``, ``step``, ``at``, ``width`` …"""
        with self._accounts(write=False) as cur:
            return sql_field.case_photos(cur, incident_id)

    def acknowledge_alert(self, alert_id: str, *, audit: AuditEntry) -> bool:
        """Acknowledge a wall alert (and write its audit row) in one transaction.

        Returns False, writing nothing, when the alert was acknowledged before.
        """
        with self._accounts(write=True) as cur:
            at = iso_utc(datetime.now(UTC))
            done = sql_accounts.acknowledge_alert(cur, alert_id, audit.user, at)
            if done:
                sql_accounts.append_audit(cur, audit)
            return done

    def acknowledged_alerts(self) -> dict[str, dict]:
        """Every acknowledged wall alert: its id → ``user`` and ``at`` (ISO, UTC)."""
        with self._accounts(write=False) as cur:
            return sql_accounts.acknowledged_alerts(cur)

    def setting(self, key: str) -> str | None:
        """A value of the store's settings table (``demo_accounts`` …), or None."""
        with self._accounts(write=False) as cur:
            return sql_accounts.get_setting(cur, key)

    def secret_key(self) -> str:
        """The app's session secret kept in the store, made on first use (64 hex digits)."""
        with self._accounts(write=False) as cur:
            found = sql_accounts.get_setting(cur, "secret_key")
        if found:
            return found
        with self._accounts(write=True) as cur:
            found = sql_accounts.get_setting(cur, "secret_key")
            if not found:
                found = secrets.token_hex(32)
                sql_accounts.set_setting(cur, "secret_key", found)
        return found

    @abc.abstractmethod
    def version(self) -> str:
        """A token that changes whenever the store's data change.

        Whoever keeps layers in memory (the dashboard) compares it with the
        token of what it read to know when to read again. Two equal tokens mean
        nothing was written in between, by this process or another.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store's resources."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r})"


def prefix_codes(prefixes: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Scope prefixes checked: unit codes are digits, so a ``LIKE`` pattern needs no escaping."""
    out = {}
    for col, codes in prefixes.items():
        codes = [str(c) for c in codes]
        bad = [c for c in codes if not c.isdigit()]
        if bad:
            raise InputError(f"'{bad[0]}' is not a unit code", field=col)
        out[col] = codes
    return out


def incident_update(row: Mapping[str, object], *, bool_as_int: bool) -> tuple[list[str], list]:
    """Columns and values of an incident update (everything but id, geometry, version).

    The values are converted as for inserts, so both backends store a move
    exactly as they store an import.
    """
    lay = LAYERS["incidents"]
    frame = pd.DataFrame([{k: v for k, v in dict(row).items() if k != "geometry"}])
    missing = [c for c in lay.column_names if c not in frame]
    if missing:
        raise InputError(f"the incident row lacks {', '.join(missing)}", field=missing[0])
    attrs = pd.DataFrame({c.name: _cast_column(frame[c.name], c.type) for c in lay.columns})
    values = column_values(attrs, lay, bool_as_int=bool_as_int)
    cols = [c for c in lay.column_names if c not in ("id", "version")]
    by_name = dict(zip(lay.column_names, values, strict=True))
    return cols, [by_name[c][0] for c in cols]


def conflict_error(incident_id: object, expected: int, found: int | None) -> ConflictError:
    """The error of a move that lost the race (or names a missing incident)."""
    if found is None:
        return ConflictError(f"incident {incident_id} does not exist", hint="check the id")
    return ConflictError(
        f"incident {incident_id} changed since you read it (version {expected}, now {found}): "
        "someone else moved it first",
        current_version=found,
    )


def _sql_file(name: str) -> str:
    """The text of a SQL file of the store package."""
    return (Path(__file__).parent / "sql" / name).read_text(encoding="utf-8")


def now_utc() -> datetime:
    """The current time in UTC (for metadata rows)."""
    return datetime.now(UTC)
