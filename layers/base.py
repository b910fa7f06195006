"""Layer specs: what a map layer shows, independent of who draws it.

A :class:`LayerSpec` is features (a GeoDataFrame in EPSG:4326), each with its
style as data (a ``_style`` dict of Leaflet path options) and a ``_tooltip``
text, plus a :class:`Legend`. Class breaks and colours are computed once, here
in Python, so the Dash map and the folium export colour the same feature the
same way: both only read ``_style``.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely

# The class-break rule is the core's (the density surface uses it too); the
# layers re-export it, since it is how they colour.
from gridmap.classes import NO_DATA, class_breaks, classify

__all__ = [
    "NO_DATA",
    "PALETTES",
    "LayerSpec",
    "Legend",
    "RasterImage",
    "LegendItem",
    "class_breaks",
    "classify",
    "range_labels",
    "round_coordinates",
]

#: Sequential palettes (light to dark), ColorBrewer 2.0 (Apache 2.0), 5 classes, by
#: name; which meaning takes which is :data:`layers.palette.SCHEMES`.
PALETTES: dict[str, tuple[str, ...]] = {
    "YlOrRd": ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"),
    "YlGn": ("#ffffcc", "#c2e699", "#78c679", "#31a354", "#006837"),
    "Blues": ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"),
    "RdYlGn": ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"),
    "Purples": ("#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f"),
    "BuGn": ("#ccece6", "#99d8c9", "#66c2a4", "#2ca25f", "#006d2c"),
}


@dataclass(frozen=True)
class LegendItem:
    """One entry of a legend: a swatch and its label."""

    label: str
    color: str
    #: How the swatch is drawn: ``fill`` (a square), ``line``, ``point`` or
    #: ``gap`` (an empty square with a dashed outline: :func:`layers.palette.gap_style`).
    kind: str = "fill"


@dataclass(frozen=True)
class Legend:
    """A layer's legend: every layer has one.

    Parameters
    ----------
    title
        What the colours mean (with the unit).
    items
        The swatches, in reading order.
    note
        A line under the items, e.g. that the data are synthetic.
    """

    title: str
    items: tuple[LegendItem, ...]
    note: str | None = None

    def to_dict(self) -> dict:
        """The legend as plain data (for the app and the export)."""
        return {
            "title": self.title,
            "items": [{"label": i.label, "color": i.color, "kind": i.kind} for i in self.items],
            "note": self.note,
        }


@dataclass(frozen=True)
class RasterImage:
    """A picture stretched over a lon/lat box (Leaflet's ImageOverlay, in both renderers).

    Parameters
    ----------
    png
        The image, PNG-encoded (RGBA; transparent where nothing is drawn).
    bounds
        ``(west, south, east, north)`` in degrees (EPSG:4326).
    opacity
        Of the whole image, on top of each pixel's own alpha.
    """

    png: bytes
    bounds: tuple[float, float, float, float]
    opacity: float = 1.0

    def url(self) -> str:
        """The image as a ``data:`` URL: it travels with the layer, nothing to fetch."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def corners(self) -> list[list[float]]:
        """``[[south, west], [north, east]]``, as Leaflet takes bounds."""
        west, south, east, north = self.bounds
        return [[south, west], [north, east]]


def png_rgba(rgba: np.ndarray) -> bytes:
    """An ``(rows, cols, 4)`` ``uint8`` array as a PNG file (8-bit RGBA, no interlace).

    PNG's own structure (signature, IHDR, one zlib-compressed IDAT, IEND): a map
    overlay needs nothing more, and no imaging library is installed for it.
    """
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"expected (rows, cols, 4) RGBA, got shape {rgba.shape}")
    rows, cols = rgba.shape[:2]

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    # Each scanline starts with its filter type (0: none); zlib does the rest,
    # and the large transparent runs cost next to nothing.
    raw = np.concatenate([np.zeros((rows, 1), np.uint8), rgba.reshape(rows, cols * 4)], axis=1)
    header = struct.pack(">IIBBBBB", cols, rows, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


@dataclass
class LayerSpec:
    """A map layer: features with their style and tooltip, and a legend.

    Parameters
    ----------
    id
        A stable identifier (used for component ids and file names).
    title
        The layer's name as users see it.
    features
        EPSG:4326 features with a ``_style`` column (dict of Leaflet path
        options: ``color``, ``weight``, ``fillColor``, ``fillOpacity``,
        ``radius`` …) and a ``_tooltip`` column (text).
    legend
        The legend.
    kind
        ``polygon``, ``line``, ``point`` (points are drawn as circle markers) or
        ``image`` (no features: the layer is :attr:`image`).
    image
        The picture of an ``image`` layer.
    """

    id: str
    title: str
    features: gpd.GeoDataFrame
    legend: Legend
    kind: str = "polygon"
    properties: Sequence[str] = field(default_factory=tuple)
    image: RasterImage | None = None

    def __post_init__(self) -> None:
        missing = {"_style", "_tooltip"} - set(self.features.columns)
        if missing:
            raise ValueError(f"layer '{self.id}' lacks the columns {sorted(missing)}")
        if self.features.crs is None or self.features.crs.to_epsg() != 4326:
            raise ValueError(f"layer '{self.id}' must be in EPSG:4326")
        if (self.kind == "image") != (self.image is not None):
            raise ValueError(f"layer '{self.id}': an image, and only an image layer, has an image")

    def drawn_features(self) -> gpd.GeoDataFrame:
        """The features a map draws: those with a geometry that is not empty.

        Both renderers draw these and only these, so they carry the same features.
        """
        geoms = self.features.geometry
        keep = (geoms.notna() & ~geoms.is_empty).to_numpy(bool)
        return self.features if keep.all() else self.features[keep]

    def to_geojson(self, precision: int = 6) -> dict:
        """A GeoJSON FeatureCollection whose properties carry ``_style`` and ``_tooltip``.

        Only the named ``properties`` travel besides the style and tooltip, so
        the browser gets no more than it draws.

        Parameters
        ----------
        precision
            Decimals kept of each coordinate: 6 (about 0.1 m) by default, a
            third fewer bytes than full doubles and nothing visible lost.
        """
        keep = [*self.properties, "_style", "_tooltip"]
        frame = self.drawn_features()[[*keep, "geometry"]].copy()
        frame["geometry"] = round_coordinates(frame.geometry.to_numpy(), precision)
        return json.loads(frame.to_json(drop_id=True, to_wgs84=False))


def round_coordinates(geoms: np.ndarray, precision: int = 6) -> np.ndarray:
    """Geometries with every coordinate rounded to ``precision`` decimals (for sending)."""
    return shapely.transform(geoms, lambda xy: np.round(xy, precision))


def range_labels(breaks: np.ndarray, fmt: str = "{:.0f}", lower: float | None = None) -> list[str]:
    """Labels ``a – b`` of the classes defined by ``breaks``."""
    labels = []
    low = lower
    for b in breaks:
        labels.append(
            f"≤ {fmt.format(b)}" if low is None else f"{fmt.format(low)} – {fmt.format(b)}"
        )
        low = b
    return labels
