"""The PostGIS backend (issue #3), against a real throwaway PostGIS cluster (no mocks).

What the backend-agnostic contract (test_store_contract.py) cannot see: the address picks
the backend, the schema the migrations build (typed geometry, GiST, keys, deferred foreign
keys, CHECK constraints), spatial queries that run in the database on its index, whole
transactions, concurrent writers, a lossless round trip through GeoPackage, and one clear
line for every bad address or database.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import psycopg
import pyogrio
import pytest
import sqlalchemy as sa
from conftest import DEMO_AS_OF
from shapely.geometry import box

import gridmap.store.postgis as postgis_store
from gridmap.cli import main
from gridmap.errors import InputError
from gridmap.io import write_layer_file
from gridmap.schema import LAYERS
from gridmap.settings import get_settings
from gridmap.store import open_store
from gridmap.store.postgis import HEAD_REVISION, PostGISStore, upgrade

import fixtures as fx

GRIDMAP = str(Path(sys.executable).with_name("gridmap"))

#: Every layer but metadata, parents before children: the order a user imports them in.
ORDER = [
    "districts",
    "subdistricts",
    "communities",
    "grids",
    "buildings",
    "facilities",
    "party_orgs",
    "roads",
    "incidents",
    "incident_events",
]
HIERARCHY = ORDER[:5]
SPATIAL = [name for name, lay in LAYERS.items() if lay.geometry is not None]

#: A community code that no store holds (prefix of subdistrict 431002001).
MISSING_COMMUNITY = "431002001009"


# -- helpers ------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run ``gridmap ARGS`` in-process; return (exit status, stdout, stderr)."""
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def one_line_error(rc: int, err: str, *needles: str) -> str:
    """Check a user error: exit 2, one line on stderr, no traceback, naming ``needles``."""
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gridmap: error: "), err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def query(url: str, statement: str, params: tuple | None = None) -> list[tuple]:
    """Run one SQL statement on its own connection; return its rows."""
    with psycopg.connect(url, autocommit=True) as con:
        cur = con.execute(statement, params)
        return cur.fetchall() if cur.description else []


def dbname(url: str) -> str:
    """The database name of a test cluster URL."""
    return url.rsplit("/", 1)[-1]


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def snapshot(url: str) -> dict[str, object]:
    """Row counts of every layer and checksums of the grids and metadata tables."""
    with open_store(url) as st:
        counts = st.counts()
    grids = query(url, "SELECT md5(string_agg(g::text, ',' ORDER BY code)) FROM grids g")
    meta = query(url, "SELECT md5(string_agg(m::text, ',' ORDER BY layer)) FROM metadata m")
    return {"counts": counts, "grids": grids[0][0], "metadata": meta[0][0]}


def sort_layer(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """A layer's rows in key order (every attribute for a layer without a key)."""
    key = LAYERS[name].key
    by = [key] if key else LAYERS[name].column_names
    return frame.sort_values(by, kind="stable").reset_index(drop=True)


def assert_same_layer(a: pd.DataFrame, b: pd.DataFrame, name: str) -> None:
    """Two reads of a layer hold the same rows: attributes equal, geometry within 1e-9°."""
    a, b = sort_layer(a, name), sort_layer(b, name)
    if LAYERS[name].geometry is None:
        pd.testing.assert_frame_equal(a, b, obj=name)
        return
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"), obj=name)
    assert (a.geom_type == b.geom_type).all(), name
    assert a.geometry.geom_equals_exact(b.geometry, tolerance=1e-9).all(), name


def grid_row(code: str, community: str, bounds: tuple[float, float, float, float]) -> dict:
    """One grids row of a CSV file (WKT geometry)."""
    return {
        "code": code,
        "name": f"网格{code[-2:]}",
        "community_code": community,
        "households": 10,
        "population": 25,
        "geometry": box(*bounds).wkt,
    }


def grid_frame(code: str, community: str) -> gpd.GeoDataFrame:
    """A one-row grids layer inside the hand-made district (tests/fixtures.py)."""
    return gpd.GeoDataFrame(
        {"code": [code], "name": ["网格"], "community_code": [community]},
        geometry=[box(113.001, 25.781, 113.002, 25.782)],
        crs="EPSG:4326",
    )


# -- fixtures -----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoDatabase:
    """The session's PostGIS database with the demo loaded by `gridmap demo --out URL`."""

    url: str
    stdout: str


@pytest.fixture(scope="session")
def demo_db(postgis) -> Iterator[DemoDatabase]:
    """One PostGIS database holding the demo, loaded through the CLI; read-only for tests."""
    url = postgis.create_database()
    result = subprocess.run(
        # The same as-of as the session's GeoPackage demo: the same data, row for row.
        [GRIDMAP, "--lang", "en", "demo", "--out", url, "--no-serve", "-q", "--as-of", DEMO_AS_OF],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    yield DemoDatabase(url, result.stdout)
    postgis.drop_database(url)


@pytest.fixture(scope="session")
def demo_db_layers(demo_db: DemoDatabase) -> dict[str, pd.DataFrame]:
    """Every layer of the PostGIS demo (do not modify the frames)."""
    with open_store(demo_db.url) as st:
        return st.read_all()


@pytest.fixture(scope="session")
def demo_gpkg_layers(demo_path: Path) -> dict[str, pd.DataFrame]:
    """Every layer of the GeoPackage demo (do not modify the frames)."""
    with open_store(demo_path) as st:
        return st.read_all()


@pytest.fixture
def migrated(postgis_url: str) -> str:
    """A fresh database with the gridmap schema and nothing in it."""
    upgrade(postgis_url)
    return postgis_url


@pytest.fixture
def small_store(postgis_url: str) -> str:
    """A PostGIS store holding the hand-made hierarchy of tests/fixtures.py, with metadata."""
    layers = fx.valid_layers()
    meta = [
        {"layer": name, "source": "tests/fixtures.py", "licence": "CC0", "synthetic": True}
        for name in layers
    ]
    with open_store(postgis_url, create=True) as st:
        st.write(layers, metadata=meta)
    return postgis_url


@pytest.fixture
def hierarchy_db(postgis_url: str, demo_gpkg_layers: dict[str, pd.DataFrame]) -> str:
    """A PostGIS store with the demo's hierarchy and metadata rows, and no incidents."""
    meta = demo_gpkg_layers["metadata"].drop(columns="updated_at").to_dict("records")
    with open_store(postgis_url, create=True) as st:
        st.write({name: demo_gpkg_layers[name] for name in HIERARCHY}, metadata=meta)
    assert query(postgis_url, "SELECT 1 FROM metadata WHERE layer = 'incidents'")
    return postgis_url


@pytest.fixture(scope="session")
def incident_files(
    tmp_path_factory: pytest.TempPathFactory, demo_gpkg_layers: dict[str, pd.DataFrame]
) -> list[tuple[Path, set[str]]]:
    """Two GeoJSON files of 3,000 valid demo incidents each, disjoint; with their ids."""
    folder = tmp_path_factory.mktemp("incidents")
    incidents = demo_gpkg_layers["incidents"]
    files = []
    for i, part in enumerate((incidents.iloc[:3000], incidents.iloc[3000:6000])):
        path = write_layer_file(part, folder / f"incidents-{i}.geojson", layer="incidents")
        files.append((path, set(part["id"])))
    assert not files[0][1] & files[1][1]
    return files


@pytest.fixture
def database_env(monkeypatch: pytest.MonkeyPatch, demo_db: DemoDatabase) -> Iterator[str]:
    """GRIDMAP_DATABASE_URL names the demo database (settings re-read, and again after)."""
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", demo_db.url)
    get_settings.cache_clear()
    yield demo_db.url
    get_settings.cache_clear()


# -- 1. the backend is chosen by the address ----------------------------------------


@pytest.mark.slow
def test_demo_goes_into_postgis_when_out_is_a_url(demo_db: DemoDatabase) -> None:
    """`gridmap demo --out postgresql://…` loads the whole demo into PostGIS."""
    assert f"demo store: {demo_db.url}" in demo_db.stdout
    with open_store(demo_db.url) as st:
        assert isinstance(st, PostGISStore)
        counts = st.counts()
        meta = st.read("metadata").set_index("layer")
    for name in ORDER:
        assert f"{name} {counts[name]:,}" in demo_db.stdout
        assert counts[name] > 0, name
    assert counts["buildings"] > 20_000
    assert not meta.loc["districts", "synthetic"]
    assert meta.loc["buildings", "synthetic"]


@pytest.mark.slow
def test_store_argument_defaults_to_gridmap_database_url(
    capsys: pytest.CaptureFixture[str], database_env: str, tmp_path: Path
) -> None:
    """With GRIDMAP_DATABASE_URL set, info, export and stats work without a STORE."""
    rc, out, err = run(capsys, "--lang", "en", "info")
    assert rc == 0, err
    assert f"store: {database_env}" in out
    rc, out, err = run(capsys, "export", "--layer", "grids", "--out", tmp_path / "g.csv")
    assert rc == 0, err
    assert "已导出网格图层 581 条记录" in out
    rc, out, err = run(capsys, "stats", "--json")
    assert rc == 0, err
    assert json.loads(out)


def test_no_store_and_no_gridmap_database_url_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without STORE or GRIDMAP_DATABASE_URL the command says to give one."""
    monkeypatch.delenv("GRIDMAP_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file
    get_settings.cache_clear()
    try:
        rc, _, err = run(capsys, "info")
    finally:
        get_settings.cache_clear()
    assert rc == 2
    assert "GRIDMAP_DATABASE_URL" in err
    assert "Traceback" not in err


# -- 2. the schema ------------------------------------------------------------------

_CATALOG = """
SELECT 'relation', c.oid::bigint, c.relname, c.relkind::text
FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
UNION ALL
SELECT 'constraint', k.oid::bigint, k.conname, k.contype::text
FROM pg_constraint k WHERE k.connamespace = 'public'::regnamespace
ORDER BY 1, 3
"""


def test_db_upgrade_creates_the_schema_and_a_second_run_changes_nothing(
    capsys: pytest.CaptureFixture[str], postgis_url: str
) -> None:
    """`gridmap db upgrade` builds the schema; run again it is a no-op (no DDL, no write)."""
    rc, out, err = run(capsys, "--lang", "en", "db", "upgrade", postgis_url)
    assert rc == 0, err
    assert f"upgraded from none to {HEAD_REVISION}" in out
    with open_store(postgis_url) as st:
        assert st.counts() == dict.fromkeys(LAYERS, 0)
    catalog = query(postgis_url, _CATALOG)
    version = query(postgis_url, "SELECT version_num, xmin::text FROM alembic_version")
    assert {row[2] for row in catalog} >= set(LAYERS)
    assert version[0][0] == HEAD_REVISION

    rc, out, err = run(capsys, "db", "upgrade", postgis_url)
    assert rc == 0, err
    assert f"数据库结构已是版本 {HEAD_REVISION}，无需升级" in out
    assert query(postgis_url, _CATALOG) == catalog
    assert query(postgis_url, "SELECT version_num, xmin::text FROM alembic_version") == version


def test_geometry_columns_are_typed_with_srid_4326(migrated: str) -> None:
    """Each spatial layer has one typed 2-D geometry column ``geom`` in EPSG:4326."""
    rows = query(
        migrated,
        "SELECT f_table_name, f_geometry_column, type, srid, coord_dimension "
        "FROM geometry_columns WHERE f_table_schema = 'public'",
    )
    expected = {(name, "geom", LAYERS[name].geometry.upper(), 4326, 2) for name in SPATIAL}
    assert set(rows) == expected


def test_every_geometry_column_has_a_gist_index(migrated: str) -> None:
    """A GiST index named LAYER_geom_gist covers every geometry column."""
    rows = query(
        migrated,
        "SELECT tablename, indexname FROM pg_indexes "
        "WHERE schemaname = 'public' AND indexdef LIKE '%USING gist (geom)%'",
    )
    assert set(rows) == {(name, f"{name}_geom_gist") for name in SPATIAL}


def test_primary_keys_are_the_codes_and_ids(migrated: str) -> None:
    """The primary key of each layer is its code or id (incident_events: a generated id)."""
    rows = query(
        migrated,
        "SELECT k.conrelid::regclass::text, string_agg(a.attname, ',') "
        "FROM pg_constraint k JOIN pg_attribute a "
        "ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) "
        "WHERE k.contype = 'p' AND k.connamespace = 'public'::regnamespace "
        "GROUP BY 1",
    )
    keys = {table: cols for table, cols in rows if table in LAYERS}
    assert keys == {name: lay.key or "id" for name, lay in LAYERS.items()}


def test_foreign_keys_run_down_the_hierarchy_and_are_deferred(migrated: str) -> None:
    """Each level references its parent's code, checked at commit (deferred)."""
    rows = query(
        migrated,
        "SELECT k.conrelid::regclass::text, a.attname, k.confrelid::regclass::text, "
        "f.attname, k.condeferrable, k.condeferred "
        "FROM pg_constraint k "
        "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
        "JOIN pg_attribute f ON f.attrelid = k.confrelid AND f.attnum = k.confkey[1] "
        "WHERE k.contype = 'f' AND k.connamespace = 'public'::regnamespace",
    )
    expected = {
        ("subdistricts", "district_code", "districts", "code", True, True),
        ("communities", "subdistrict_code", "subdistricts", "code", True, True),
        ("grids", "community_code", "communities", "code", True, True),
        ("buildings", "grid_code", "grids", "code", True, True),
        ("incident_events", "incident_id", "incidents", "id", True, True),
    }
    assert expected <= set(rows)


def test_incidents_are_indexed_on_step_reported_at_and_grid_code(migrated: str) -> None:
    """The dashboard's filters on incidents have indexes of their own."""
    rows = query(
        migrated,
        "SELECT a.attname FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        "WHERE i.indrelid = 'incidents'::regclass AND i.indnatts = 1",
    )
    assert {"step", "reported_at", "grid_code"} <= {r[0] for r in rows}


def test_store_write_refuses_a_grid_whose_community_is_missing(migrated: str) -> None:
    """The foreign key refuses an orphan grid with an InputError naming the missing code."""
    with open_store(migrated) as st:
        with pytest.raises(InputError, match=MISSING_COMMUNITY) as info:
            st.write({"grids": grid_frame(MISSING_COMMUNITY + "01", MISSING_COMMUNITY)})
        assert "\n" not in str(info.value)
        assert st.count("grids") == 0


def test_cli_import_refuses_a_grid_whose_community_is_missing(
    capsys: pytest.CaptureFixture[str], small_store: str, tmp_path: Path
) -> None:
    """The file passes the CLI's checks; the database refuses it: exit 2, one line."""
    src = tmp_path / "orphan.csv"
    row = grid_row(MISSING_COMMUNITY + "01", MISSING_COMMUNITY, (113.001, 25.781, 113.002, 25.782))
    pd.DataFrame([row]).to_csv(src, index=False)
    before = snapshot(small_store)
    rc, _, err = run(capsys, "import", small_store, src, "--layer", "grids", "--crs", "EPSG:4326")
    one_line_error(rc, err, MISSING_COMMUNITY, "parent")
    assert snapshot(small_store) == before


@pytest.mark.parametrize(
    ("name", "frame", "rule"),
    [
        (
            "districts",
            lambda: fx.valid_layers()["districts"].assign(code="43100A"),
            "districts_code_width",
        ),
        (
            "subdistricts",
            lambda: fx.valid_layers()["subdistricts"].assign(code="43100201"),
            "subdistricts_code_width",
        ),
        (
            "subdistricts",
            lambda: fx.valid_layers()["subdistricts"].assign(code="431003001"),
            "subdistricts_code_prefix",
        ),
        (
            "grids",
            lambda: grid_frame(fx.WEST + "1", fx.WEST),
            "grids_code_width",
        ),
        (
            "grids",
            lambda: grid_frame(fx.EAST + "01", fx.WEST),
            "grids_code_prefix",
        ),
        (
            "buildings",
            lambda: fx.valid_layers()["buildings"].iloc[:1].assign(code=fx.G_NORTH + "0001"),
            "buildings_code_width",
        ),
        (
            "buildings",
            lambda: fx.valid_layers()["buildings"].iloc[:1].assign(grid_code=fx.G_SOUTH),
            "buildings_code_prefix",
        ),
    ],
    ids=[
        "district-width",
        "subdistrict-width",
        "subdistrict-prefix",
        "grid-width",
        "grid-prefix",
        "building-width",
        "building-prefix",
    ],
)
def test_check_constraints_refuse_bad_codes_written_directly(
    migrated: str, name: str, frame: Callable[[], gpd.GeoDataFrame], rule: str
) -> None:
    """CHECK constraints refuse bad code widths and prefixes that bypass the CLI's checks."""
    with open_store(migrated) as st:
        with pytest.raises(InputError, match=rule):
            st.write({name: frame()})
        assert st.count(name) == 0


# -- 3. work in the database --------------------------------------------------------


@pytest.mark.slow
def test_bbox_read_uses_the_spatial_index(
    demo_db: DemoDatabase, demo_db_layers: dict[str, pd.DataFrame]
) -> None:
    """The SQL a bbox read issues finds the buildings through buildings_geom_gist."""
    buildings = demo_db_layers["buildings"]
    x, y = buildings.geometry.iloc[len(buildings) // 2].centroid.coords[0]
    bbox = (x - 0.001, y - 0.001, x + 0.001, y + 0.001)
    issued: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        issued.append((statement, parameters))

    with open_store(demo_db.url) as st:
        sa.event.listen(st.engine, "before_cursor_execute", record)
        try:
            near = st.read("buildings", bbox=bbox)
        finally:
            sa.event.remove(st.engine, "before_cursor_execute", record)
        reads = [(s, p) for s, p in issued if "FROM buildings" in s]
        assert len(reads) == 1, issued
        statement, parameters = reads[0]
        with st.engine.connect() as conn:
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "buildings_geom_gist" in plan, plan
    assert "Seq Scan" not in plan, plan
    # And it finds exactly the buildings whose bounding box meets the bbox.
    expected = buildings.loc[buildings.geometry.envelope.intersects(box(*bbox)), "code"]
    assert 0 < len(near) < len(buildings) / 100
    assert sorted(near["code"]) == sorted(expected)


# -- 4. transactions ----------------------------------------------------------------


def test_failed_import_leaves_the_database_as_it_was(
    capsys: pytest.CaptureFixture[str], small_store: str, tmp_path: Path
) -> None:
    """Good rows first, an orphan last: the commit fails and nothing of the file stays."""
    src = tmp_path / "grids.csv"
    rows = [
        grid_row(fx.WEST + "03", fx.WEST, (113.001, 25.781, 113.002, 25.782)),
        grid_row(fx.EAST + "03", fx.EAST, (113.011, 25.781, 113.012, 25.782)),
        grid_row(MISSING_COMMUNITY + "01", MISSING_COMMUNITY, (113.003, 25.783, 113.004, 25.784)),
    ]
    pd.DataFrame(rows).to_csv(src, index=False)
    before = snapshot(small_store)
    rc, _, err = run(capsys, "import", small_store, src, "--layer", "grids", "--crs", "EPSG:4326")
    one_line_error(rc, err, MISSING_COMMUNITY)
    assert snapshot(small_store) == before
    # The same file without the orphan goes in: the failure was the orphan's alone.
    pd.DataFrame(rows[:2]).to_csv(src, index=False)
    rc, _, err = run(capsys, "import", small_store, src, "--layer", "grids", "--crs", "EPSG:4326")
    assert rc == 0, err
    assert snapshot(small_store)["counts"]["grids"] == before["counts"]["grids"] + 2


def _with_orphan_grid() -> gpd.GeoDataFrame:
    """The hand-made grids and, last, one whose community is missing."""
    orphan = grid_frame(MISSING_COMMUNITY + "01", MISSING_COMMUNITY)
    return pd.concat([fx.valid_layers()["grids"], orphan], ignore_index=True)


@pytest.mark.parametrize(
    ("last", "rule"),
    [
        (
            lambda: ("party_orgs", fx.valid_layers()["party_orgs"].assign(kind="club")),
            "party_orgs_kind_choice",
        ),
        (lambda: ("grids", _with_orphan_grid()), MISSING_COMMUNITY),
    ],
    ids=["check-while-copying", "foreign-key-at-commit"],
)
def test_multi_layer_write_whose_last_layer_fails_rolls_back_the_first(
    postgis_url: str, last: Callable[[], tuple[str, gpd.GeoDataFrame]], rule: str
) -> None:
    """A write of several layers whose last one is refused leaves every layer as it was."""
    layers = fx.valid_layers()
    bad_name, bad_frame = last()
    with open_store(postgis_url, create=True) as st:
        st.write({name: layers[name] for name in ("districts", "subdistricts")})
        before = snapshot(postgis_url)
        # The foreign keys are deferred: children may come before their parents.
        first = ("communities", "buildings", "incidents", "facilities", "grids")
        frames = {name: layers[name] for name in first if name != bad_name}
        frames[bad_name] = bad_frame  # written last
        with pytest.raises(InputError, match=rule):
            st.write(
                frames,
                metadata=[{"layer": "grids", "source": "x", "licence": "x", "synthetic": False}],
            )
    assert snapshot(postgis_url) == before


# -- 5. concurrency -----------------------------------------------------------------


def run_at_once(url: str, commands: list[list[str]], cwd: Path) -> list[tuple[int, str, str]]:
    """Run commands at the same time, made to meet inside the database.

    While they start, this process holds the ``incidents`` row of the metadata table locked:
    each import reads and checks its file, begins its transaction and then waits, at the
    latest when it upserts that row. Once every one waits (or has ended) the lock is let go,
    so their transactions overlap for certain — not by luck of timing, as they would by
    chance on a busy server. Returns (exit status, stdout, stderr) of each.
    """
    with psycopg.connect(url) as holder:
        locked = holder.execute(
            "SELECT layer FROM metadata WHERE layer = 'incidents' FOR UPDATE"
        ).fetchall()
        assert locked, "the store needs a metadata row for incidents"
        procs = [
            subprocess.Popen(
                cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for cmd in commands
        ]
        deadline = time.monotonic() + 120
        with psycopg.connect(url, autocommit=True) as monitor:
            while time.monotonic() < deadline:
                waiting = monitor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchone()[0]
                if waiting >= len(procs) or any(p.poll() is not None for p in procs):
                    break
                time.sleep(0.05)
        holder.rollback()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        results.append((p.returncode, out, err))
    return results


@pytest.mark.slow
def test_two_imports_of_different_files_at_once_lose_and_duplicate_nothing(
    hierarchy_db: str, incident_files: list[tuple[Path, set[str]]], tmp_path: Path
) -> None:
    """Two `gridmap import` processes with disjoint files: both succeed, 6,000 distinct ids."""
    commands = [
        [GRIDMAP, "import", hierarchy_db, str(path), "--layer", "incidents"]
        for path, _ in incident_files
    ]
    results = run_at_once(hierarchy_db, commands, tmp_path)
    for rc, _, err in results:
        assert rc == 0, err
    rows = query(hierarchy_db, "SELECT count(*), count(DISTINCT id) FROM incidents")
    assert rows == [(6000, 6000)]
    with open_store(hierarchy_db) as st:
        assert st.keys("incidents") == incident_files[0][1] | incident_files[1][1]


@pytest.mark.slow
def test_same_file_imported_twice_at_once_goes_in_once(
    hierarchy_db: str, incident_files: list[tuple[Path, set[str]]], tmp_path: Path
) -> None:
    """Two processes import one file at once: one succeeds, the other exits 2, 3,000 rows."""
    path, ids = incident_files[0]
    command = [GRIDMAP, "import", hierarchy_db, str(path), "--layer", "incidents"]
    results = sorted(run_at_once(hierarchy_db, [command, command], tmp_path))
    assert [rc for rc, _, _ in results] == [0, 2], results
    line = one_line_error(results[1][0], results[1][2], "already exists")
    assert any(i in line for i in ids), line
    assert query(hierarchy_db, "SELECT count(*), count(DISTINCT id) FROM incidents") == [
        (3000, 3000)
    ]
    with open_store(hierarchy_db) as st:
        assert st.keys("incidents") == ids


# -- 6. round trip ------------------------------------------------------------------


@pytest.mark.slow
def test_every_layer_survives_export_to_one_geopackage_and_import_back(
    capsys: pytest.CaptureFixture[str],
    demo_db: DemoDatabase,
    demo_db_layers: dict[str, pd.DataFrame],
    postgis_url: str,
    tmp_path: Path,
) -> None:
    """Export every layer to one .gpkg, import each into a fresh database: all identical."""
    gpkg = tmp_path / "all.gpkg"
    for name in ORDER:
        rc, _, err = run(capsys, "export", demo_db.url, "--layer", name, "--out", gpkg)
        assert rc == 0, err
    assert {row[0] for row in pyogrio.list_layers(gpkg)} == set(ORDER)
    for name in ORDER:
        rc, _, err = run(capsys, "import", postgis_url, gpkg, "--layer", name)
        assert rc == 0, f"{name}: {err}"
    with open_store(postgis_url) as st:
        back = st.read_all(ORDER)
    for name in ORDER:
        assert_same_layer(demo_db_layers[name], back[name], name)


@pytest.mark.slow
def test_postgis_demo_and_geopackage_demo_are_the_same(
    capsys: pytest.CaptureFixture[str],
    demo_db: DemoDatabase,
    demo_path: Path,
    demo_db_layers: dict[str, pd.DataFrame],
    demo_gpkg_layers: dict[str, pd.DataFrame],
) -> None:
    """Same validate report, same counts, same layers from either backend."""
    reports = []
    for store in (demo_db.url, demo_path):
        rc, out, err = run(capsys, "validate", store, "--json")
        assert rc == 0, err
        reports.append(json.loads(out))
    assert reports[0] == reports[1]
    with open_store(demo_db.url) as pg, open_store(demo_path) as gp:
        assert pg.counts() == gp.counts()
    for name in ORDER:
        assert_same_layer(demo_db_layers[name], demo_gpkg_layers[name], name)
    pd.testing.assert_frame_equal(
        sort_layer(demo_db_layers["metadata"], "metadata").drop(columns="updated_at"),
        sort_layer(demo_gpkg_layers["metadata"], "metadata").drop(columns="updated_at"),
    )


# -- 7. bad addresses and databases -------------------------------------------------


@pytest.mark.parametrize(
    ("address", "needles"),
    [
        (
            lambda pg: f"postgresql://gridmap:s3cret@127.0.0.1:{free_port()}/gridmap",
            ["cannot connect", "Connection refused", "check that the server runs"],
        ),
        (
            lambda pg: f"postgresql://nobody:s3cret@127.0.0.1:{pg.port}/postgres",
            ["cannot connect", 'role "nobody" does not exist', "user"],
        ),
        (
            lambda pg: "postgresql://:::",
            ["not a database URL", "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"],
        ),
    ],
    ids=["unreachable", "wrong-user", "malformed"],
)
def test_bad_address_is_one_line_saying_what_to_do(
    capsys: pytest.CaptureFixture[str],
    postgis,
    address: Callable[[object], str],
    needles: list[str],
) -> None:
    """An address that leads nowhere is one line (exit 2) naming it, password masked."""
    url = address(postgis)
    rc, _, err = run(capsys, "info", url)
    line = one_line_error(rc, err, *needles)
    assert "s3cret" not in line
    if "s3cret" in url:
        assert ":***@" in line


def test_database_without_postgis_says_to_run_db_upgrade(
    capsys: pytest.CaptureFixture[str], postgis
) -> None:
    """No schema, no PostGIS: `gridmap info` says so and what to run; running it works."""
    url = postgis.create_plain_database()
    try:
        rc, _, err = run(capsys, "info", url)
        one_line_error(rc, err, "no gridmap schema", "no PostGIS", f"gridmap db upgrade {url}")
        rc, out, err = run(capsys, "db", "upgrade", url)
        assert rc == 0, err
        rc, out, err = run(capsys, "info", url)
        assert rc == 0, err
        assert f"数据库：{url}" in out
    finally:
        postgis.drop_database(url)


def _old_schema(postgis, url: str) -> str:
    """Give a migrated database a schema version gridmap does not know; return its URL with a
    password."""
    upgrade(url)
    postgis.sql("UPDATE alembic_version SET version_num = '0000'", dbname=dbname(url))
    return url.replace("://gridmap@", "://gridmap:s3cret@")


def test_older_schema_version_says_to_run_db_upgrade(
    capsys: pytest.CaptureFixture[str], postgis_url: str
) -> None:
    """A database at schema 0001 (before accounts): `gridmap info` names the version found
    and needed and the command, password masked; `gridmap db upgrade` brings it to the
    newest version keeping its rows.
    """
    from alembic import command
    from alembic.config import Config

    engine = sa.create_engine(postgis_store._engine_url(postgis_url))
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", "gridmap:migrations")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql("INSERT INTO districts (code, name) VALUES ('431002', '北湖区')")
    engine.dispose()
    url = postgis_url.replace("://gridmap@", "://gridmap:s3cret@")
    rc, _, err = run(capsys, "info", url)
    line = one_line_error(rc, err, "version 0001", f"needs version {HEAD_REVISION}", "db upgrade")
    assert "s3cret" not in line
    assert line.count(":***@") == 2  # in the address and in the command to run
    assert upgrade(postgis_url) == ("0001", HEAD_REVISION)
    with PostGISStore(postgis_url) as st:
        assert st.count("districts") == 1
        assert "reporter_phone" in st.read("incidents").columns
        assert st.users() == []


def test_unknown_schema_version_says_it_is_newer(
    capsys: pytest.CaptureFixture[str], postgis, postgis_url: str
) -> None:
    """A schema version this gridmap's migrations do not know: made by a newer gridmap."""
    url = _old_schema(postgis, postgis_url)
    rc, _, err = run(capsys, "info", url)
    line = one_line_error(rc, err, "version 0000", "newer gridmap")
    assert "s3cret" not in line


def test_db_upgrade_of_an_unknown_schema_version_is_one_line(
    capsys: pytest.CaptureFixture[str], postgis, postgis_url: str
) -> None:
    """Following the advice on a schema version gridmap does not know gives one clear line."""
    url = _old_schema(postgis, postgis_url)
    rc, _, err = run(capsys, "db", "upgrade", url)
    line = one_line_error(rc, err, "0000")
    assert "s3cret" not in line
