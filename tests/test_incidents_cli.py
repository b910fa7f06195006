"""`gridmap incidents import|move` and the incident KPIs of `gridmap stats`, as users run them."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from gridmap.accounts import Account
from gridmap.audit import AuditEntry
from gridmap.cli import main
from gridmap.store import open_store

pytestmark = pytest.mark.slow


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def store(demo_path, tmp_path):
    dst = tmp_path / "s.gpkg"
    shutil.copy(demo_path, dst)
    return dst


def _feed(store, path, n: int = 20):
    """A hotline-style CSV of n good rows (demo cases under new ids) and four bad ones."""
    inc = open_store(store).read("incidents").iloc[:n]
    rows = pd.DataFrame(
        {
            "id": [f"H{i:05d}" for i in range(n)],
            "category": inc["category"].to_numpy(),
            "source": "hotline_12345",
            "description": "居民来电",
            "step": inc["step"].to_numpy(),
            "reported_at": inc["reported_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
            "closed_at": inc["closed_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
            "closed_level": inc["closed_level"].to_numpy(),
            "lon": inc.geometry.x.to_numpy(),
            "lat": inc.geometry.y.to_numpy(),
        }
    )
    bad = rows.iloc[[0, 1, 2, 3]].copy()
    bad["id"] = ["B1", "B2", "B3", "H00001"]
    bad.iloc[0, bad.columns.get_loc("category")] = "noise"  # unknown category
    bad.iloc[1, bad.columns.get_loc("lon")] = 100.0  # far outside the district
    bad.iloc[2, bad.columns.get_loc("reported_at")] = "yesterday"  # unparseable time
    # The last reuses an id of the file.
    pd.concat([rows, bad]).to_csv(path, index=False)
    return n


def test_good_rows_go_in_and_bad_rows_to_the_report(capsys, store, tmp_path):
    feed = tmp_path / "hotline.csv"
    good = _feed(store, feed)
    before = open_store(store).counts()
    rc, out, err = run(capsys, "incidents", "import", store, feed)
    assert rc == 0, err
    assert f"已导入 {good:,} 件事件" in out and "4 行未导入" in out
    report = pd.read_csv(tmp_path / "hotline.rejects.csv", encoding="utf-8-sig", dtype=str)
    assert set(report["id"]) == {"B1", "B2", "B3", "H00001"}
    assert set(report["row"].astype(int)) == {good + 1, good + 2, good + 3, good + 4}
    after = open_store(store).counts()
    assert after["incidents"] == before["incidents"] + good
    assert after["incident_events"] == before["incident_events"] + good
    new = open_store(store).read("incidents", where={"id": ["H00000", "H00005"]})
    assert new["grid_code"].str.len().eq(14).all()  # the grid comes from the location
    # Again, in English: every id is taken now, so every row goes to the report.
    again = tmp_path / "again.csv"
    rc, out, err = run(
        capsys, "--lang", "en", "incidents", "import", store, feed, "--report", again
    )
    assert rc == 0, err
    assert "imported 0 incidents" in out and f"rejected {good + 4} row(s): see {again}" in out


def test_strict_imports_nothing(capsys, store, tmp_path):
    feed = tmp_path / "hotline.csv"
    _feed(store, feed)
    before = open_store(store).counts()
    rc, _, err = run(capsys, "incidents", "import", store, feed, "--strict")
    assert rc == 2 and "hotline.csv" in err
    assert open_store(store).counts() == before


def test_move_through_the_loop(capsys, store):
    st = open_store(store)
    # --actor names an account (an admin may make every move).
    st.add_user(
        Account("测试", "admin", password_hash="unused"),
        audit=AuditEntry("root", "admin", "cli", "user_change", "测试"),
    )
    case = st.read("incidents", where={"step": "registered"}).iloc[0]
    cid, version = case["id"], int(case["version"])
    rc, _, err = run(capsys, "incidents", "move", store, cid, "--to", "closed")
    assert rc == 2 and "it can move to: dispatched" in err
    steps = [
        ("--to", "dispatched", "--department", "城管局"),
        ("--transfer", "住建局"),
        ("--to", "handling"),
        ("--whistle", "市场监管局", "--hours", "12"),
        ("--to", "reported_back"),
        ("--to", "closed", "--closed-level", "grid"),
        ("--to", "evaluated", "--satisfaction", "satisfied"),
    ]
    for i, args in enumerate(steps):
        lang = ["--lang", "en"] if i % 2 else []
        rc, out, err = run(capsys, *lang, "incidents", "move", store, cid, *args, "--actor", "测试")
        assert rc == 0, err
        if i == 0:
            assert out.strip() == f"事件 {cid}：案卷建立 → 任务派遣（版本 {version + 1}）"
        elif i == 1:
            assert out.strip() == f"incident {cid}: dispatched → dispatched (version {version + 2})"
    row = open_store(store).read("incidents", where={"id": cid}).iloc[0]
    assert row["step"] == "evaluated" and row["version"] == version + len(steps)
    assert row["transfer_count"] == case["transfer_count"] + 1 and row["whistled"]
    log = open_store(store).read("incident_events", where={"incident_id": cid})
    assert log["actor"].eq("测试").sum() == len(steps)
    rc, _, err = run(capsys, "incidents", "move", store, "NOPE", "--to", "registered")
    assert rc == 2 and "NOPE" in err


def test_stats_show_the_incident_kpis(capsys, demo_path):
    rc, out, _ = run(capsys, "stats", demo_path, "--unit", "431002001", "--json")
    kpis = json.loads(out)["incidents"]
    assert rc == 0
    assert 0 <= kpis["on_time_closure_rate"] <= 1 and 0 <= kpis["satisfaction_rate"] <= 1
    assert kpis["count"] == sum(v for k, v in kpis.items() if k.startswith("step_"))
    rc, out, _ = run(capsys, "stats", demo_path, "--unit", "431002001")
    assert "按时办结率" in out and "小事不出网格率" in out
