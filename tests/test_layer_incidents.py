"""The incident layers: a classed density heatmap and a rate choropleth, each with a legend."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridmap.density import density_grid, density_surface, legend_breaks
from layers.base import NO_DATA, PALETTES, LayerSpec, class_breaks, classify
from layers.incidents import format_number, heatmap, rate_choropleth


def _incidents(n: int = 400) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(800, 120, n // 2), rng.uniform(0, 2000, n - n // 2)])
    y = np.concatenate([rng.normal(900, 90, n // 2), rng.uniform(0, 2000, n - n // 2)])
    pts = gpd.GeoSeries.from_xy(x + 500_000, y + 2_850_000, crs="EPSG:32649")
    return gpd.GeoDataFrame(
        {
            "category": pd.Series(["dispute", "city_appearance"] * (n // 2), dtype="str"),
            "reported_at": pd.Timestamp("2025-03-01", tz="UTC")
            + pd.to_timedelta(np.arange(n), unit="h"),
        },
        geometry=pts.to_crs("EPSG:4326"),
        crs="EPSG:4326",
    )


def _decode(url: str) -> tuple[np.ndarray, list[str], list[int]]:
    """A palette PNG data URL: its pixels (palette indexes), palette and alphas."""
    import base64
    import struct
    import zlib

    data = base64.b64decode(url.removeprefix("data:image/png;base64,"))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8].decode()
        chunks[kind] = chunks.get(kind, b"") + data[pos + 8 : pos + 8 + n]
        pos += 12 + n
    width, height, depth, colour = struct.unpack(">IIBB", chunks["IHDR"][:10])
    assert (depth, colour) == (8, 3)
    raw = np.frombuffer(zlib.decompress(chunks["IDAT"]), np.uint8).reshape(height, width + 1)
    assert (raw[:, 0] == 0).all()
    plte = chunks["PLTE"]
    palette = [f"#{plte[i]:02x}{plte[i + 1]:02x}{plte[i + 2]:02x}" for i in range(0, len(plte), 3)]
    return raw[:, 1:], palette, list(chunks["tRNS"])


def test_heatmap_is_one_smooth_image_with_the_fixed_breaks():
    surface = density_surface(_incidents(), radius_m=300)
    spec = heatmap(surface, synthetic=True)
    assert isinstance(spec, LayerSpec) and spec.kind == "image" and len(spec.features) == 0
    pixels, palette, alpha = _decode(spec.image["url"])
    # Index 0 is transparent (below the floor); 1… are the classes, YlOrRd light to dark.
    assert palette[1:] == list(PALETTES["YlOrRd"]) and alpha[0] == 0 and min(alpha[1:]) > 0
    assert max(pixels.shape) == 480 and set(np.unique(pixels)) == set(range(6))
    # Small: a few kB, whatever the number of cells.
    assert len(spec.image["url"]) < 60_000
    (south, west), (north, east) = spec.image["bounds"]
    assert south < north and west < east
    legend = spec.legend.to_dict()
    assert legend["title"] == "事件密度（件/平方公里） · 半径 300 米"
    assert [i["color"] for i in legend["items"]] == list(PALETTES["YlOrRd"])
    assert legend["items"][-1]["label"].endswith(format_number(surface.grid.max()))
    assert "σ = 75 米" in legend["note"] and "合成" in legend["note"]
    json.dumps(spec.to_geojson())
    # Smooth, not blocky: pixels finer than the raster's cells, the surface
    # interpolated between cell centres (so class edges are curves, not stairs).
    metres = (north - south) * 111_320 / pixels.shape[0]
    assert metres < surface.cell_m


def test_heatmap_pixels_take_the_class_of_the_surface_under_them():
    surface = density_surface(_incidents(), radius_m=300)
    spec = heatmap(surface)
    pixels, _, _ = _decode(spec.image["url"])
    (south, west), (north, east) = spec.image["bounds"]
    h, w = pixels.shape
    # The densest cell's centre lies in a top-class pixel.
    r, q = np.unravel_index(surface.grid.argmax(), surface.grid.shape)
    cx, cy = surface.cell_centres()
    point = gpd.GeoSeries([shapely.Point(cx[r, q], cy[r, q])], crs=surface.crs).to_crs(4326)
    col = int((point.x.iloc[0] - west) / (east - west) * w)
    row = int((north - point.y.iloc[0]) / (north - south) * h)
    assert pixels[row, col] == len(surface.breaks)


def test_fixed_breaks_and_a_clip_keep_the_legend_and_the_unit():
    surface = density_surface(
        _incidents(), radius_m=250, categories=["dispute"], start="2025-03-02", end="2025-03-10"
    )
    fixed = np.array([5.0, 50.0, 500.0, 5_000.0, 50_000.0])
    box = gpd.GeoSeries(
        [shapely.box(500_400, 2_850_400, 501_400, 2_851_400)], crs="EPSG:32649"
    ).to_crs(4326)
    spec = heatmap(surface, lang="en", breaks=fixed, clip=box.iloc[0])
    # The legend says what the fixed colours mean; the layer's name has the filters.
    assert spec.legend.title == "Incident density (per km²) · radius 250 m"
    assert spec.title.endswith("dispute · 2025-03-02 to 2025-03-10")
    assert [i.label.split(" – ")[1] for i in spec.legend.items] == [
        "5.00",
        "50.0",
        "500",
        "5,000",
        "50,000",
    ]
    assert "whole period" in spec.legend.note
    # The image covers the box and is transparent outside the clip (a lon/lat box
    # of a UTM square: its corners are outside the square).
    pixels, _, _ = _decode(spec.image["url"])
    assert np.allclose(spec.image["bounds"], [box.total_bounds[[1, 0]], box.total_bounds[[3, 2]]])
    assert pixels[0, 0] == 0 or pixels[-1, -1] == 0 or pixels[0, -1] == 0


def test_heatmap_of_a_500_by_500_surface_stays_fast():
    import time

    rng = np.random.default_rng(0)
    x, y = rng.normal(5_000, 1_500, 20_000), rng.normal(5_000, 1_500, 20_000)
    grid, transform = density_grid(x, y, bounds=(0, 0, 10_000, 10_000), cell_m=20, radius_m=200)
    from gridmap.crs import utm_crs
    from gridmap.density import DensitySurface

    surface = DensitySurface(grid, transform, utm_crs(113.0, 25.8), 20.0, 200.0, len(x))
    surface.breaks = legend_breaks(surface)
    start = time.perf_counter()
    spec = heatmap(surface)
    elapsed = time.perf_counter() - start
    assert spec.image is not None and len(spec.legend.items) == 5
    assert elapsed < 5.0  # ~0.1 s here; generous for a busy CI machine


def test_empty_surface_gives_an_empty_layer():
    inc = _incidents().iloc[:0]
    surface = density_surface(inc, radius_m=300, bounds=(113.0, 25.7, 113.02, 25.72))
    spec = heatmap(surface)
    assert spec.image is None and len(spec.features) == 0 and spec.legend.items == ()


def _units() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": ["43100200100101", "43100200100102", "43100200100103", "43100200100104"],
            "name": ["第1网格", "第2网格", "第3网格", "第4网格"],
            "households": [400, 250, 0, 1000],
            "incidents": [20, 5, 7, 10],
        },
        geometry=[shapely.box(113.0 + i * 0.01, 25.77, 113.01 + i * 0.01, 25.78) for i in range(4)],
        crs="EPSG:4326",
    )


def test_rate_choropleth_per_1000_households_with_no_data():
    spec = rate_choropleth(_units(), synthetic=True)
    f = spec.features
    np.testing.assert_allclose(f["rate"], [50.0, 20.0, np.nan, 10.0])
    breaks = class_breaks([50.0, 20.0, 10.0], k=5)
    colors = classify(f["rate"].to_numpy(), breaks, PALETTES["YlOrRd"])
    assert [s["fillColor"] for s in f["_style"]] == colors
    assert f["_style"].iloc[2]["fillColor"] == NO_DATA
    assert spec.legend.title == "事件发生率（件/千户）"
    assert spec.legend.items[-1].label == "无住户" and spec.legend.items[-1].color == NO_DATA
    assert spec.legend.note == "演示数据为合成数据"
    tip = f["_tooltip"].iloc[0]
    for part in ("第1网格", "43100200100101", "20 件", "400 户", "每千户 50.0 件"):
        assert part in tip
    assert "无住户" in f["_tooltip"].iloc[2]
    assert set(spec.properties) == {"code", "name", "incidents", "households", "rate"}
    json.dumps(spec.to_geojson())


def test_rate_choropleth_options():
    spec = rate_choropleth(_units(), per=10_000, lang="en", breaks=[15.0, 100.0, 1000.0])
    f = spec.features
    np.testing.assert_allclose(f["rate"], [500.0, 200.0, np.nan, 100.0])
    assert spec.legend.title == "Incidents per 10,000 households"
    assert len(spec.legend.items) == 4  # three classes and no data
    assert "200 per 10,000 households" in f["_tooltip"].iloc[1]
    with pytest.raises(ValueError):
        rate_choropleth(_units().drop(columns="households"))


def test_format_number():
    assert [format_number(v) for v in (3068.4, 26.91, 3.536, 0.00949, np.nan)] == [
        "3,068",
        "26.9",
        "3.54",
        "0.00949",
        "—",
    ]
