"""Basemap choices: the offline default, tile providers, and the setting that picks one."""

from __future__ import annotations

import pytest

from gridmap.app.tiles import BASEMAPS, basemap
from gridmap.errors import GridmapError
from gridmap.settings import Settings, get_settings


def test_offline_is_the_default():
    assert Settings().basemap == "none"
    chosen = basemap()
    assert chosen.offline and chosen.offset is None and chosen.tiles == ()


def test_providers():
    osm = basemap("osm")
    assert osm.tiles[0].url == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert "OpenStreetMap" in osm.tiles[0].attribution and osm.offset is None
    amap = basemap("amap")
    # AMap draws in GCJ-02: the layers must be shifted to it.
    assert amap.offset == "gcj02" and "autonavi.com" in amap.tiles[0].url
    tdt = basemap("tianditu", "abc123")
    assert [t.url.split("/")[3] for t in tdt.tiles] == ["vec_w", "cva_w"]
    assert all(t.url.endswith("tk=abc123") and t.subdomains == "01234567" for t in tdt.tiles)
    # Tianditu's CGCS2000 is WGS 84 within centimetres: no shift.
    assert tdt.offset is None
    for name in BASEMAPS:
        chosen = basemap(name, "k")
        for tile in chosen.tiles:
            assert {"{x}", "{y}", "{z}"} <= {p for p in ("{x}", "{y}", "{z}") if p in tile.url}


def test_tianditu_needs_a_key():
    with pytest.raises(GridmapError, match="GRIDMAP_TIANDITU_KEY"):
        basemap("tianditu")


def test_unknown_basemap():
    with pytest.raises(GridmapError, match="one of: none, tianditu, amap, osm"):
        basemap("google")


def test_bad_setting_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("GRIDMAP_BASEMAP", "bing")
    get_settings.cache_clear()
    try:
        with pytest.raises(GridmapError, match="GRIDMAP_BASEMAP='bing'"):
            get_settings()
    finally:
        monkeypatch.delenv("GRIDMAP_BASEMAP")
        get_settings.cache_clear()


def test_serve_refuses_tianditu_without_a_key(monkeypatch, capsys):
    from gridmap.cli import main

    monkeypatch.setenv("GRIDMAP_BASEMAP", "tianditu")
    monkeypatch.delenv("GRIDMAP_TIANDITU_KEY", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["serve", "nowhere.gpkg"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "Tianditu basemap needs an API key" in err and "Traceback" not in err
