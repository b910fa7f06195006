"""Layer specs: style as data, class breaks computed once, a legend on every layer."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from layers.base import NO_DATA, PALETTES, LayerSpec, Legend, LegendItem, class_breaks, classify


def test_quantile_breaks_and_colours():
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    breaks = class_breaks(values, k=5)
    # Observed values, not interpolated; two values per class (the inverted-CDF
    # quantile gave 2, 4, 7, 8, 10: classes of 2, 2, 3, 1 and 2).
    assert breaks.tolist() == [2, 4, 6, 8, 10]
    colors = classify(values, breaks, PALETTES["YlOrRd"])
    assert colors[0] == PALETTES["YlOrRd"][0] and colors[-1] == PALETTES["YlOrRd"][-1]
    assert classify([np.nan], breaks, PALETTES["YlOrRd"]) == [NO_DATA]


def test_repeated_values_give_fewer_classes_but_the_top_colour_is_darkest():
    breaks = class_breaks([0, 0, 0, 0, 5], k=5)
    assert breaks.tolist() == [0.0, 5.0]
    assert classify([0, 5], breaks, PALETTES["Blues"]) == [
        PALETTES["Blues"][0],
        PALETTES["Blues"][-1],
    ]


def test_layer_spec_geojson_carries_style_and_tooltip_only():
    frame = gpd.GeoDataFrame(
        {
            "code": ["a"],
            "secret": ["x"],
            "_style": [{"fillColor": "#fff"}],
            "_tooltip": ["a: 1"],
        },
        geometry=[shapely.box(0, 0, 1, 1)],
        crs="EPSG:4326",
    )
    spec = LayerSpec("t", "T", frame, Legend("m", (LegendItem("1", "#fff"),)), properties=["code"])
    feature = spec.to_geojson()["features"][0]
    assert feature["properties"] == {
        "code": "a",
        "_style": {"fillColor": "#fff"},
        "_tooltip": "a: 1",
    }


def test_layer_spec_needs_style_and_wgs84():
    frame = gpd.GeoDataFrame({"_style": [{}]}, geometry=[shapely.Point(0, 0)], crs="EPSG:4326")
    with pytest.raises(ValueError, match="_tooltip"):
        LayerSpec("t", "T", frame, Legend("m", ()))
    frame["_tooltip"] = ""
    with pytest.raises(ValueError, match="4326"):
        LayerSpec("t", "T", frame.to_crs(3857), Legend("m", ()))
