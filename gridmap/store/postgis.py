"""The PostGIS store: the same interface on a PostgreSQL/PostGIS database.

Tables are described once, from :mod:`gridmap.schema`, as SQLAlchemy Core
tables with GeoAlchemy2 geometry columns (SRID 4326); they are created and
upgraded by the Alembic migrations in :mod:`gridmap.migrations`, which add
primary keys on codes, deferred foreign keys down the hierarchy, CHECK
constraints on code widths, prefixes and identifiers, and GiST indexes.

Writes run in one transaction and load rows with ``COPY`` (psycopg), the
fastest path into PostgreSQL; constraint failures are turned into
:class:`~gridmap.errors.InputError` messages naming the offending key. Many
processes may write at once: PostgreSQL's row locks and unique indexes make
concurrent imports lose nothing and duplicate nothing.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from geoalchemy2 import Geometry

from gridmap.audit import AuditEntry
from gridmap.errors import InputError, StoreError
from gridmap.schema import LAYERS, layer
from gridmap.store import accounts as sql_accounts
from gridmap.store.accounts import Cursor
from gridmap.store.base import (
    Store,
    as_multi,
    cast_frame,
    column_values,
    conflict_error,
    conform,
    incident_update,
    metadata_frame,
    prefix_codes,
)

__all__ = ["HEAD_REVISION", "PostGISStore", "upgrade", "safe_url", "tables"]

#: The schema version this gridmap expects (the newest migration).
HEAD_REVISION = "0003"

_SA_TYPES = {
    "text": sa.Text,
    "int": sa.BigInteger,
    "float": sa.Float,
    "bool": sa.Boolean,
    "datetime": lambda: sa.DateTime(timezone=True),
}


@lru_cache(maxsize=1)
def tables() -> dict[str, sa.Table]:
    """SQLAlchemy tables of every layer (the query side of the migrated schema)."""
    meta = sa.MetaData()
    out = {}
    for name, lay in LAYERS.items():
        cols: list[sa.Column] = []
        if lay.key is None:
            cols.append(sa.Column("id", sa.BigInteger, primary_key=True))
        for c in lay.columns:
            cols.append(sa.Column(c.name, _SA_TYPES[c.type](), primary_key=c.name == lay.key))
        if lay.geometry:
            cols.append(
                sa.Column("geom", Geometry(lay.geometry.upper(), srid=4326, spatial_index=False))
            )
        out[name] = sa.Table(name, meta, *cols)
    return out


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _engine_url(url: str) -> str:
    # Always use psycopg 3, whatever driver the user's URL names.
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)


def _connect_error(url: str, exc: Exception) -> StoreError:
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    return StoreError(
        f"cannot connect to {safe_url(url)}: {reason}",
        "check that the server runs and the URL's user, password, host, port and database",
    )


def upgrade(url: str) -> tuple[str | None, str]:
    """Create or upgrade the gridmap schema in a database to the newest version.

    Parameters
    ----------
    url
        The database's ``postgresql://`` URL.

    Returns
    -------
    tuple
        The version before and after (``None`` before: the database was empty).
        Upgrading an up-to-date database changes nothing.
    """
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.util.exc import CommandError

    engine = _create_engine(url)
    try:
        with engine.begin() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            _require_postgis_available(conn, url)
            cfg = Config()
            cfg.set_main_option("script_location", "gridmap:migrations")
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, "head")
            except CommandError as exc:
                raise StoreError(
                    f"{safe_url(url)} has gridmap schema version {before}, which this gridmap "
                    f"does not know ({exc})",
                    "it was made by a newer gridmap: use that version, or a new database",
                ) from None
            after = MigrationContext.configure(conn).get_current_revision()
    except sa.exc.OperationalError as exc:
        raise _connect_error(url, exc) from None
    finally:
        engine.dispose()
    return before, after


def _create_engine(url: str) -> sa.Engine:
    try:
        return sa.create_engine(_engine_url(url), pool_pre_ping=True)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise StoreError(
            f"'{safe_url(url)}' is not a database URL ({exc})",
            "use postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
        ) from None


def _require_postgis_available(conn: sa.Connection, url: str) -> None:
    have = conn.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
    ).first()
    if have is None:
        raise StoreError(
            f"the server of {safe_url(url)} has no PostGIS",
            "install PostGIS on the server (Debian: postgresql-15-postgis-3) or use a PostGIS "
            "image such as postgis/postgis",
        )


class PostGISStore(Store):
    """A store in a PostgreSQL database with PostGIS.

    Parameters
    ----------
    url
        ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``.
    create
        Create the schema (run the migrations) if the database has none yet.
    """

    def __init__(self, url: str, *, create: bool = False) -> None:
        self.address = url
        self.engine = _create_engine(url)
        try:
            with self.engine.connect() as conn:
                version = _schema_version(conn)
                postgis = conn.exec_driver_sql(
                    "SELECT 1 FROM pg_extension WHERE extname = 'postgis'"
                ).first()
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            raise _connect_error(url, exc) from None
        if version is None and create:
            upgrade(url)
            version = HEAD_REVISION
        if version != HEAD_REVISION:
            self.engine.dispose()
            if version is None:
                what = "no gridmap schema" + ("" if postgis else " and no PostGIS extension")
                raise StoreError(
                    f"{safe_url(url)} has {what}",
                    f"create them with `gridmap db upgrade {safe_url(url)}`",
                )
            if version not in _known_revisions():
                raise StoreError(
                    f"{safe_url(url)} has gridmap schema version {version}, which this gridmap "
                    f"(version {HEAD_REVISION}) does not know",
                    "it was made by a newer gridmap: use that version, or a new database",
                )
            raise StoreError(
                f"{safe_url(url)} has gridmap schema version {version}; "
                f"this gridmap needs version {HEAD_REVISION}",
                f"upgrade it with `gridmap db upgrade {safe_url(url)}`",
            )

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
        table = tables()[name]
        cols = list(columns) if columns is not None else lay.column_names
        for c in cols:
            lay.column(c)
        selected = [_select_column(table, lay.column(c)) for c in cols]
        if lay.geometry:
            # WKB is the fastest way out of PostGIS into shapely.
            selected.append(sa.func.ST_AsBinary(table.c.geom).label("geom"))
        query = sa.select(*selected)
        if bbox is not None and lay.geometry:
            envelope = sa.func.ST_MakeEnvelope(*bbox, 4326)
            query = query.where(table.c.geom.op("&&")(envelope))  # uses the GiST index
        for col, val in (where or {}).items():
            column = table.c[col]
            if isinstance(val, list | tuple | set):
                query = query.where(column.in_(list(val)))
            elif val is None:
                query = query.where(column.is_(None))
            else:
                query = query.where(column == val)
        for col, codes in prefix_codes(prefixes or {}).items():
            lay.column(col)
            column = table.c[col]
            query = query.where(sa.or_(sa.false(), *(column.startswith(c) for c in codes)))
        if lay.key:
            query = query.order_by(table.c[lay.key])
        elif "id" in table.c:
            query = query.order_by(table.c.id)
        with self.engine.connect() as conn:
            result = conn.execute(query)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        if lay.geometry:
            geoms = shapely.from_wkb(frame.pop("geom").to_numpy(dtype=object))
            frame = gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4326")
        return cast_frame(name, frame, cols)

    def count(self, name: str) -> int:
        layer(name)
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(tables()[name])).scalar_one()

    def keys(self, name: str) -> set[str]:
        key = layer(name).key
        if key is None:
            return set()
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(tables()[name].c[key])).scalars())

    def _query(self, sql: str, params: Mapping[str, object]) -> pd.DataFrame:
        with self.engine.connect() as conn:
            result = conn.execute(sa.text(sql), dict(params))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

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
        import psycopg

        if mode not in ("append", "replace"):
            raise ValueError(f"mode must be 'append' or 'replace', not {mode!r}")
        prepared = [
            (name, *_copy_rows(name, conform(name, frame))) for name, frame in frames.items()
        ]
        meta = _copy_rows("metadata", metadata_frame(metadata)) if metadata else None
        try:
            with self.engine.begin() as conn:
                raw = conn.connection.driver_connection
                with raw.cursor() as cur:
                    # Counts of this write reach pg_stat_user_tables at commit (version()).
                    cur.execute("SELECT pg_stat_force_next_flush()")
                    if mode == "replace":
                        # Children first is not needed: the foreign keys are deferred
                        # to the commit, where the new rows must satisfy them.
                        for name, _, _ in prepared:
                            cur.execute(f'DELETE FROM "{name}"')
                    for name, cols, rows in prepared:
                        _copy(cur, name, cols, rows)
                        if progress is not None:
                            progress(name, len(rows))
                    if meta:
                        # An upsert, not delete-then-insert: two writers importing
                        # the same layer at once must not collide on its row.
                        cols, rows = meta
                        names = ", ".join(cols)
                        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != "layer")
                        cur.executemany(
                            f"INSERT INTO metadata ({names}) VALUES "
                            f"({', '.join(['%s'] * len(cols))}) "
                            f"ON CONFLICT (layer) DO UPDATE SET {updates}",
                            rows,
                        )
                    if audit is not None:
                        sql_accounts.append_audit(_cursor(cur), audit)
                    if also is not None:
                        also(_cursor(cur))
        except sa.exc.OperationalError as exc:
            raise _connect_error(self.address, exc) from None
        except (sa.exc.IntegrityError, psycopg.errors.IntegrityError) as exc:
            raise _integrity_error(getattr(exc, "orig", exc)) from None

    def move_incident(
        self,
        row: Mapping[str, object],
        events: Iterable[Mapping[str, object]],
        *,
        expected_version: int,
        audit: AuditEntry | None = None,
        also: Callable[[Cursor], None] | None = None,
    ) -> None:
        import psycopg

        cols, values = incident_update(row, bool_as_int=False)
        event_cols, event_rows = _copy_rows(
            "incident_events", conform("incident_events", pd.DataFrame(list(events)))
        )
        sets = ", ".join(f"{c} = %s" for c in cols)
        try:
            with self.engine.begin() as conn:
                raw = conn.connection.driver_connection
                with raw.cursor() as cur:
                    cur.execute("SELECT pg_stat_force_next_flush()")  # see version()
                    # The row lock taken by UPDATE makes a concurrent mover wait for
                    # this transaction; it then finds the version changed.
                    cur.execute(
                        f"UPDATE incidents SET {sets}, version = %s WHERE id = %s AND version = %s",
                        [*values, expected_version + 1, row["id"], expected_version],
                    )
                    if cur.rowcount != 1:
                        cur.execute("SELECT version FROM incidents WHERE id = %s", (row["id"],))
                        found = cur.fetchone()
                        raise conflict_error(
                            row["id"], expected_version, found[0] if found else None
                        )
                    _copy(cur, "incident_events", event_cols, event_rows)
                    if audit is not None:
                        sql_accounts.append_audit(_cursor(cur), audit)
                    if also is not None:
                        also(_cursor(cur))
        except sa.exc.OperationalError as exc:
            raise _connect_error(self.address, exc) from None
        except (sa.exc.IntegrityError, psycopg.errors.IntegrityError) as exc:
            raise _integrity_error(getattr(exc, "orig", exc)) from None

    def version(self) -> str:
        # Rows inserted, updated and deleted in the store's tables, from the
        # statistics PostgreSQL keeps anyway (no trigger, no extra table). Our
        # writers flush their counts at commit (pg_stat_force_next_flush);
        # other writers' counts arrive when their session idles or ends. The
        # account tables are left out: a sign-in or an audit row must not make
        # every open page re-read the layers.
        try:
            with self.engine.connect() as conn:
                changes = conn.execute(
                    sa.text(
                        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0), count(*) "
                        "FROM pg_stat_user_tables WHERE schemaname = current_schema() "
                        f"AND relname NOT IN ({_ACCOUNT_TABLES})"
                    )
                ).one()
        except sa.exc.OperationalError as exc:
            raise _connect_error(self.address, exc) from None
        return f"{changes[0]}:{changes[1]}"

    @contextlib.contextmanager
    def _accounts(self, *, write: bool) -> Iterator[Cursor]:
        try:
            with self.engine.begin() as conn:
                raw = conn.connection.driver_connection
                with raw.cursor() as cur:
                    yield _cursor(cur)
        except sa.exc.OperationalError as exc:
            raise _connect_error(self.address, exc) from None

    def close(self) -> None:
        self.engine.dispose()


# -- helpers ----------------------------------------------------------------

_ACCOUNT_TABLES = "'users', 'wall_tokens', 'audit_log', 'gridmap_settings'"


def _cursor(cur) -> Cursor:
    """A psycopg cursor as the account SQL's cursor (``%s`` placeholders)."""
    return Cursor(cur, mark="%s", postgres=True)


def _select_column(table: sa.Table, column) -> sa.ColumnElement:
    """A column as selected for reading.

    Timestamps come out as ISO 8601 text in UTC and are parsed by pandas in one
    vectorised pass: building a Python datetime per value is most of the cost
    of reading the event log otherwise.
    """
    col = table.c[column.name]
    if column.type == "datetime":
        text = sa.func.to_char(
            sa.func.timezone("UTC", col), sa.literal_column('\'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\'')
        )
        return text.label(column.name)
    return col


@lru_cache(maxsize=1)
def _known_revisions() -> frozenset[str]:
    """Every schema version this gridmap's migrations know."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", "gridmap:migrations")
    return frozenset(rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions())


def _schema_version(conn: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _copy_rows(name: str, frame: pd.DataFrame) -> tuple[list[str], list[tuple]]:
    """Columns and COPY-ready rows: plain values, geometry as hex EWKB text."""
    lay = LAYERS[name]
    cols = list(lay.column_names)
    values = column_values(frame, lay)
    if lay.geometry is not None:
        geoms = shapely.set_srid(as_multi(frame.geometry.values, lay.geometry), 4326)
        cols.append("geom")
        values.append(shapely.to_wkb(geoms, hex=True, include_srid=True).tolist())
    return cols, list(zip(*values, strict=True)) if values else []


def _copy(cur, name: str, cols: list[str], rows: list[tuple]) -> None:
    if not rows:
        return
    names = ", ".join(f'"{c}"' for c in cols)
    with cur.copy(f'COPY "{name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


_DETAIL_KEY = re.compile(r"Key \((?P<cols>[^)]*)\)=\((?P<vals>.*)\)")


def _integrity_error(exc: Exception) -> InputError:
    """A user-facing message for a broken key, reference or check."""
    diag = getattr(exc, "diag", None)
    table = getattr(diag, "table_name", None) or "?"
    constraint = getattr(diag, "constraint_name", None) or ""
    detail = getattr(diag, "message_detail", None) or ""
    m = _DETAIL_KEY.search(detail)
    key = f"{m['cols']} {m['vals']}" if m else ""
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate == "23505":  # unique_violation
        return InputError(
            f"layer '{table}': {key or 'a key'} already exists",
            field=m["cols"] if m else None,
            hint="remove the duplicates, or replace the layer",
        )
    if sqlstate == "23503":  # foreign_key_violation
        return InputError(
            f"layer '{table}': {key} names a unit that does not exist ({constraint})",
            field=m["cols"] if m else None,
            hint="import the parent layer first (districts → subdistricts → communities → grids "
            "→ buildings)",
        )
    if sqlstate == "23514":  # check_violation
        row = detail.removeprefix("Failing row contains ").strip()
        shown = f" ({row[:200]})" if row else ""
        return InputError(
            f"layer '{table}': a row breaks the rule {constraint}{shown}",
            hint="codes extend their parent's code with the level's width; identifiers come "
            "from the documented lists (README, Data formats)",
        )
    if sqlstate == "23502":  # not_null_violation
        column = getattr(diag, "column_name", None)
        return InputError(f"layer '{table}': a row lacks the required '{column}'", field=column)
    return InputError(f"the write broke a rule of the database: {str(exc).splitlines()[0]}")
