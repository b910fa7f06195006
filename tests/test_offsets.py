"""GCJ-02 / BD-09 offsets and the mainland-China polygon that decides where they apply."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon

from gridmap import offsets
from gridmap.resources import data_file

# Places the offset must apply to (mainland China, coastal cities and islands included).
SHIFTED = {
    "Beijing": (116.397428, 39.90923),
    "Shenzhen Futian": (114.06, 22.54),
    "Zhuhai": (113.57, 22.27),
    "Chenzhou": (113.0, 25.78),
    "Urumqi": (87.62, 43.83),
    "Harbin": (126.63, 45.75),
    "Sanya": (109.5, 18.25),
    "Haikou": (110.33, 20.03),
    "Xiamen": (118.09, 24.48),
    "Zhoushan": (122.2, 30.0),
    "Dandong": (124.38, 40.13),
    "Kashgar": (75.99, 39.47),
    "Lhasa": (91.13, 29.65),
    "Hengqin": (113.52, 22.12),
}
# Places it must not apply to.
UNCHANGED = {
    "Hong Kong": (114.17, 22.30),
    "Hong Kong airport": (113.92, 22.31),
    "Lok Ma Chau (HK)": (114.07, 22.508),
    "Macau": (113.55, 22.19),
    "Taipa (Macau)": (113.56, 22.155),
    "Taipei": (121.56, 25.04),
    "Kaohsiung": (120.3, 22.62),
    "Magong (Penghu)": (119.57, 23.57),
    "Hanoi": (105.85, 21.03),
    "Pyongyang": (125.75, 39.03),
    "Seoul": (126.98, 37.57),
    "Ulaanbaatar": (106.9, 47.9),
    "Kathmandu": (85.32, 27.71),
    "Vladivostok": (131.9, 43.12),
    "Tokyo": (139.69, 35.69),
}


def _xy(pairs):
    arr = np.array(list(pairs), dtype=float)
    return arr[:, 0], arr[:, 1]


def test_known_values():
    # Published by the widely used coordtransform library (wgs84togcj02 / gcj02tobd09).
    gx, gy = offsets.wgs84_to_gcj02(116.404, 39.915)
    assert (float(gx), float(gy)) == pytest.approx(
        (116.41024449916938, 39.91640428150164), abs=1e-9
    )
    bx, by = offsets.gcj02_to_bd09(116.404, 39.915)
    assert (float(bx), float(by)) == pytest.approx(
        (116.41036949371029, 39.92133699351022), abs=1e-9
    )
    # Its bd09togcj02 is the closed-form approximation: ours refines it within 1e-6.
    cx, cy = offsets.bd09_to_gcj02(116.404, 39.915)
    assert (float(cx), float(cy)) == pytest.approx(
        (116.39762729119315, 39.90865673957631), abs=1e-6
    )
    # Tiananmen: WGS 84 -> GCJ-02 moves it about 550 m east-north-east.
    gx, gy = offsets.wgs84_to_gcj02(116.397428, 39.90923)
    assert (float(gx), float(gy)) == pytest.approx((116.403672, 39.910626), abs=1e-5)


def test_round_trips_are_exact():
    x, y = _xy(SHIFTED.values())
    wx, wy = offsets.gcj02_to_wgs84(*offsets.wgs84_to_gcj02(x, y))
    assert np.abs(wx - x).max() < 1e-9 and np.abs(wy - y).max() < 1e-9
    gx, gy = offsets.bd09_to_gcj02(*offsets.gcj02_to_bd09(x, y))
    assert np.abs(gx - x).max() < 1e-9 and np.abs(gy - y).max() < 1e-9
    bx, by = offsets.gcj02_to_bd09(*offsets.bd09_to_gcj02(x, y))
    assert np.abs(bx - x).max() < 1e-9 and np.abs(by - y).max() < 1e-9
    wx, wy = offsets.bd09_to_wgs84(*offsets.wgs84_to_bd09(x, y))
    assert np.abs(wx - x).max() < 1e-9 and np.abs(wy - y).max() < 1e-9


def test_inverse_beats_the_one_step_approximation():
    # The crude inverse (subtract the shift computed at the GCJ-02 point) is off by
    # around 1e-6 degrees: a regression to it would fail the round trip above.
    x, y = _xy(SHIFTED.values())
    gx, gy = offsets.wgs84_to_gcj02(x, y)
    # The crude inverse evaluates the shift at the GCJ-02 point, not the WGS 84 one.
    cx, cy = offsets.wgs84_to_gcj02(gx, gy)
    crude_x, crude_y = gx - (cx - gx), gy - (cy - gy)
    assert max(np.abs(crude_x - x).max(), np.abs(crude_y - y).max()) > 1e-7


@pytest.mark.parametrize("name", sorted(SHIFTED))
def test_mainland_points_are_shifted(name):
    lon, lat = SHIFTED[name]
    assert offsets.in_mainland_china(lon, lat)
    gx, gy = offsets.wgs84_to_gcj02(lon, lat)
    assert abs(float(gx) - lon) + abs(float(gy) - lat) > 1e-4
    bx, by = offsets.bd09_to_wgs84(lon, lat)
    assert abs(float(bx) - lon) + abs(float(by) - lat) > 1e-4


@pytest.mark.parametrize("name", sorted(UNCHANGED))
def test_points_outside_mainland_are_unchanged(name):
    lon, lat = UNCHANGED[name]
    assert not offsets.in_mainland_china(lon, lat)
    for convert in (
        offsets.wgs84_to_gcj02,
        offsets.gcj02_to_wgs84,
        offsets.gcj02_to_bd09,
        offsets.bd09_to_gcj02,
        offsets.wgs84_to_bd09,
        offsets.bd09_to_wgs84,
    ):
        x, y = convert(lon, lat)
        assert (float(x), float(y)) == (lon, lat), convert.__name__


def test_vectorised_shapes_and_no_mutation():
    x = np.array([[113.0, 114.17], [87.62, np.nan]])
    y = np.array([[25.78, 22.30], [43.83, 30.0]])
    before = x.copy()
    gx, gy = offsets.wgs84_to_gcj02(x, y)
    assert gx.shape == gy.shape == (2, 2)
    np.testing.assert_array_equal(x, before)
    assert gx[0, 1] == 114.17 and np.isnan(gx[1, 1])  # Hong Kong and NaN untouched
    assert gx[0, 0] != 113.0
    inside = offsets.in_mainland_china([113.0, 114.17, np.nan], [25.78, 22.30, 1.0])
    assert inside.tolist() == [True, False, False]
    assert offsets.wgs84_to_gcj02(113.0, 25.78)[0].shape == ()


def test_unshift_geometries_moves_every_vertex():
    wgs = [
        Point(113.0, 25.78),
        LineString([(113.0, 25.78), (113.01, 25.79)]),
        Polygon([(113.0, 25.78), (113.01, 25.78), (113.01, 25.79), (113.0, 25.78)]),
        Point(114.17, 22.30, 7.0),  # Hong Kong, with Z: unchanged, Z kept
        None,
    ]
    series = gpd.GeoSeries(wgs, index=[10, 11, 12, 13, 14], crs="EPSG:4326")
    shifted = offsets.shift_geometries(series, "gcj02")
    back = offsets.unshift_geometries(shifted, "gcj02")
    assert isinstance(back, gpd.GeoSeries)
    assert list(back.index) == [10, 11, 12, 13, 14] and back.crs == series.crs
    for a, b in zip(back.iloc[:4], wgs[:4], strict=True):
        assert shapely.equals_exact(a, b, tolerance=1e-9)
    assert back.iloc[4] is None
    assert shifted.iloc[3].equals(wgs[3]) and shifted.iloc[3].has_z
    # Each vertex moved exactly as the point conversion moves it.
    xy = shapely.get_coordinates(wgs[2])
    expected = np.column_stack(offsets.wgs84_to_bd09(xy[:, 0], xy[:, 1]))
    got = shapely.get_coordinates(offsets.shift_geometries([wgs[2]], "bd09")[0])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_unknown_offset_is_refused():
    with pytest.raises(ValueError, match="gcj02"):
        offsets.unshift_geometries([Point(113, 25)], "wgs84")


def test_mainland_polygon_file():
    with open(data_file("cn_mainland.geojson"), encoding="utf-8") as f:
        doc = json.load(f)
    description = doc["features"][0]["properties"]["description"]
    assert "coarse" in description.lower() and "not a map of borders" in description
    polygon = offsets.mainland_polygon()
    assert polygon.is_valid
    # Hong Kong and Macau are holes, Taiwan lies outside.
    assert len(polygon.interiors) == 2
    assert not polygon.intersects(Point(121.0, 23.7))
