"""`gridmap coverage` as a planner runs it on the demo district."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from gridmap.cli import main
from gridmap.store import open_store

pytestmark = pytest.mark.slow


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_coverage_prints_units_and_writes_every_building(capsys, demo_path, tmp_path):
    out = tmp_path / "clinic.csv"
    rc, text, err = run(capsys, "coverage", demo_path, "--type", "clinic", "--out", out)
    assert rc == 0, err
    # Chinese by default: the type's label, metres as 米, the table's headers.
    assert "社区卫生服务站：" in text and "沿街步行 300 米" in text and "431002001" in text
    assert "人口覆盖率%" in text and "已写出" in text
    per = pd.read_csv(out, dtype={"code": str, "grid_code": str}, encoding="utf-8-sig")
    buildings = open_store(demo_path).read("buildings", columns=["code", "population"])
    assert len(per) == len(buildings)
    assert per["code"].str.len().eq(17).all()
    covered = per["covered"].astype(str).eq("True")
    assert (per.loc[covered, "distance_m"] <= 300).all()
    assert per.loc[~covered, "distance_m"].isna().all()
    share = per.loc[covered, "served"].sum() / per["served"].sum()
    assert f"（{100 * share:.1f}%）" in text


def test_minutes_with_the_age_friendly_speed(capsys, demo_path):
    rc, text, _ = run(
        capsys,
        "coverage",
        demo_path,
        "--type",
        "elderly_daycare",
        "--minutes",
        "10",
        "--speed",
        "age_friendly",
        "--level",
        "district",
    )
    assert rc == 0
    assert "450 米（10 分钟）" in text
    rc, text, _ = run(
        capsys,
        "--lang",
        "en",
        "coverage",
        demo_path,
        "--type",
        "elderly_daycare",
        "--minutes",
        "10",
        "--speed",
        "age_friendly",
        "--level",
        "district",
    )
    assert rc == 0
    assert "elderly_daycare: " in text and "450 m (10 min)" in text
    assert "people served covered:" in text and "pct_residents" in text


def test_suggest_sites(capsys, demo_path, tmp_path):
    out = tmp_path / "sites.gpkg"
    rc, text, err = run(
        capsys, "--lang", "en", "coverage", demo_path, "--type", "kindergarten", "--suggest", "3",
        "--out", out,
    )  # fmt: skip
    assert rc == 0, err
    assert "3 suggested site(s)" in text and "households_gain" in text
    rc, text, err = run(capsys, "coverage", demo_path, "--type", "kindergarten", "--suggest", "2")
    assert rc == 0, err
    assert "幼儿园：建议新增 2 处选址" in text and "新增覆盖人口" in text
    sites = gpd.read_file(out)
    assert list(sites["rank"]) == [1, 2, 3]
    assert sites["gain"].is_monotonic_decreasing


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--type", "hospital"], "unknown facility type 'hospital'"),
        (["--type", "clinic", "--meters", "-5"], "positive"),
        (["--type", "clinic", "--meters", "300", "--minutes", "5"], "not both"),
        (["--type", "clinic", "--minutes", "5", "--speed", "fast"], "unknown walking speed"),
        (["--type", "clinic", "--suggest", "0"], "at least one"),
    ],
)
def test_bad_options(capsys, demo_path, args, expect):
    rc, _, err = run(capsys, "coverage", demo_path, *args)
    assert rc == 2
    assert expect in err and "Traceback" not in err


def test_store_without_roads(capsys, demo_path, tmp_path):
    path = tmp_path / "noroads.gpkg"
    st = open_store(path, create=True)
    st.write({"districts": open_store(demo_path).read("districts")})
    rc, _, err = run(capsys, "coverage", path, "--type", "clinic")
    assert rc == 2 and "has no roads" in err


def test_stats_gain_the_life_circle_figures(capsys, demo_path):
    import json

    rc, text, _ = run(capsys, "stats", demo_path, "--json")
    assert rc == 0
    figures = json.loads(text)["coverage"]
    rc, text, _ = run(capsys, "coverage", demo_path, "--type", "clinic", "--level", "district")
    assert f"（{100 * figures['clinic_share']:.1f}%）" in text
    assert 0 <= figures["life_circle_all_share"] <= 1
    assert 0 <= figures["life_circle_mean"] <= 6
    rc, text, _ = run(capsys, "stats", demo_path)
    assert "生活圈覆盖" in text


def test_service_circles_file(capsys, demo_path, tmp_path):
    out = tmp_path / "circles.gpkg"
    rc, _, err = run(capsys, "coverage", demo_path, "--type", "clinic", "--circles", out)
    assert rc == 0, err
    each = gpd.read_file(out, layer="service_circles")
    merged = gpd.read_file(out, layer="service_circles_merged")
    clinics = open_store(demo_path).read("facilities", where={"type": "clinic"})
    assert len(each) == len(clinics) and each.crs.to_epsg() == 4326
    joined = clinics.set_index("id").geometry
    # Each circle holds its own facility (the walk from the door to the street is in it).
    assert all(each.geometry[i].contains(joined[fid]) for i, fid in enumerate(each["id"]))
    assert merged.geometry.iloc[0].buffer(1e-7).contains(each.union_all())
