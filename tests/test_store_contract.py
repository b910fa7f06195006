"""The store contract: what every backend must do (GeoPackage and PostGIS).

Each test takes the ``store`` fixture, parametrised over the backends, so a new
backend passes exactly the same tests.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from gridmap.errors import (
    ConflictError,
    InputError,
    StoreBusyError,
    StoreError,
    UnknownLayerError,
)
from gridmap.schema import LAYERS
from gridmap.store import empty_frame, open_store
from gridmap.store.gpkg import GeoPackageStore

T0 = pd.Timestamp("2025-03-01T08:00:00Z")


def _district() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["431002"], "name": ["北湖区"]},
        geometry=[shapely.box(113.0, 25.7, 113.1, 25.8)],
        crs="EPSG:4326",
    )


def _incidents(n: int = 3, start: int = 0) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": [f"I{i:05d}" for i in range(start, start + n)],
            "category": ["dispute"] * n,
            "subcategory": ["邻里纠纷"] * n,
            "source": ["patrol"] * n,
            "description": ["楼道堆物"] * n,
            "step": ["closed"] * n,
            "grid_code": ["43100200100101"] * n,
            "building_code": [pd.NA] * n,
            "department": ["街道综合执法队"] * n,
            "closed_level": ["grid"] * n,
            "whistled": [False] * n,
            "deadline": [T0 + pd.Timedelta(hours=72)] * n,
            "reported_at": [T0] * n,
            "closed_at": [T0 + pd.Timedelta(hours=5)] * n,
            "satisfaction": ["satisfied"] * n,
            "rework_count": [0] * n,
            "transfer_count": [1] * n,
            "version": [7] * n,
        },
        geometry=gpd.points_from_xy([113.05] * n, [25.75 + i * 1e-4 for i in range(n)]),
        crs="EPSG:4326",
    )


@pytest.fixture(params=["gpkg", "postgis"])
def store(request, tmp_path):
    """An empty store of each backend."""
    if request.param == "gpkg":
        st = open_store(tmp_path / "store.gpkg", create=True)
    else:
        st = open_store(request.getfixturevalue("postgis_url"), create=True)
    yield st
    st.close()


def test_new_store_has_every_layer_empty(store):
    assert store.counts() == dict.fromkeys(LAYERS, 0)
    for name in LAYERS:
        frame = store.read(name)
        assert list(frame.columns[: len(LAYERS[name].columns)]) == LAYERS[name].column_names
        assert frame.empty


def test_round_trip_keeps_values_and_dtypes(store):
    inc = _incidents()
    store.write({"districts": _district(), "incidents": inc})
    back = store.read("incidents")
    expected = empty_frame("incidents").dtypes
    assert back.dtypes.drop("geometry").to_dict() == expected.drop("geometry").to_dict()
    assert back["id"].tolist() == inc["id"].tolist()
    assert back["reported_at"].iloc[0] == T0
    assert back["deadline"].iloc[0] == T0 + pd.Timedelta(hours=72)
    assert back["closed_at"].dt.tz is not None  # times come back in UTC
    assert back["building_code"].isna().all()
    assert back["transfer_count"].tolist() == [1, 1, 1]
    assert back["whistled"].tolist() == [False] * 3
    assert back["subcategory"].iloc[0] == "邻里纠纷"
    assert back.geometry.geom_equals_exact(inc.geometry, tolerance=1e-12).all()
    # Codes stay text with their leading digits intact.
    assert back["grid_code"].iloc[0] == "43100200100101"


def test_polygons_are_stored_as_multipolygons(store):
    store.write({"districts": _district()})
    geom = store.read("districts").geometry.iloc[0]
    assert geom.geom_type == "MultiPolygon"
    assert geom.equals(shapely.box(113.0, 25.7, 113.1, 25.8))


def test_append_duplicate_key_is_refused_and_nothing_changes(store):
    store.write({"districts": _district(), "incidents": _incidents(3)})
    with pytest.raises(InputError, match="I00002"):
        store.write({"incidents": _incidents(3, start=2)})
    assert store.count("incidents") == 3


def test_failed_multi_layer_write_leaves_store_as_it_was(store):
    store.write({"districts": _district()})
    before = store.read("districts")
    bad = _incidents(2)
    bad.loc[1, "id"] = bad.loc[0, "id"]  # breaks the unique key mid-write
    with pytest.raises(InputError):
        store.write({"districts": _district(), "incidents": bad}, mode="replace")
    # The districts layer was replaced first inside the same transaction: rolled back.
    assert store.count("incidents") == 0
    pd.testing.assert_frame_equal(store.read("districts"), before)


def test_replace_empties_the_layer_first(store):
    store.write({"incidents": _incidents(5)})
    store.write({"incidents": _incidents(2, start=100)}, mode="replace")
    assert store.read("incidents")["id"].tolist() == ["I00100", "I00101"]


def test_bbox_and_where_filters(store):
    store.write({"incidents": _incidents(10)})
    near = store.read("incidents", bbox=(113.04, 25.7499, 113.06, 25.75035))
    assert sorted(near["id"]) == ["I00000", "I00001", "I00002", "I00003"]
    some = store.read("incidents", where={"id": ["I00001", "I00007"]})
    assert sorted(some["id"]) == ["I00001", "I00007"]
    quoted = store.read("incidents", where={"description": "it's"})
    assert quoted.empty


def test_metadata_is_upserted_in_the_same_transaction(store):
    meta = {"layer": "districts", "source": "AMap", "licence": "MIT", "synthetic": False}
    store.write({"districts": _district()}, metadata=[meta])
    store.write({}, metadata=[{**meta, "source": "AMap v2"}])
    rows = store.read("metadata")
    assert rows["layer"].tolist() == ["districts"]
    assert rows["source"].iloc[0] == "AMap v2"
    assert not rows["synthetic"].iloc[0]


def test_keys(store):
    store.write({"incidents": _incidents(3)})
    assert store.keys("incidents") == {"I00000", "I00001", "I00002"}


def test_unknown_layer(store):
    with pytest.raises(UnknownLayerError, match="use one of"):
        store.read("parcels")


def test_wrong_crs_is_refused(store):
    g = _district().to_crs(3857)
    with pytest.raises(InputError, match="EPSG:4326"):
        store.write({"districts": g})


# -- GeoPackage specifics -------------------------------------------------------


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="gridmap demo --out"):
        open_store(tmp_path / "nothing.gpkg")


def test_not_a_geopackage(tmp_path):
    p = tmp_path / "notes.gpkg"
    p.write_text("hello")
    with pytest.raises(StoreError, match="not a GeoPackage"):
        open_store(p)


def test_foreign_geopackage_is_refused(tmp_path):
    p = tmp_path / "other.gpkg"
    _district().to_file(p, layer="boundary")
    with pytest.raises(StoreError, match="not a gridmap store"):
        open_store(p)


def test_unsupported_address(tmp_path):
    with pytest.raises(StoreError, match="not a store address"):
        open_store("http://example.org/x.gpkg")


def test_store_file_opens_in_gdal_ogrinfo(tmp_path, require_tool):
    ogrinfo = require_tool("ogrinfo")
    path = tmp_path / "s.gpkg"
    st = open_store(path, create=True)
    st.write({"districts": _district(), "incidents": _incidents(4)})
    out = subprocess.run(
        [ogrinfo, "-ro", "-so", str(path), "incidents"], capture_output=True, text=True, check=True
    ).stdout
    assert "Feature Count: 4" in out
    assert "grid_code: String" in out
    check = sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0]
    assert check == "ok"


def _hold_lock(path: str, seconds: float, ready) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    ready.set()
    time.sleep(seconds)
    con.execute("ROLLBACK")
    con.close()


def _append(path: str, start: int, n: int) -> None:
    st = GeoPackageStore(path, lock_timeout=30)
    for i in range(n):
        st.write({"incidents": _incidents(1, start=start + i)})


@pytest.mark.slow
def test_second_writer_gets_a_clear_error_after_the_timeout(tmp_path):
    path = tmp_path / "s.gpkg"
    open_store(path, create=True)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(path), 3.0, ready))
    holder.start()
    try:
        assert ready.wait(30)
        impatient = GeoPackageStore(path, lock_timeout=0.2)
        with pytest.raises(StoreBusyError, match="another process"):
            impatient.write({"incidents": _incidents(1)})
        # A patient writer waits for the lock and then succeeds.
        patient = GeoPackageStore(path, lock_timeout=20)
        patient.write({"incidents": _incidents(1)})
    finally:
        holder.join(30)
    assert open_store(path).count("incidents") == 1


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "s.gpkg"
    open_store(path, create=True)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append, args=(str(path), k * 1000, 15)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    st = open_store(path)
    assert st.count("incidents") == 30
    assert len(st.keys("incidents")) == 30
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_creation_does_not_leave_temporary_files(tmp_path):
    open_store(tmp_path / "s.gpkg", create=True)
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["s.gpkg"]


@pytest.mark.slow
def test_bulk_writes_keep_geopackage_bookkeeping(tmp_path):
    """The bulk path drops and restores indexes and count triggers: nothing may be lost."""
    path = tmp_path / "s.gpkg"
    st = open_store(path, create=True)
    con = sqlite3.connect(path)

    def schema_objects() -> list:
        return con.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'incidents' ORDER BY name"
        ).fetchall()

    before = schema_objects()
    st.write({"incidents": _incidents(25_000)})  # bulk append
    st.write({"incidents": _incidents(3, start=50_000)})  # row-by-row append
    assert schema_objects() == before
    count = con.execute(
        "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'incidents'"
    ).fetchone()[0]
    assert count == st.count("incidents") == 25_003
    # The spatial index holds every row.
    assert con.execute('SELECT count(*) FROM "rtree_incidents_geom"').fetchone()[0] == 25_003
    with pytest.raises(InputError, match="I00002"):
        st.write({"incidents": _incidents(25_000)})  # duplicates caught on the bulk path too
    assert schema_objects() == before


# -- moving an incident (optimistic version check) -------------------------------


def _moved(store, incident_id: str, step: str) -> tuple[dict, list[dict]]:
    row = store.read("incidents", where={"id": incident_id}).drop(columns="geometry").iloc[0]
    row = row.to_dict()
    row["step"] = step
    row["updated_at"] = T0 + pd.Timedelta(hours=9)
    event = {
        "incident_id": incident_id,
        "at": T0 + pd.Timedelta(hours=9),
        "actor": "网格员",
        "from_step": "closed",
        "to_step": step,
        "note": None,
    }
    return row, [event]


def test_move_updates_the_row_appends_events_and_bumps_the_version(store):
    store.write({"incidents": _incidents(2)})
    row, events = _moved(store, "I00001", "evaluated")
    store.move_incident(row, events, expected_version=7)
    back = store.read("incidents", where={"id": "I00001"}).iloc[0]
    assert back["step"] == "evaluated" and back["version"] == 8
    assert back["updated_at"] == T0 + pd.Timedelta(hours=9)
    assert back.geometry.equals(_incidents(2).geometry.iloc[1])  # the location is kept
    other = store.read("incidents", where={"id": "I00000"}).iloc[0]
    assert other["step"] == "closed" and other["version"] == 7
    log = store.read("incident_events")
    assert log["incident_id"].tolist() == ["I00001"] and log["to_step"].tolist() == ["evaluated"]


def test_a_stale_move_is_refused_and_changes_nothing(store):
    store.write({"incidents": _incidents(1)})
    row, events = _moved(store, "I00000", "evaluated")
    store.move_incident(row, events, expected_version=7)
    with pytest.raises(ConflictError, match="version 7, now 8") as caught:
        store.move_incident(row, events, expected_version=7)
    assert caught.value.current_version == 8
    assert store.count("incident_events") == 1
    with pytest.raises(ConflictError, match="does not exist"):
        store.move_incident({**row, "id": "NOPE"}, events, expected_version=1)


def test_version_changes_with_every_write_and_only_then(store):
    """The token a dashboard compares to know its copy is stale."""
    first = store.version()
    store.read("incidents")
    assert store.version() == first
    store.write({"incidents": _incidents(2)})
    written = store.version()
    assert written != first
    store.read("incidents")
    store.count("incidents")
    assert store.version() == written
    # A move changes a few bytes in place; the token changes all the same, each time.
    row, events = _moved(store, "I00001", "evaluated")
    store.move_incident(row, events, expected_version=7)
    moved = store.version()
    assert moved != written
    row, events = _moved(store, "I00000", "evaluated")
    store.move_incident(row, events, expected_version=7)
    assert store.version() not in (moved, written, first)
    # Another process's write (a second store object: another connection) shows too.
    other = open_store(store.address)
    try:
        before = store.version()
        other.write({"incidents": _incidents(1, start=5)})
    finally:
        other.close()
    assert store.version() != before


def _race(address: str, both_read, results) -> None:
    st = open_store(address)
    row = st.read("incidents", where={"id": "I00000"}).drop(columns="geometry").iloc[0].to_dict()
    row["step"] = "evaluated"
    event = {"incident_id": "I00000", "at": T0, "actor": str(os.getpid()), "to_step": "evaluated"}
    # Neither moves before both have read the same version, however slow a start-up is.
    both_read.wait(60)
    try:
        st.move_incident(row, [event], expected_version=int(row["version"]))
        results.put("won")
    except ConflictError:
        results.put("told")


@pytest.mark.slow
@pytest.mark.parametrize("rounds", [3])
def test_two_people_moving_one_incident_one_wins(store, rounds):
    ctx = mp.get_context("spawn")
    store.write({"incidents": _incidents(1)})
    for _ in range(rounds):
        both_read, results = ctx.Barrier(2), ctx.Queue()
        procs = [
            ctx.Process(target=_race, args=(store.address, both_read, results)) for _ in range(2)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        outcome = sorted(results.get(timeout=10) for _ in procs)
        assert outcome == ["told", "won"]
        store.write({"incidents": _incidents(1)}, mode="replace")
    # Nothing lost: one event per round, the winner's.
    assert store.count("incident_events") == rounds
