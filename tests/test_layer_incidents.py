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


def _png_pixels(png: bytes) -> np.ndarray:
    """Decode the PNGs layers.base.png_rgba writes (8-bit RGBA, filter 0): rows × cols × 4."""
    import struct
    import zlib

    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        chunks[kind] = chunks.get(kind, b"") + png[pos + 8 : pos + 8 + n]
        pos += 12 + n
    cols, rows, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 6)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(rows, 1 + cols * 4)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(rows, cols, 4)


def test_heatmap_is_a_smooth_image_in_the_fixed_classes():
    surface = density_surface(_incidents(), radius_m=300)
    spec = heatmap(surface, synthetic=True)
    assert isinstance(spec, LayerSpec) and spec.kind == "image" and len(spec.features) == 0
    west, south, east, north = spec.image.bounds
    assert west < east and south < north
    assert spec.image.url().startswith("data:image/png;base64,")
    pixels = _png_pixels(spec.image.png)
    assert max(pixels.shape[:2]) >= 512
    # Every drawn pixel has one of the five class colours, YlOrRd light to dark, and
    # every class shows; the rest is transparent.
    drawn = pixels[..., 3] > 0
    assert 0.05 < drawn.mean() < 0.95
    seen = {"#" + bytes(p).hex() for p in pixels[drawn][:, :3]}
    assert seen == set(PALETTES["YlOrRd"])
    legend = spec.legend.to_dict()
    assert legend["title"].startswith("事件密度（件/平方公里）")
    assert "半径 300 米" in legend["title"]
    assert [i["color"] for i in legend["items"]] == list(PALETTES["YlOrRd"])
    assert legend["items"][-1]["label"].endswith(format_number(surface.grid.max()))
    assert "σ = 75 米" in legend["note"] and "合成" in legend["note"]
    # Smooth: neighbouring drawn pixels mostly share a class; class edges are
    # pixel-fine curves, not the surface's 37.5 m cells (a cell spans several pixels).
    same = (pixels[1:, :, :3] == pixels[:-1, :, :3]).all(axis=2) & drawn[1:] & drawn[:-1]
    assert same.sum() / (drawn[1:] & drawn[:-1]).sum() > 0.9


def test_heatmap_per_month_keeps_the_legend_of_the_whole_period():
    inc = _incidents(800)
    whole = density_surface(inc, radius_m=300)
    months = 2
    breaks = whole.breaks / months
    legends = set()
    for start, end in (("2025-03-01", "2025-03-10"), ("2025-03-10", "2025-03-30"), (None, None)):
        part = density_surface(inc, radius_m=300, start=start, end=end)
        spec = heatmap(part, months=months, breaks=breaks, floor=whole.floor / months, lang="en")
        legends.add(json.dumps(spec.legend.to_dict()))
        assert spec.legend.title.startswith("Incident density (per km² per month)")
        if start:
            assert f"{start} to" in spec.title  # the window is in the layer's name
    assert len(legends) == 1


def test_heatmap_title_names_the_filters_and_english_works():
    surface = density_surface(
        _incidents(), radius_m=250, categories=["dispute"], start="2025-03-02", end="2025-03-10"
    )
    spec = heatmap(surface, lang="en")
    assert spec.title == (
        "Incident density (per km²) · radius 250 m · dispute · 2025-03-02 to 2025-03-10"
    )
    assert spec.legend.title == "Incident density (per km²) · radius 250 m · dispute"
    zh = heatmap(surface).title
    assert "矛盾纠纷" in zh and "2025-03-02 至 2025-03-10" in zh


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
    assert max(_png_pixels(spec.image.png).shape[:2]) == 800
    # Tens of kB, not the megabytes of classed polygons it replaced.
    assert len(spec.image.png) < 150_000
    assert elapsed < 5.0  # ~0.2 s here; generous for a busy CI machine


def test_empty_surface_gives_an_empty_layer():
    inc = _incidents().iloc[:0]
    surface = density_surface(inc, radius_m=300, bounds=(113.0, 25.7, 113.02, 25.72))
    spec = heatmap(surface)
    assert spec.legend.items == ()
    assert (_png_pixels(spec.image.png)[..., 3] == 0).all()


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
