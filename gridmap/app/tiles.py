"""Basemap choices of the dashboard: the offline basemap, or a tile provider.

The default (``none``) draws the project's own data (district boundary, main
roads) and makes no request off the machine. A tile provider is a setting
(``GRIDMAP_BASEMAP``): Tianditu (needs ``GRIDMAP_TIANDITU_KEY``), AMap and
OpenStreetMap. AMap's tiles are drawn in GCJ-02, so when it is chosen the
dashboard shifts every layer it sends to GCJ-02 (:mod:`gridmap.offsets`;
inside mainland China only) — the stored data never change. Tianditu draws in
CGCS2000, which is WGS 84 to within centimetres: no shift.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridmap.errors import GridmapError

__all__ = ["BASEMAPS", "Basemap", "TileSource", "basemap"]


@dataclass(frozen=True)
class TileSource:
    """One tile layer: a Leaflet URL template, its subdomains and attribution."""

    url: str
    subdomains: str
    attribution: str


@dataclass(frozen=True)
class Basemap:
    """A basemap choice: its tile layers (none for the offline one) and the offset it needs."""

    name: str
    tiles: tuple[TileSource, ...]
    #: The datum the tiles are drawn in: ``None`` (WGS 84/CGCS2000) or ``"gcj02"``.
    offset: str | None = None

    @property
    def offline(self) -> bool:
        """Whether the map is drawn from the project's own data only."""
        return not self.tiles


_TIANDITU = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)
_TIANDITU_ATTRIBUTION = '&copy; <a href="https://www.tianditu.gov.cn">天地图 Tianditu</a>'

#: The choices of ``GRIDMAP_BASEMAP``.
BASEMAPS: tuple[str, ...] = ("none", "tianditu", "amap", "osm")


def basemap(name: str = "none", tianditu_key: str | None = None) -> Basemap:
    """The basemap ``name`` (one of :data:`BASEMAPS`).

    Parameters
    ----------
    name
        ``none`` (offline, the default), ``tianditu``, ``amap`` or ``osm``.
    tianditu_key
        The Tianditu API key (``tk``), required for ``tianditu``.

    Raises
    ------
    GridmapError
        For an unknown name, or Tianditu without a key.
    """
    if name == "none":
        return Basemap("none", ())
    if name == "osm":
        return Basemap(
            "osm",
            (
                TileSource(
                    "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "",
                    '&copy; <a href="https://www.openstreetmap.org/copyright">'
                    "OpenStreetMap</a> contributors",
                ),
            ),
        )
    if name == "amap":
        return Basemap(
            "amap",
            (
                TileSource(
                    "https://webrd0{s}.is.autonavi.com/appmaptile"
                    "?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                    "1234",
                    "&copy; 高德地图 AutoNavi",
                ),
            ),
            offset="gcj02",
        )
    if name == "tianditu":
        if not tianditu_key:
            raise GridmapError(
                "the Tianditu basemap needs an API key",
                "set GRIDMAP_TIANDITU_KEY (a key from console.tianditu.gov.cn), "
                "or choose GRIDMAP_BASEMAP=none for the offline basemap",
            )
        # The vector map and its Chinese annotation layer, drawn one over the other.
        return Basemap(
            "tianditu",
            tuple(
                TileSource(_TIANDITU.format(layer=layer, key=tianditu_key), "01234567", attr)
                for layer, attr in (("vec", _TIANDITU_ATTRIBUTION), ("cva", ""))
            ),
        )
    raise GridmapError(
        f"unknown basemap {name!r}", f"set GRIDMAP_BASEMAP to one of: {', '.join(BASEMAPS)}"
    )
