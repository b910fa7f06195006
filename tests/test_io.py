"""Reading users' files (every check) and writing exports (round trips, GDAL's view)."""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from gridmap import offsets, schema
from gridmap.errors import InputError, option
from gridmap.io import read_layer_file, write_layer_file

COMMUNITY = "431002001001"
G1, G2 = COMMUNITY + "01", COMMUNITY + "02"
# The district: a box around the grids near 113.0°E 25.78°N (Beihu, Chenzhou).
DISTRICT = box(112.99, 25.77, 113.03, 25.80)


def grids() -> gpd.GeoDataFrame:
    """Two grids of community 431002001001, with coordinates that need every digit."""
    return gpd.GeoDataFrame(
        {
            "code": [G1, G2],
            "name": ["西街一网格", "西街二网格"],
            "community_code": [COMMUNITY, COMMUNITY],
            "households": pd.array([54, None], dtype="Int64"),
            "population": pd.array([135, 40], dtype="Int64"),
        },
        geometry=[
            MultiPolygon([box(113.0001234567891, 25.7850000000001, 113.0101234567891, 25.79)]),
            MultiPolygon([box(113.0001234567891, 25.78, 113.0101234567891, 25.7850000000001)]),
        ],
        crs="EPSG:4326",
    )


def shapefile_grids() -> gpd.GeoDataFrame:
    """The grids as a shapefile holds them: upper-case names of at most 10 characters."""
    return grids().rename(
        columns={
            "code": "CODE",
            "name": "NAME",
            "community_code": "COMMUNITY",
            "households": "HOUSEHOLDS",
            "population": "POPULATION",
        }
    )


def incidents() -> gpd.GeoDataFrame:
    """Two incidents: datetimes, booleans, optional codes and empty values."""
    t0 = pd.Timestamp("2024-05-01T08:00:00.250Z")
    frame = gpd.GeoDataFrame(
        {
            "id": ["E1", "E2"],
            "category": ["dispute", "other"],
            "source": ["patrol", "hotline_12345"],
            "description": ['邻里纠纷, "噪音"', None],
            "step": ["handling", "collected"],
            "grid_code": [G1, None],
            "building_code": [G1 + "001", None],
            "whistled": [True, False],
            "reported_at": [t0, t0 + pd.Timedelta(hours=5)],
            "closed_at": [pd.NaT, t0],
            "rework_count": pd.array([1, None], dtype="Int64"),
        },
        geometry=[Point(113.004123456789, 25.788), Point(113.0021, 25.7811)],
        crs="EPSG:4326",
    )
    return frame


def events() -> pd.DataFrame:
    """Rows of the non-spatial incident_events table."""
    return pd.DataFrame(
        {
            "incident_id": ["E1", "E1"],
            "at": pd.to_datetime(["2024-05-01T08:00:00Z", "2024-05-01T09:30:00Z"]),
            "actor": ["网格员 张三", None],
            "from_step": [None, "collected"],
            "to_step": ["collected", "registered"],
            "note": [None, "ok"],
        }
    )


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def grid_csv(tmp_path: Path, rows: list[str], header: str | None = None) -> Path:
    header = header or "code,name,community_code,geometry"
    return write_csv(tmp_path / "grids.csv", "\n".join([header, *rows]) + "\n")


def wkt(x0: float = 113.0, y0: float = 25.78, d: float = 0.005) -> str:
    return f'"POLYGON (({x0} {y0}, {x0 + d} {y0}, {x0 + d} {y0 + d}, {x0} {y0 + d}, {x0} {y0}))"'


def refused(path, layer="grids", **kwargs) -> InputError:
    """The InputError reading ``path`` raises."""
    with pytest.raises(InputError) as info:
        read_layer_file(path, layer, **kwargs)
    error = info.value
    assert str(path) in str(error)
    assert error.problems and str(path) in error.problems[0]
    return error


DTYPES = {
    "text": "str",
    "int": "Int64",
    "float": "float64",
    "bool": "bool",
    "datetime": "datetime64[ms, UTC]",
}


def conformed(frame: pd.DataFrame, layer: str) -> pd.DataFrame:
    """What reading ``frame`` back must give: the schema's columns and dtypes."""
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for col in schema.layer(layer).columns:
        if col.name in frame.columns:
            values = frame[col.name].reset_index(drop=True)
        else:
            values = pd.Series([None] * len(frame), dtype=object)
        if col.type == "bool":
            values = values.fillna(False)
        if col.type == "datetime":
            values = pd.to_datetime(values, utc=True)
        out[col.name] = values.astype(DTYPES[col.type])
    return out


def assert_same(read: pd.DataFrame, expected: pd.DataFrame, layer: str) -> None:
    """Attributes equal with the schema's dtypes; geometries equal within 1e-9."""
    lay = schema.layer(layer)
    assert list(read.columns) == lay.column_names + (["geometry"] if lay.geometry else [])
    pd.testing.assert_frame_equal(pd.DataFrame(read[lay.column_names]), conformed(expected, layer))
    if lay.geometry is not None:
        assert read.crs.to_epsg() == 4326
        a = shapely.normalize(read.geometry.to_numpy())
        b = shapely.normalize(expected.geometry.to_numpy())
        if lay.geometry == "MultiPolygon":
            b = np.array([MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in b])
        assert shapely.equals_exact(a, b, tolerance=1e-9).all()


# -- round trips and GDAL ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "csv"])
@pytest.mark.parametrize("layer", ["grids", "incidents"])
def test_round_trip(tmp_path, fmt, layer):
    frame = grids() if layer == "grids" else incidents()
    path = write_layer_file(frame, tmp_path / f"out.{fmt}", layer=layer)
    crs = "EPSG:4326" if fmt == "csv" else None
    read, notes = read_layer_file(path, layer, crs=crs, district=DISTRICT)
    assert_same(read, frame, layer)
    assert notes == []
    # Nothing but the file (and the CSV's sidecars) is left in the folder.
    expected = {f"out.{fmt}"} | ({"out.csvt", "out.prj"} if fmt == "csv" else set())
    assert {p.name for p in tmp_path.iterdir()} == expected


@pytest.mark.parametrize("fmt", ["gpkg", "csv"])
def test_round_trip_without_geometry(tmp_path, fmt):
    path = write_layer_file(events(), tmp_path / f"events.{fmt}", layer="incident_events")
    read, _ = read_layer_file(path, "incident_events")
    assert not isinstance(read, gpd.GeoDataFrame)
    assert_same(read, events(), "incident_events")
    assert str(read["at"].dtype) == "datetime64[ms, UTC]"


def test_read_dtypes(tmp_path):
    path = write_layer_file(incidents(), tmp_path / "i.gpkg", layer="incidents")
    read, _ = read_layer_file(path, "incidents")
    dtypes = read.dtypes.astype(str).to_dict()
    assert dtypes["id"] == "str" and dtypes["grid_code"] == "str"
    assert dtypes["rework_count"] == "Int64" and dtypes["version"] == "Int64"
    assert dtypes["whistled"] == "bool"
    assert dtypes["reported_at"] == "datetime64[ms, UTC]"
    assert list(read.columns) == [*schema.layer("incidents").column_names, "geometry"]


def test_csv_export_format(tmp_path):
    path = write_layer_file(incidents(), tmp_path / "i.csv", layer="incidents")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    text = raw.decode("utf-8-sig")
    header, first = text.splitlines()[:2]
    assert header.startswith('"id","category"')
    assert f'"{G1}"' in first  # codes quoted text
    assert '"2024-05-01T08:00:00.250Z"' in first  # ISO 8601 UTC with Z
    assert '"邻里纠纷, ""噪音"""' in first
    csvt = (tmp_path / "i.csvt").read_text()
    assert csvt.startswith('"String","String"') and csvt.strip().endswith('"WKT"')


def test_gdal_reads_exports(tmp_path, require_tool):
    ogrinfo = require_tool("ogrinfo")
    for fmt in ("gpkg", "geojson", "csv"):
        path = write_layer_file(grids(), tmp_path / f"grids.{fmt}", layer="grids")
        out = subprocess.run(
            [ogrinfo, "-ro", "-so", "-al", str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        assert re.search(r"Feature Count: 2\b", out), out
        assert re.search(r"^code: String", out, re.M), out
        assert re.search(r"^community_code: String", out, re.M), out
        assert re.search(r"^households: Integer", out, re.M), out
        assert "WGS 84" in out, out


def test_write_gpkg_keeps_other_layers(tmp_path):
    path = tmp_path / "export.gpkg"
    write_layer_file(grids(), path, layer="grids")
    write_layer_file(incidents(), path, layer="incidents")
    write_layer_file(grids().iloc[:1], path, layer="grids")
    layers = dict(pyogrio.list_layers(path))
    assert set(layers) == {"grids", "incidents"}
    assert len(pyogrio.read_dataframe(path, layer="grids")) == 1


def test_write_refuses_unknown_format_and_leaves_nothing(tmp_path):
    with pytest.raises(InputError, match="gpkg, geojson, csv") as info:
        write_layer_file(grids(), tmp_path / "out.xlsx", layer="grids")
    assert "out.xlsx" in str(info.value)
    with pytest.raises(InputError, match="no geometry"):
        write_layer_file(events(), tmp_path / "events.geojson", layer="incident_events")
    # A file that is not a GeoPackage is not overwritten by a GeoPackage export.
    bad = tmp_path / "old.gpkg"
    bad.write_text("not a geopackage")
    with pytest.raises(InputError, match="GeoPackage") as info:
        write_layer_file(grids(), bad, layer="grids")
    assert str(bad) in str(info.value)
    assert bad.read_text() == "not a geopackage"
    assert {p.name for p in tmp_path.iterdir()} == {"old.gpkg"}


@pytest.mark.parametrize("fmt", ["gpkg", "geojson"])
def test_failed_write_leaves_nothing_half_written(tmp_path, monkeypatch, fmt):
    target = write_layer_file(grids(), tmp_path / f"out.{fmt}", layer="grids")
    before = target.read_bytes()

    def crash(frame, path, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise pyogrio.errors.DataSourceError("disk full")

    monkeypatch.setattr(pyogrio, "write_dataframe", crash)
    with pytest.raises(InputError, match="disk full"):
        write_layer_file(grids(), target, layer="grids")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


# -- formats ---------------------------------------------------------------------


def test_zipped_shapefile(tmp_path):
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    pyogrio.write_dataframe(shapefile_grids(), shp_dir / "grids.shp", encoding="GB18030")
    (shp_dir / "grids.cpg").unlink()  # as many Chinese shapefiles come: GBK, no .cpg
    archive = tmp_path / "grids.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in shp_dir.iterdir():
            z.write(part, f"data/{part.name}")
    read, notes = read_layer_file(archive, "grids", mapping={"COMMUNITY": "community_code"})
    assert read["name"].tolist() == ["西街一网格", "西街二网格"]
    assert read["code"].tolist() == [G1, G2]
    assert any("GB18030" in n for n in notes)


def test_zip_without_shapefile(tmp_path):
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "nothing here")
    error = refused(archive)
    assert "no shapefile" in str(error)


def test_gb18030_csv(tmp_path):
    path = write_csv(
        tmp_path / "gbk.csv",
        f"code,name,community_code,wkt\n{G1},西街一网格,{COMMUNITY},{wkt()}\n",
        encoding="gb18030",
    )
    read, notes = read_layer_file(path, "grids", crs="EPSG:4326")
    assert read["name"].tolist() == ["西街一网格"]
    assert any("GB18030" in n for n in notes)


def test_csv_lonlat_keeps_leading_zeros(tmp_path):
    path = write_csv(
        tmp_path / "f.csv",
        "\ufeffid,type,name,经度,纬度,remark\n007,clinic,卫生站,113.005,25.786,x\n",
    )
    read, notes = read_layer_file(path, "facilities", crs="EPSG:4326")
    assert read["id"].tolist() == ["007"]
    assert read.geometry.iloc[0].equals(Point(113.005, 25.786))
    assert "ignored columns: remark" in notes


def test_gpkg_layer_choice(tmp_path):
    path = tmp_path / "many.gpkg"
    pyogrio.write_dataframe(grids(), path, layer="a")
    pyogrio.write_dataframe(grids(), path, layer="b")
    error = refused(path)
    # The core names the option, not the CLI's flag (the CLI renders --source-layer).
    assert "a, b" in error.hint and option("source_layer") in error.hint
    read, _ = read_layer_file(path, "grids", source_layer="b")
    assert len(read) == 2
    assert "has no layer 'c'" in str(refused(path, source_layer="c"))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.gpkg", b""),
        ("text.gpkg", b"code,name\n1,2\n"),
        ("garbage.geojson", b"{ this is not json"),
        ("notes.txt", b"code,name\n"),
        ("table.xlsx", b"PK\x03\x04 not really"),
        ("broken.zip", b"PK\x03\x04 truncated"),
        ("binary.csv", b"\x00\x01\x02\x03"),
        ("header_only.csv", b"\n"),
        ("no_rows.csv", b"code,name,community_code,geometry\n"),
    ],
)
def test_malformed_files(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    refused(path, crs="EPSG:4326")


def test_truncated_gpkg(tmp_path):
    good = write_layer_file(grids(), tmp_path / "good.gpkg", layer="grids")
    cut = tmp_path / "cut.gpkg"
    cut.write_bytes(good.read_bytes()[:3000])
    refused(cut)


def test_missing_file(tmp_path):
    assert "no such file" in str(refused(tmp_path / "nope.gpkg"))


# -- columns and values ------------------------------------------------------------


def test_missing_required_column(tmp_path):
    path = grid_csv(tmp_path, [f"{G1},一,{wkt()}"], header="code,name,geometry")
    error = refused(path, crs="EPSG:4326")
    assert "community_code" in error.what
    assert "code, name" in error.hint  # the file's columns


def test_mapping(tmp_path):
    path = grid_csv(tmp_path, [f"{G1},一,{COMMUNITY},{wkt()}"], header="bm,mc,sq,geom")
    read, _ = read_layer_file(
        path,
        "grids",
        crs="EPSG:4326",
        mapping={"bm": "code", "mc": "name", "sq": "community_code", "geom": "geometry"},
    )
    assert read["code"].tolist() == [G1]
    error = refused(path, crs="EPSG:4326", mapping={"bianma": "code"})
    assert "no column 'bianma'" in str(error) and "bm, mc, sq, geom" in error.hint


def test_bad_code(tmp_path):
    path = grid_csv(tmp_path, [f"{G1},一,{COMMUNITY},{wkt()}", f"{G2[:-1]},二,{COMMUNITY},{wkt()}"])
    error = refused(path, crs="EPSG:4326")
    assert (error.row, error.field) == (2, "code")
    assert "row 2, field 'code'" in str(error) and "13 digits" in str(error)


def test_code_turned_into_a_number(tmp_path):
    path = grid_csv(tmp_path, [f"4.31002E+13,一,{COMMUNITY},{wkt()}"])
    error = refused(path, crs="EPSG:4326")
    assert (error.row, error.field) == (1, "code") and "Text" in error.hint


def test_wrong_parent(tmp_path):
    other = "431002001002"
    path = grid_csv(tmp_path, [f"{G1},一,{other},{wkt()}"])
    error = refused(path, crs="EPSG:4326")
    assert (error.row, error.field) == (1, "community_code")
    assert f"belongs under '{COMMUNITY}'" in str(error)


def test_values_are_checked(tmp_path):
    path = write_csv(
        tmp_path / "b.csv",
        "code,grid_code,use,floors,estimated,geometry\n"
        f"{G1}001,{G1},Residential,6,yes,{wkt(d=0.0004)}\n"
        f"{G1}002,{G1},residential,six,maybe,{wkt(d=0.0004)}\n"
        f"{G1}003,{G1},,3,,{wkt(d=0.0004)}\n",
    )
    error = refused(path, layer="buildings", crs="EPSG:4326")
    assert (error.row, error.field) == (1, "use") and "did you mean 'residential'" in str(error)
    problems = error.problems
    assert any(
        "row 2, field 'floors'" in p and "'six' is not a whole number" in p for p in problems
    )
    assert any("row 2, field 'estimated'" in p for p in problems)
    assert any("row 3, field 'use'" in p and "empty" in p for p in problems)
    assert len(problems) == 4
    assert "(and 3 more problems)" in str(error)


def test_datetimes(tmp_path):
    path = write_csv(
        tmp_path / "e.csv",
        "incident_id,at,to_step\n"
        "E1,2024-05-01T16:00:00+08:00,collected\n"
        "E1,2024-05-01 09:00,registered\n"
        "E1,yesterday,dispatched\n",
    )
    error = refused(path, layer="incident_events")
    assert (error.row, error.field) == (3, "at")
    path.write_text(path.read_text().replace("yesterday", "2024/05/02 10:00"))
    read, _ = read_layer_file(path, "incident_events")
    # +08:00 converted to UTC; naive times taken as UTC.
    assert read["at"].tolist() == [
        pd.Timestamp("2024-05-01T08:00Z"),
        pd.Timestamp("2024-05-01T09:00Z"),
        pd.Timestamp("2024-05-02T10:00Z"),
    ]


def test_duplicate_code_in_file(tmp_path):
    path = grid_csv(tmp_path, [f"{G1},一,{COMMUNITY},{wkt()}", f"{G1},二,{COMMUNITY},{wkt()}"])
    error = refused(path, crs="EPSG:4326")
    assert (error.row, error.field) == (2, "code") and "repeats row 1" in str(error)


def test_duplicate_code_in_store(tmp_path):
    path = write_layer_file(grids(), tmp_path / "g.gpkg", layer="grids")
    error = refused(path, existing_keys={G2})
    assert (error.row, error.field) == (2, "code") and "already in the store" in str(error)


# -- geometry ---------------------------------------------------------------------


def test_unparseable_wkt(tmp_path):
    path = grid_csv(
        tmp_path, [f"{G1},一,{COMMUNITY},{wkt()}", f'{G2},二,{COMMUNITY},"POLYGON ((1 2"']
    )
    error = refused(path, crs="EPSG:4326")
    assert (error.row, error.field) == (2, "geometry") and "WKT" in str(error)


def test_empty_geometry(tmp_path):
    path = grid_csv(tmp_path, [f"{G1},一,{COMMUNITY},", f'{G2},二,{COMMUNITY},"POLYGON EMPTY"'])
    error = refused(path, crs="EPSG:4326")
    assert (error.row, error.field) == (1, "geometry") and "empty" in str(error)
    assert any("row 2, field 'geometry'" in p for p in error.problems)


def test_points_refused_for_polygon_layer(tmp_path):
    path = grid_csv(tmp_path, [f'{G1},一,{COMMUNITY},"POINT (113 25.78)"'])
    error = refused(path, crs="EPSG:4326")
    assert (error.row, error.field) == (1, "geometry") and "needs polygons" in str(error)


def test_polygon_promoted(tmp_path):
    path = grid_csv(tmp_path, [f"{G1},一,{COMMUNITY},{wkt()}"])
    read, notes = read_layer_file(path, "grids", crs="EPSG:4326")
    assert read.geometry.iloc[0].geom_type == "MultiPolygon"
    assert any("MultiPolygon" in n for n in notes)


BOWTIE = '"POLYGON ((113.0 25.78, 113.004 25.784, 113.004 25.78, 113.0 25.784, 113.0 25.78))"'


def test_invalid_polygon_refused(tmp_path):
    path = grid_csv(tmp_path, [f"{G1},一,{COMMUNITY},{wkt()}", f"{G2},二,{COMMUNITY},{BOWTIE}"])
    error = refused(path, crs="EPSG:4326")
    assert (error.row, error.field) == (2, "geometry")
    assert "Self-intersection" in str(error) and option("repair") in error.hint


def test_invalid_polygon_repaired(tmp_path):
    path = grid_csv(tmp_path, [f"{G1},一,{COMMUNITY},{wkt()}", f"{G2},二,{COMMUNITY},{BOWTIE}"])
    read, notes = read_layer_file(path, "grids", crs="EPSG:4326", repair=True)
    fixed = read.geometry.iloc[1]
    assert fixed.is_valid and fixed.geom_type == "MultiPolygon" and len(fixed.geoms) == 2
    assert any(n.startswith(f"row 2 (code {G2}): repaired Self-intersection") for n in notes)


def test_outside_district(tmp_path):
    path = write_csv(
        tmp_path / "f.csv",
        "id,type,lon,lat\nF1,clinic,113.005,25.786\nF2,clinic,113.2,25.786\n",
    )
    error = refused(path, layer="facilities", crs="EPSG:4326", district=DISTRICT)
    assert (error.row, error.field) == (2, "lon/lat")
    assert "m outside the district" in str(error)
    # A polygon poking 0.5 m out passes (1 m tolerance); 50 m does not.
    edge = 113.03 + 0.5 / 100_000
    path = grid_csv(tmp_path, [f"{G1},一,{COMMUNITY},{wkt(x0=edge - 0.005)}"])
    read_layer_file(path, "grids", crs="EPSG:4326", district=DISTRICT)
    path = grid_csv(tmp_path, [f"{G1},一,{COMMUNITY},{wkt(x0=113.0305 - 0.005)}"])
    error = refused(path, crs="EPSG:4326", district=DISTRICT)
    assert (error.row, error.field) == (1, "geometry")


def test_no_crs_refused_then_accepted(tmp_path):
    path = grid_csv(tmp_path, [f"{G1},一,{COMMUNITY},{wkt()}"])
    error = refused(path)
    assert "no coordinate reference system" in str(error)
    assert option("crs", "EPSG:4326") in error.hint
    assert "crs=EPSG:4326" in str(error)  # as a Python caller reads it
    read, _ = read_layer_file(path, "grids", crs="EPSG:4326")
    assert read.crs.to_epsg() == 4326
    # A shapefile without its .prj is refused the same way.
    shp = tmp_path / "g.shp"
    pyogrio.write_dataframe(shapefile_grids(), shp)
    shp.with_suffix(".prj").unlink()
    assert option("crs", "EPSG:4326") in refused(shp, mapping={"COMMUNITY": "community_code"}).hint


def test_projected_coordinates_given_as_lonlat(tmp_path):
    path = write_csv(tmp_path / "f.csv", "id,type,x,y\nF1,clinic,38500000,2850000\n")
    error = refused(path, layer="facilities", crs="EPSG:4326")
    assert (error.row, error.field) == (1, "x/y") and "not longitude/latitude" in str(error)


def test_web_mercator_reprojected(tmp_path):
    path = tmp_path / "g3857.gpkg"
    pyogrio.write_dataframe(grids().to_crs(3857), path, layer="grids")
    read, notes = read_layer_file(path, "grids")
    assert_same(read, grids(), "grids")
    assert any("reprojected from EPSG:3857" in n for n in notes)
    error = refused(path, crs="EPSG:4326")  # a second CRS for a file that has one
    assert "EPSG:3857" in str(error)


def test_cgcs2000_accepted_as_is(tmp_path):
    path = tmp_path / "g4490.geojson"
    pyogrio.write_dataframe(grids().set_crs(4490, allow_override=True), path, driver="GeoJSON")
    read, notes = read_layer_file(path, "grids")
    assert read.crs.to_epsg() == 4326
    assert_same(read, grids(), "grids")  # same numbers: relabelled, not transformed
    assert any("CGCS2000" in n for n in notes)


def test_gcj02_offset_removed(tmp_path):
    wgs = np.array([[113.005, 25.786], [114.06, 22.54], [114.17, 22.30]])  # HK last
    gx, gy = offsets.wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])
    rows = "\n".join(
        f"F{i},clinic,{float(x)!r},{float(y)!r}"
        for i, (x, y) in enumerate(zip(gx, gy, strict=True))
    )
    path = write_csv(tmp_path / "amap.csv", "id,type,lng,lat\n" + rows + "\n")
    read, notes = read_layer_file(path, "facilities", crs="EPSG:4326", offset="gcj02")
    got = shapely.get_coordinates(read.geometry.to_numpy())
    np.testing.assert_allclose(got, wgs, rtol=0, atol=1e-9)
    assert gx[2] == 114.17  # Hong Kong was never shifted
    assert any("GCJ-02" in n and "2 of 3" in n for n in notes)
    assert "gcj02" in refused(path, layer="facilities", crs="EPSG:4326", offset="wgs").hint


def test_all_problems_listed(tmp_path):
    rows = [f"{G1[:-2]}{i},n,{COMMUNITY},{wkt()}" for i in range(3)]  # 13 digits
    error = refused(grid_csv(tmp_path, rows), crs="EPSG:4326")
    assert [p.split(":")[0].split(", ")[1] for p in error.problems] == ["row 1", "row 2", "row 3"]


def test_bowtie_polygon_object_in_gpkg(tmp_path):
    # Invalid polygons from a GIS file are caught the same way as from CSV.
    frame = grids()
    frame.loc[0, "geometry"] = Polygon(
        [(113.0, 25.78), (113.004, 25.784), (113.004, 25.78), (113.0, 25.784)]
    )
    path = tmp_path / "g.gpkg"
    pyogrio.write_dataframe(frame, path, layer="grids")
    error = refused(path)
    assert (error.row, error.field) == (1, "geometry")
