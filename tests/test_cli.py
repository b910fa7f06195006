"""The ``gridmap`` command as a user runs it: demo, validate, import, export, stats, info.

Bad input must give one clear line (what, where, what to do), exit status 2,
and leave the store exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridmap.cli import main
from gridmap.store import open_store

pytestmark = pytest.mark.slow


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``gridmap ARGS`` in-process; return (exit status, stdout, stderr)."""
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def store(demo_path, tmp_path) -> Path:
    """A private copy of the demo store, free to change."""
    dst = tmp_path / "beihu.gpkg"
    shutil.copy(demo_path, dst)
    return dst


# -- help and the entry point ------------------------------------------------------


def test_help_of_every_command(capsys):
    for cmd in (
        [],
        ["demo"],
        ["validate"],
        ["import"],
        ["export"],
        ["stats"],
        ["info"],
        ["import-osm"],
        ["db", "upgrade"],
        ["serve"],
        ["simulate"],
        ["coverage"],
        ["incidents", "import"],
        ["incidents", "move"],
    ):
        rc, out, _ = run(capsys, *cmd, "--help")
        assert rc == 0
        assert "Usage: gridmap" in out


def test_installed_entry_point_runs():
    exe = Path(sys.executable).with_name("gridmap")
    result = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "demo" in result.stdout


# -- demo ----------------------------------------------------------------------------


def test_demo_says_where_it_is_and_labels_synthetic(demo_run, demo_path):
    rc, out = demo_run
    assert rc == 0
    assert str(demo_path.resolve()) in out
    # Chinese by default, layers by their labels.
    assert f"演示数据库：{demo_path.resolve()}" in out
    assert "合成数据" in out and "楼栋 " in out and "北湖区（431002）" in out
    st = open_store(demo_path)
    meta = st.read("metadata").set_index("layer")
    assert not meta.loc["districts", "synthetic"]
    for name in ("subdistricts", "communities", "grids", "buildings", "roads", "incidents"):
        assert meta.loc[name, "synthetic"], name


def test_demo_counts_are_realistic(demo_path):
    st = open_store(demo_path)
    counts = st.counts()
    assert counts["districts"] == 1
    assert counts["subdistricts"] == 14
    assert counts["communities"] == 165
    assert counts["incidents"] >= 50_000
    assert counts["incident_events"] > counts["incidents"]
    buildings = st.read("buildings", columns=["population"])
    assert 380_000 <= buildings["population"].sum() <= 460_000
    facilities = st.read("facilities", columns=["type"])
    from gridmap.schema import FACILITY_TYPES

    assert set(facilities["type"]) == set(FACILITY_TYPES)


def test_info_lists_layers_with_provenance(capsys, demo_path):
    rc, out, _ = run(capsys, "info", demo_path)
    assert rc == 0
    assert f"数据库：{demo_path}" in out
    assert "[合成]" in out and "[真实]" in out and "  网格 " in out
    rc, out, _ = run(capsys, "--lang", "en", "info", demo_path)
    assert rc == 0
    assert f"store: {demo_path}" in out
    assert "SYNTHETIC" in out
    assert "real" in out
    assert "  grids " in out


def test_gridmap_lang_sets_the_language(capsys, demo_path, monkeypatch):
    from gridmap.settings import get_settings

    monkeypatch.setenv("GRIDMAP_LANG", "en")
    get_settings.cache_clear()
    try:
        rc, out, _ = run(capsys, "info", demo_path)
        rc_zh, out_zh, _ = run(capsys, "--lang", "zh", "info", demo_path)  # the flag wins
    finally:
        get_settings.cache_clear()
    assert rc == rc_zh == 0
    assert "SYNTHETIC" in out and "[合成]" in out_zh


def test_demo_if_empty_leaves_a_store_alone_in_both_languages(capsys, store):
    before = digest(store)
    rc, out, _ = run(capsys, "demo", "--out", store, "--if-empty", "--no-serve", "-q")
    assert rc == 0 and "已有区级数据，保持不变" in out
    rc, out, _ = run(capsys, "--lang", "en", "demo", "--out", store, "--if-empty", "--no-serve")
    assert rc == 0 and "already holds a district; left as it is (--if-empty)" in out
    assert digest(store) == before


def test_serve_says_where_the_dashboard_is(capsys, demo_path, monkeypatch):
    import gridmap.app

    started = []
    monkeypatch.setattr(gridmap.app, "run", lambda store, **kw: started.append((store, kw)))
    rc, out, _ = run(capsys, "serve", demo_path, "--port", "8123")
    assert rc == 0 and f"{demo_path} 的数据看板：http://127.0.0.1:8123/" in out
    rc, out, _ = run(capsys, "--lang", "en", "serve", demo_path, "--port", "8123")
    assert rc == 0 and f"dashboard of {demo_path}: http://127.0.0.1:8123/" in out
    assert [kw["lang"] for _, kw in started] == ["zh", "en"]


def test_db_upgrade_of_a_geopackage(capsys, tmp_path):
    rc, out, _ = run(capsys, "db", "upgrade", tmp_path / "a.gpkg")
    assert rc == 0 and "GeoPackage 数据库无需迁移" in out
    rc, out, _ = run(capsys, "--lang", "en", "db", "upgrade", tmp_path / "a.gpkg")
    assert rc == 0 and "a GeoPackage store has no migrations; it is ready" in out


def test_demo_unknown_district(capsys, tmp_path):
    rc, _, err = run(
        capsys, "demo", "--district", "海淀区", "--out", tmp_path / "x.gpkg", "--no-serve"
    )
    assert rc == 2
    assert "北湖区" in err and "431002" in err
    assert not (tmp_path / "x.gpkg").exists()


def test_demo_out_must_be_gpkg_in_an_existing_folder(capsys, tmp_path):
    rc, _, err = run(capsys, "demo", "--out", tmp_path / "x.shp", "--no-serve", "-q")
    assert rc == 2 and ".gpkg" in err
    rc, _, err = run(capsys, "demo", "--out", tmp_path / "no" / "x.gpkg", "--no-serve", "-q")
    assert rc == 2 and "does not exist" in err


# -- validate ------------------------------------------------------------------------


def test_demo_validates_without_errors(capsys, demo_path):
    rc, out, _ = run(capsys, "--lang", "en", "validate", demo_path, "--json")
    report = json.loads(out)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert errors == []
    assert rc == 0


def test_validate_reports_an_overlap_and_exits_1(capsys, store):
    st = open_store(store)
    grids = st.read("grids")
    metric = grids.to_crs(grids.estimate_utm_crs())
    # Two sibling grids (same community) sharing a boundary: grow the first 30 m
    # into the second. Chosen by topology, not by size, so that the overlap is
    # between siblings whatever the demo's layout (a grid pushed sideways may
    # cross into another community instead, which is an outside_parent finding).
    tree = shapely.STRtree(metric.geometry.values)
    a, b = tree.query(metric.geometry.values, predicate="touches")
    same = (a < b) & (
        metric["community_code"].to_numpy()[a] == metric["community_code"].to_numpy()[b]
    )
    shared = shapely.length(
        shapely.intersection(metric.geometry.values[a[same]], metric.geometry.values[b[same]])
    )
    k = int(np.argmax(shared))
    i, j = int(a[same][k]), int(b[same][k])
    grown = shapely.union(
        metric.geometry[i], shapely.intersection(metric.geometry[j], metric.geometry[i].buffer(30))
    )
    metric.loc[i, "geometry"] = grown
    grids.loc[i, "geometry"] = metric.to_crs(4326).geometry[i]
    st.write({"grids": grids}, mode="replace")
    rc, out, _ = run(capsys, "--lang", "en", "validate", store)
    assert rc == 1
    assert "(grid_overlap)" in out
    assert f"grid {grids.loc[i, 'code']} and grid {grids.loc[j, 'code']}" in out or (
        f"grid {grids.loc[j, 'code']} and grid {grids.loc[i, 'code']}" in out
    )
    rc_zh, out_zh, _ = run(capsys, "validate", store)
    assert rc_zh == 1
    assert "重叠" in out_zh


def test_validate_missing_store(capsys, tmp_path):
    rc, _, err = run(capsys, "validate", tmp_path / "none.gpkg")
    assert rc == 2
    assert "no store at" in err


# -- import ----------------------------------------------------------------------------


def _grids_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def one_grid(demo_path) -> dict:
    """A valid new grids row (WKT) inside the district, for a fresh store."""
    st = open_store(demo_path)
    g = st.read("grids").iloc[0]
    return {
        "code": g["code"],
        "name": g["name"],
        "community_code": g["community_code"],
        "households": 300,
        "population": 800,
        "geometry": g.geometry.wkt,
    }


@pytest.fixture
def district_store(demo_path, tmp_path) -> Path:
    """A store holding only the district boundary (so "outside" can be checked)."""
    path = tmp_path / "d.gpkg"
    districts = open_store(demo_path).read("districts")
    open_store(path, create=True).write({"districts": districts})
    return path


def test_import_csv_then_export_round_trip(capsys, district_store, one_grid, tmp_path):
    src = _grids_csv(tmp_path / "grids.csv", [one_grid])
    rc, out, err = run(
        capsys, "import", district_store, src, "--layer", "grids", "--crs", "EPSG:4326"
    )
    assert rc == 0, err
    assert f"已导入 1 条记录到 {district_store} 的网格图层" in out
    for ext in ("gpkg", "geojson", "csv"):
        out_file = tmp_path / f"grids.{ext}"
        rc, out, err = run(capsys, "export", district_store, "--layer", "grids", "--out", out_file)
        assert rc == 0, err
        assert "已导出网格图层 1 条记录" in out
        again = tmp_path / f"again-{ext}.gpkg"
        args = ["import", again, out_file, "--layer", "grids", "--crs", "EPSG:4326"]
        rc, out, err = run(capsys, "--lang", "en", *args)
        assert rc == 0, err
        assert f"imported 1 rows into grids of {again}" in out
        a = open_store(district_store).read("grids")
        b = open_store(again).read("grids")
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
        assert a.geometry.geom_equals_exact(b.geometry, tolerance=1e-9).all()


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (lambda r: r.pop("community_code"), "community_code"),
        (lambda r: r.update(code="4310020010010X"), "row 1"),
        (lambda r: r.update(code="43100299900101"), "community_code"),
        (lambda r: r.update(geometry="POLYGON((113 25, 113.1"), "geometry"),
        (
            lambda r: r.update(geometry="POLYGON((100 10, 100.01 10, 100.01 10.01, 100 10))"),
            "outside",
        ),
    ],
    ids=["missing-column", "bad-code", "wrong-prefix", "bad-geometry", "outside-district"],
)
def test_import_bad_input_is_refused_and_nothing_written(
    capsys, district_store, one_grid, tmp_path, change, expect
):
    row = dict(one_grid)
    change(row)
    src = _grids_csv(tmp_path / "bad.csv", [row])
    before = digest(district_store)
    rc, _, err = run(
        capsys, "import", district_store, src, "--layer", "grids", "--crs", "EPSG:4326"
    )
    assert rc == 2
    assert "bad.csv" in err and expect in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 21
    assert digest(district_store) == before


def test_import_duplicate_code(capsys, district_store, one_grid, tmp_path):
    src = _grids_csv(tmp_path / "dup.csv", [one_grid, one_grid])
    rc, _, err = run(
        capsys, "import", district_store, src, "--layer", "grids", "--crs", "EPSG:4326"
    )
    assert rc == 2 and "duplicate" in err.lower()
    ok = _grids_csv(tmp_path / "ok.csv", [one_grid])
    assert (
        run(capsys, "import", district_store, ok, "--layer", "grids", "--crs", "EPSG:4326")[0] == 0
    )
    rc, _, err = run(capsys, "import", district_store, ok, "--layer", "grids", "--crs", "EPSG:4326")
    assert rc == 2 and one_grid["code"] in err
    assert open_store(district_store).count("grids") == 1


def test_import_without_crs_is_refused(capsys, district_store, one_grid, tmp_path):
    src = _grids_csv(tmp_path / "nocrs.csv", [one_grid])
    rc, _, err = run(capsys, "import", district_store, src, "--layer", "grids")
    assert rc == 2 and "--crs" in err


def test_import_invalid_polygon_needs_repair(capsys, district_store, one_grid, tmp_path):
    g = shapely.from_wkt(one_grid["geometry"])
    x0, y0, x1, y1 = g.bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    src = _grids_csv(tmp_path / "bowtie.csv", [{**one_grid, "geometry": bowtie.wkt}])
    rc, _, err = run(
        capsys, "import", district_store, src, "--layer", "grids", "--crs", "EPSG:4326"
    )
    assert rc == 2 and "--repair" in err
    rc, _, err = run(
        capsys, "import", district_store, src, "--layer", "grids", "--crs", "EPSG:4326", "--repair"
    )
    assert rc == 0
    assert "repair" in err.lower()
    assert open_store(district_store).read("grids").geometry.is_valid.all()


def test_every_listed_problem_names_the_cli_flags(capsys, district_store, one_grid, tmp_path):
    g = shapely.from_wkt(one_grid["geometry"])
    x0, y0, x1, y1 = g.bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)]).wkt
    src = _grids_csv(tmp_path / "bowties.csv", [{**one_grid, "geometry": bowtie}] * 2)
    rc, _, err = run(
        capsys, "import", district_store, src, "--layer", "grids", "--crs", "EPSG:4326"
    )
    also = [line for line in err.splitlines() if line.startswith("  also: ")]
    assert rc == 2 and any("row 2, field 'geometry'" in a and "--repair" in a for a in also)
    assert "⟨" not in err and "repair=" not in err


def test_import_shapefile_zip_in_another_crs(capsys, district_store, one_grid, tmp_path):
    # Shapefile field names have at most 10 characters: community_code needs --map.
    attrs = {k: v for k, v in one_grid.items() if k != "geometry"}
    attrs["comm_code"] = attrs.pop("community_code")
    frame = gpd.GeoDataFrame(
        [attrs], geometry=[shapely.from_wkt(one_grid["geometry"])], crs="EPSG:4326"
    ).to_crs(3857)
    shp = tmp_path / "shp" / "grids.shp"
    shp.parent.mkdir()
    frame.to_file(shp, encoding="UTF-8")
    zpath = tmp_path / "grids.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in shp.parent.iterdir():
            z.write(f, f.name)
    rc, _, err = run(capsys, "import", district_store, zpath, "--layer", "grids")
    assert rc == 2 and "community_code" in err
    rc, _, err = run(
        capsys,
        "import",
        district_store,
        zpath,
        "--layer",
        "grids",
        "--map",
        "comm_code=community_code",
    )
    assert rc == 0, err
    assert "EPSG:3857" in err  # the reprojection is reported
    back = open_store(district_store).read("grids")
    assert back["code"].tolist() == [one_grid["code"]]
    assert back["community_code"].tolist() == [one_grid["community_code"]]
    assert back.geometry.iloc[0].equals_exact(shapely.from_wkt(one_grid["geometry"]), 1e-6)


def test_failed_import_into_a_new_store_leaves_no_file(capsys, one_grid, tmp_path):
    src = _grids_csv(tmp_path / "g.csv", [{**one_grid, "code": "x"}])
    target = tmp_path / "new.gpkg"
    rc, _, _ = run(capsys, "import", target, src, "--layer", "grids", "--crs", "EPSG:4326")
    assert rc == 2
    assert not target.exists()


def test_import_unknown_layer(capsys, district_store, tmp_path):
    src = tmp_path / "x.csv"
    src.write_text("a\n1\n")
    rc, _, err = run(capsys, "import", district_store, src, "--layer", "parcels")
    assert rc == 2 and "grids" in err


def test_export_opens_in_ogrinfo(capsys, demo_path, tmp_path, require_tool):
    ogrinfo = require_tool("ogrinfo")
    for ext in ("gpkg", "geojson", "csv"):
        out = tmp_path / f"communities.{ext}"
        rc, _, err = run(capsys, "export", demo_path, "--layer", "communities", "--out", out)
        assert rc == 0, err
        info = subprocess.run(
            [ogrinfo, "-ro", "-so", "-al", str(out)], capture_output=True, text=True, check=True
        ).stdout
        assert "Feature Count: 165" in info
        assert "code: String" in info


def test_export_csv_keeps_codes_as_text(capsys, demo_path, tmp_path):
    out = tmp_path / "buildings.csv"
    rc, text, _ = run(
        capsys, "--lang", "en", "export", demo_path, "--layer", "buildings", "--out", out
    )
    assert rc == 0 and f"rows of buildings to {out}" in text
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: spreadsheets read the Chinese right
    back = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert back["code"].str.len().eq(17).all()


# -- stats -----------------------------------------------------------------------------


def test_stats_of_the_district_and_a_grid(capsys, demo_path):
    rc, out, _ = run(capsys, "stats", demo_path, "--json")
    assert rc == 0
    figures = json.loads(out)
    buildings = open_store(demo_path).read("buildings", columns=["population", "grid_code"])
    assert figures["residents"] == int(buildings["population"].sum())
    grid = buildings["grid_code"].iloc[0]
    rc, out, _ = run(capsys, "stats", demo_path, "--unit", grid, "--json")
    assert rc == 0
    assert json.loads(out)["residents"] == int(
        buildings.loc[buildings["grid_code"] == grid, "population"].sum()
    )
    rc, out, _ = run(capsys, "stats", demo_path)
    assert rc == 0 and "北湖区" in out and "常住人口" in out
    rc, out, _ = run(capsys, "--lang", "en", "stats", demo_path)
    assert rc == 0 and "北湖区" in out and "residents" in out and "常住人口" not in out


def test_stats_unknown_unit(capsys, demo_path):
    rc, _, err = run(capsys, "stats", demo_path, "--unit", "431002999")
    assert rc == 2 and "431002999" in err
