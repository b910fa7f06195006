"""The service-circle layers: three specs with legends, fixed coverage colours, tooltips."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from layers.palette import SCHEMES
from layers.service_circles import build


def _inputs():
    circles = gpd.GeoDataFrame(
        {"id": ["F1"], "name": ["北湖路社区卫生服务站"]},
        geometry=[shapely.Point(113.0, 25.78).buffer(0.003)],
        crs="EPSG:4326",
    )
    units = gpd.GeoDataFrame(
        {
            "code": ["431002001001", "431002001002", "431002001003"],
            "name": ["甲社区", "乙社区", "丙社区"],
            "served": [1000, 1000, 0],
            "served_covered": [960, 300, 0],
        },
        geometry=[shapely.box(113.0 + i * 0.01, 25.77, 113.01 + i * 0.01, 25.78) for i in range(3)],
        crs="EPSG:4326",
    )
    uncovered = gpd.GeoDataFrame(
        {"code": ["43100200100201001"], "served": [120], "distance_m": [np.nan]},
        geometry=[shapely.box(113.012, 25.772, 113.0122, 25.7722)],
        crs="EPSG:4326",
    )
    return {"circles": circles, "units": units, "uncovered": uncovered}


def test_three_layers_each_with_a_legend():
    specs = build(ftype="clinic", meters=300, **_inputs())
    assert [s.id for s in specs] == ["service_circles", "coverage", "uncovered"]
    for spec in specs:
        assert spec.legend.items and spec.legend.title
        json.dumps(spec.to_geojson(), ensure_ascii=False)  # serialisable for the app and export
    assert "社区卫生服务站" in specs[0].title and "300 米" in specs[0].title


def test_coverage_colours_use_fixed_breaks():
    coverage = build(ftype="clinic", meters=300, **_inputs())[1]
    fills = [s["fillColor"] for s in coverage.features["_style"]]
    assert fills[0] == SCHEMES["service"][-1]  # 96 %: the top class
    assert fills[1] == SCHEMES["service"][0]  # 30 %: the bottom class
    assert fills[2] == "#bdbdbd"  # nobody served: no data, not 0 %
    assert "960 / 1,000" in coverage.features["_tooltip"].iloc[0]


def test_english_labels_and_minutes():
    specs = build(
        ftype="kindergarten", meters=300, minutes=5, lang="en", synthetic=True, **_inputs()
    )
    assert specs[0].title == "kindergarten: reachable on foot within 5 min (300 m)"
    assert "synthetic" in specs[1].legend.note
    assert "none within reach" in specs[2].features["_tooltip"].iloc[0]


@pytest.mark.slow
def test_layers_from_a_coverage_model_on_the_demo(demo_path):
    from gridmap.coverage import CoverageModel
    from gridmap.network import build_network
    from gridmap.store import open_store
    from layers.service_circles import from_model

    with open_store(demo_path) as st:
        roads, buildings = st.read("roads"), st.read("buildings")
        facilities, communities = st.read("facilities"), st.read("communities")
    model = CoverageModel(build_network(roads), buildings, "clinic", facilities=facilities)
    circles, coverage, uncovered = from_model(model, buildings, communities, "community")
    assert len(circles.features) == int((facilities["type"] == "clinic").sum())
    assert len(coverage.features) == len(communities)
    assert len(uncovered.features) == int((~model.coverage["covered"]).sum())
    served = coverage.features["served"].sum()
    assert served == model.coverage["served"].sum()
