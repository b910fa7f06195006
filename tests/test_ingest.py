"""gridmap.ingest: incident files in, good rows kept, every bad row reported."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from gridmap.errors import InputError, render_options
from gridmap.ingest import REJECT_COLUMNS, read_incident_file, write_reject_report
from gridmap.schema import LAYERS

import fixtures as fx

G1, G2, G3 = fx.G_NORTH, fx.G_SOUTH, fx.G_WEST
AT = pd.Timestamp("2025-04-01 00:00", tz="UTC")

HEADER = [
    "id", "category", "source", "step", "reported_at", "dispatched_at", "closed_at",
    "closed_level", "satisfaction", "grid_code", "building_code", "description", "lon", "lat",
]  # fmt: skip
_DEFAULTS = {
    "category": "dispute", "source": "patrol", "step": "handling",
    "reported_at": "2025-03-01 08:30", "lon": "113.0045", "lat": "25.7885",
}  # fmt: skip


def _case(id: str, **values: str) -> tuple[str, ...]:
    """A CSV row: a handling dispute in grid G1 unless told otherwise."""
    row = {**_DEFAULTS, "id": id, **values}
    return tuple(row.get(name, "") for name in HEADER)


# One row per kind of problem, between good rows. Coordinates: G1 is 113.000–113.010°E,
# 25.785–25.790°N; G3 is 113.010–113.015°E; 113.015–113.020°E is in the district, but the
# test leaves its grid out, so it lies in no grid.
ROWS = [
    # 1 good: times without a zone are Beijing time; 11 m from building 001 of G1
    _case("N1", dispatched_at="2025-03-01 09:00", description="邻里纠纷",
          lon="113.0022", lat="25.7869"),
    # 2 good: times with zones; closed and evaluated
    _case("N2", category="other", source="resident", step="evaluated",
          reported_at="2025-03-01T01:00:00Z", closed_at="2025-03-02T01:00:00+08:00",
          closed_level="grid", satisfaction="satisfied"),
    _case("N3", lon="abc"),  # 3 unreadable longitude
    _case("N4", lat=""),  # 4 no latitude
    _case("N5", lon="113.05"),  # 5 outside the district
    _case("N6", lon="113.017", lat="25.785"),  # 6 in the district, in no grid
    _case("N7", category="垃圾"),
    _case("N8", source="wechat"),
    _case("N9", step="done"),
    _case("N10", reported_at="yesterday"),
    _case("N11", step="closed", closed_at="2025-03-01 07:00", closed_level="grid"),  # before
    _case("N1"),  # 12 repeats row 1
    _case("E1"),  # 13 already in the store
    _case(""),  # 14 no id
    _case("N15", grid_code=G2),  # 15 the location is in G1
    _case("N16", step="closed", closed_level="grid"),  # 16 closed without closed_at
    # 17 good: a building of its grid named in the file is kept (the nearest is 002)
    _case("N17", building_code=G3 + "001", description="井盖破损", lon="113.0122", lat="25.7822"),
    _case("N18", building_code=G2 + "001"),  # 18 a building of another grid
    _case("N19", building_code=G1 + "099"),  # 19 no such building
    _case("N20", dispatched_at="2025-03-01 08:00"),  # 20 dispatched before it was reported
    _case("N21", step="collected", closed_at="2025-03-02 08:00"),  # 21 open, yet closed
]  # fmt: skip
EXPECTED_REJECTS = [
    (3, "N3", "lon", "'abc' is not a number"),
    (4, "N4", "lon/lat", "the geometry is empty"),
    (5, "N5", "lon/lat", "the point lies 3,0"),
    (6, "N6", "lon/lat", "the location lies outside every grid (20"),
    (7, "N7", "category", "'垃圾' is not one of the allowed values — use one of: city_appearance"),
    (8, "N8", "source", "'wechat' is not one of the allowed values"),
    (9, "N9", "step", "'done' is not one of the allowed values"),
    (10, "N10", "reported_at", "'yesterday' is not a date and time"),
    (11, "N11", "closed_at", "closed_at 2025-02-28 23:00 UTC is before reported_at 2025-03-01"),
    (12, "N1", "id", "id 'N1' repeats row 1"),
    (13, "E1", "id", "id 'E1' is already in the store"),
    (14, None, "id", "the value is empty"),
    (15, "N15", "grid_code", f"the location lies in grid {G1}, not in grid {G2}"),
    (16, "N16", "closed_at", "a closed case needs closed_at"),
    (18, "N18", "building_code", f"building {G2}001 is not in grid {G1}, where the location lies"),
    (19, "N19", "building_code", f"no building has the code {G1}099"),
    (20, "N20", "dispatched_at", "dispatched_at 2025-03-01 00:00 UTC is before reported_at"),
    (21, "N21", "closed_at", "the case is at step 'collected' but has closed_at"),
]  # fmt: skip


def _write_csv(path, rows, header=HEADER, encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)
    return path


def _read(path, **kw):
    layers = fx.valid_layers()
    grids = layers["grids"][layers["grids"]["code"] != fx.G_EAST]  # a hole in the grid cover
    options = {
        "grids": grids,
        "buildings": layers["buildings"],
        "district": layers["districts"].geometry.iloc[0],
        "existing_ids": {"E1"},
        "at": AT,
        **kw,
    }
    return read_incident_file(path, **options)


def test_good_rows_in_and_every_bad_row_reported(tmp_path):
    result = _read(_write_csv(tmp_path / "hotline.csv", ROWS))
    got = list(result.rejects.itertuples(index=False, name=None))
    assert [(r, i if isinstance(i, str) else None, f) for r, i, f, _ in got] == [
        (r, i, f) for r, i, f, _ in EXPECTED_REJECTS
    ]
    for (_, _, _, reason), (_, _, _, start) in zip(got, EXPECTED_REJECTS, strict=True):
        assert reason.startswith(start), (reason, start)
    assert list(result.rejects.columns) == list(REJECT_COLUMNS)

    good = result.good
    assert good["id"].tolist() == ["N1", "N2", "N17"]
    assert list(good.columns) == [*LAYERS["incidents"].column_names, "geometry"]
    assert good.crs.to_epsg() == 4326
    assert good["grid_code"].tolist() == [G1, G1, G3]
    assert good["building_code"].tolist()[0] == G1 + "001"
    assert pd.isna(good["building_code"].iloc[1]) and good["building_code"].iloc[2] == G3 + "001"
    # Beijing time without a zone: 08:30 is 00:30 UTC; zones given are respected.
    assert good["reported_at"].tolist() == [
        pd.Timestamp("2025-03-01 00:30", tz="UTC"),
        pd.Timestamp("2025-03-01 01:00", tz="UTC"),
        pd.Timestamp("2025-03-01 00:30", tz="UTC"),
    ]
    assert good["closed_at"].iloc[1] == pd.Timestamp("2025-03-01 17:00", tz="UTC")
    # The clock runs from dispatch: 01:00 UTC + 72 h for a dispute.
    assert good["deadline"].iloc[0] == pd.Timestamp("2025-03-04 01:00", tz="UTC")
    assert pd.isna(good["deadline"].iloc[2])  # not dispatched: no deadline
    assert good["version"].tolist() == [1, 1, 1] and (good["updated_at"] == AT).all()
    assert good["rework_count"].tolist() == [0, 0, 0] and not good["whistled"].any()
    assert str(good["reported_at"].dtype) == "datetime64[ms, UTC]"
    assert good["description"].iloc[2] == "井盖破损"

    events = result.events
    assert events["incident_id"].tolist() == ["N1", "N2", "N17"]
    assert events["to_step"].tolist() == ["handling", "evaluated", "handling"]
    assert events["from_step"].isna().all() and (events["at"] == AT).all()
    assert (events["note"] == "imported from hotline.csv").all()
    assert "took times without a zone as local time in Asia/Shanghai" in result.notes


def test_the_good_rows_fit_the_store(tmp_path):
    from gridmap.store import open_store

    result = _read(_write_csv(tmp_path / "hotline.csv", ROWS))
    store = open_store(tmp_path / "store.gpkg", create=True)
    store.write({"incidents": result.good, "incident_events": result.events})
    back = store.read("incidents")
    assert sorted(back["id"]) == ["N1", "N17", "N2"]
    assert back.set_index("id").loc["N1", "building_code"] == G1 + "001"
    assert store.count("incident_events") == 3


def test_strict_imports_nothing(tmp_path):
    path = _write_csv(tmp_path / "hotline.csv", ROWS)
    with pytest.raises(InputError) as caught:
        _read(path, strict=True)
    error = caught.value
    assert error.row == 3 and error.field == "lon"
    assert len(error.problems) == len(EXPECTED_REJECTS)
    assert "(and 17 more problems)" in str(error)
    assert any("row 16" in p and "closed_at" in p for p in error.problems)
    # A clean file goes in whole under strict too.
    clean = _write_csv(tmp_path / "clean.csv", [ROWS[0], ROWS[1]])
    result = _read(clean, strict=True)
    assert len(result.good) == 2 and result.rejects.empty


def test_gb18030_file_with_chinese_headers(tmp_path):
    header = ["编号", "类别", "来源", "环节", "上报时间", "描述", "经度", "纬度"]
    case = ("dispute", "hotline_12345", "collected", "2025/03/01 08:30")
    rows = [
        ("G1", *case, "楼上漏水", "113.0045", "25.7885"),
        ("G2", *case, "噪音扰民", "113.0045", "25.7"),
    ]
    path = _write_csv(tmp_path / "导出.csv", rows, header=header, encoding="gb18030")
    mapping = {"编号": "id", "类别": "category", "来源": "source", "环节": "step"}
    mapping |= {"上报时间": "reported_at", "描述": "description"}
    result = _read(path, mapping=mapping)
    assert "read the CSV file as GB18030 (it is not UTF-8)" in result.notes
    assert result.good["description"].tolist() == ["楼上漏水"]
    assert result.good["reported_at"].iloc[0] == pd.Timestamp("2025-03-01 00:30", tz="UTC")
    assert result.rejects[["row", "id", "field"]].values.tolist() == [[2, "G2", "经度/纬度"]]
    assert result.rejects["reason"].iloc[0].startswith("the point lies 8,8")


def test_utf8_bom_file_and_another_time_zone(tmp_path):
    path = _write_csv(tmp_path / "bom.csv", [ROWS[0]], encoding="utf-8-sig")
    result = _read(path, tz="UTC")
    assert result.good["id"].tolist() == ["N1"]  # the BOM is not part of the first column's name
    assert result.good["reported_at"].iloc[0] == pd.Timestamp("2025-03-01 08:30", tz="UTC")
    with pytest.raises(InputError, match="unknown time zone 'Mars/Base'"):
        _read(path, tz="Mars/Base")


def test_geojson_file(tmp_path):
    def feature(i, lon, category):
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, 25.7885]},
            "properties": {
                "id": f"J{i}",
                "category": category,
                "source": "camera",
                "step": "collected",
                "reported_at": "2025-03-01T08:30:00",
            },
        }

    path = tmp_path / "cases.geojson"
    fc = {
        "type": "FeatureCollection",
        "features": [feature(1, 113.0045, "other"), feature(2, 113.0046, "")],
    }
    path.write_text(json.dumps(fc), encoding="utf-8")
    result = _read(path)
    assert result.good["id"].tolist() == ["J1"] and result.good["grid_code"].tolist() == [G1]
    assert result.good["reported_at"].iloc[0] == pd.Timestamp("2025-03-01 00:30", tz="UTC")
    assert result.rejects[["row", "id", "field"]].values.tolist() == [[2, "J2", "category"]]


def test_files_that_cannot_be_read_at_all(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        _read(tmp_path / "missing.csv")
    no_step = _write_csv(tmp_path / "a.csv", [("N1", "dispute")], header=["id", "category"])
    with pytest.raises(InputError, match="no geometry column"):
        _read(no_step)
    header = ["id", "category", "lon", "lat"]
    with pytest.raises(InputError, match="lacks the required columns source, step, reported_at"):
        _read(_write_csv(tmp_path / "b.csv", [("N1", "dispute", "113", "25")], header=header))
    with pytest.raises(InputError, match="the file has no rows"):
        _read(_write_csv(tmp_path / "c.csv", [], header=HEADER))
    with pytest.raises(InputError, match="unknown offset"):
        _read(_write_csv(tmp_path / "d.csv", [ROWS[0]]), offset="wgs")


def test_reject_report_opens_in_a_spreadsheet(tmp_path):
    result = _read(_write_csv(tmp_path / "hotline.csv", ROWS))
    path = write_reject_report(result.rejects, tmp_path / "rejects.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfrow,id,field,reason\r\n")
    back = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert back["row"].tolist() == [str(r) for r, *_ in EXPECTED_REJECTS]
    assert back["id"].tolist()[11] == ""  # row 14, without an id
    # Options named in the reasons are written as the caller says: Python keywords by default.
    assert back["reason"].tolist() == [render_options(r) for r in result.rejects["reason"]]
    assert "offset=gcj02" in back["reason"].iloc[2]
    write_reject_report(result.rejects, path, flags={"offset": "--offset"})
    flagged = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert "need --offset gcj02 or --offset bd09" in flagged["reason"].iloc[2]
    assert "垃圾" in raw.decode("utf-8-sig")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hotline.csv", "rejects.csv"]
    with pytest.raises(InputError, match="folder does not exist"):
        write_reject_report(result.rejects, tmp_path / "nowhere" / "r.csv")
