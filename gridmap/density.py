"""An honest incident heatmap: kernel density in incidents per km², with a radius in metres.

Browser heatmaps (Leaflet.heat, folium's HeatMap) draw with a radius in screen
pixels and rescale colours to what is on screen, so the same street looks hot at
one zoom level and cold at the next. Here the surface is computed once, in a
metric CRS, at a fixed analysis resolution:

* :func:`density_grid` — points in metres to a raster of density: the points are
  binned into square cells (one compiled pass), then smoothed with a Gaussian
  (:func:`scipy.ndimage.gaussian_filter`, ``mode="constant"``: nothing is
  reflected back in at the edges), then scaled to **incidents per km²**, which
  does not depend on the cell size;
* :func:`density_surface` — incidents (any CRS) to a :class:`DensitySurface`:
  filtered by category and time window, projected to their UTM zone;
* :func:`legend_breaks` — class breaks from the surface at the analysis
  resolution, so one colour means one density at every zoom level;
* :func:`web_raster` — the surface resampled (bilinear) onto a web map's pixels
  (Web Mercator, north up) over a lon/lat box: what a map draws as an image.

The floor
---------
A Gaussian never quite reaches zero inside its reach, so a lone incident leaves
a faint disk as wide as the radius, and most non-zero cells hold crumbs of
tails (10⁻³ incidents per km² and less). Quantiles of those would spend the
legend on crumbs. The surface therefore has a **floor**: ``1 / (π radius²)``
per km², the density of one incident spread evenly over the kernel's disk.
Cells below it are not drawn and take no part in the class breaks. A lone
incident then shows as a disk of about half the radius; two or more within the
radius show as one patch.

The radius
----------
``radius_m`` is the kernel's **reach**: an incident adds to the density up to
``radius_m`` away and not beyond. The kernel is a Gaussian with standard
deviation ``σ = radius_m / 4``, cut off at 4σ (the truncated kernel is
renormalised, so every incident counts exactly once: the surface integrates
to the number of incidents, less any tail beyond the bounds, which is dropped,
never folded back in; the default bounds leave a radius of margin so none is).
Everywhere the radius is shown, it is this reach.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import ndimage

from gridmap.crs import STORAGE_CRS, utm_crs
from gridmap.errors import InputError

__all__ = [
    "TRUNCATE",
    "DensitySurface",
    "density_grid",
    "density_surface",
    "floor_density",
    "legend_breaks",
    "web_raster",
]

#: The kernel is cut off at this many standard deviations: σ = radius / TRUNCATE.
TRUNCATE = 4.0
#: Largest default grid side, in cells (a whole district at 1000 × 1000 is 8 MB).
_MAX_SIDE = 1000
#: Default cells per σ. Binning moves each point to its cell's centre, which
#: lowers sharp peaks: by about 3 % of the maximum at σ = 4 cells, 0.6 % at
#: σ = 10 cells (tests/test_density.py); smoother surfaces err less.
_CELLS_PER_SIGMA = 2.0


# ---------------------------------------------------------------------------
# The raster


def density_grid(
    x_m: np.ndarray,
    y_m: np.ndarray,
    *,
    bounds: tuple[float, float, float, float],
    cell_m: float,
    radius_m: float,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[float, float, float, float, float, float]]:
    """Kernel density of points on a raster, in points per km².

    Parameters
    ----------
    x_m, y_m
        Point coordinates in metres (a projected CRS).
    bounds
        ``(minx, miny, maxx, maxy)`` of the raster, in metres. Points outside are
        left out (they add nothing, not even their tails inside the bounds).
    cell_m
        Cell size in metres. The raster has ``ceil(width / cell_m)`` columns and
        ``ceil(height / cell_m)`` rows, from ``(minx, maxy)`` (north up).
    radius_m
        The kernel's reach in metres (σ = ``radius_m / 4``; see the module
        docstring). 0 means no smoothing (the binned counts, per km²).
    weights
        Optional weight of each point (default 1).

    Returns
    -------
    grid : numpy.ndarray
        ``float64``, shape ``(ny, nx)``, row 0 at the north: the density at each
        cell, in points (or weight) per km².
    transform : tuple
        The affine transform in GDAL/``affine`` order ``(a, b, c, d, e, f)``:
        the corner of column ``col``, row ``row`` is
        ``x = c + a * col``, ``y = f + e * row`` (``a = cell_m``, ``e = -cell_m``).
    """
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if not (cell_m > 0 and math.isfinite(cell_m)):
        raise InputError(f"the cell size must be a positive number of metres, not {cell_m!r}")
    if not (radius_m >= 0 and math.isfinite(radius_m)):
        raise InputError(f"the radius must be a non-negative number of metres, not {radius_m!r}")
    if not (maxx > minx and maxy > miny):
        raise InputError(f"empty bounds {bounds!r}: need minx < maxx and miny < maxy")
    nx = max(1, math.ceil((maxx - minx) / cell_m - 1e-9))
    ny = max(1, math.ceil((maxy - miny) / cell_m - 1e-9))
    x = np.ascontiguousarray(x_m, dtype=np.float64)
    y = np.ascontiguousarray(y_m, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError(f"x and y must be 1-D of one length, got {x.shape} and {y.shape}")
    counts = np.zeros((ny, nx), np.float64)
    if weights is None:
        _bin_kernels()[0](x, y, minx, maxy, 1.0 / cell_m, counts)
    else:
        w = np.ascontiguousarray(weights, dtype=np.float64)
        if w.shape != x.shape:
            raise InputError(f"weights must match the points: {w.shape} vs {x.shape}")
        _bin_kernels()[1](x, y, w, minx, maxy, 1.0 / cell_m, counts)
    sigma = radius_m / TRUNCATE / cell_m
    if sigma > 0:
        # mode="constant": zeros beyond the bounds. The default ("reflect") would
        # fold the kernel's tails back in and inflate the density along the edges.
        smooth = ndimage.gaussian_filter(
            counts, sigma, mode="constant", cval=0.0, truncate=TRUNCATE, output=np.float64
        )
    else:
        smooth = counts
    # Per cell → per m² → per km²: the value no longer depends on the cell size.
    smooth *= 1e6 / (cell_m * cell_m)
    # The filter's floating sums leave ~1e-17 crumbs where the kernel never reached; a
    # zero must mean "no incident within the radius".
    smooth[smooth < 1e-12 * max(float(smooth.max()), 1e-300)] = 0.0
    return smooth, (cell_m, 0.0, minx, 0.0, -cell_m, maxy)


def _bin_py(x, y, x0, y1, inv, out):
    """Add one per point to its cell of ``out`` (north-up); points outside are skipped."""
    ny, nx = out.shape
    for i in range(x.shape[0]):
        fc = (x[i] - x0) * inv
        fr = (y1 - y[i]) * inv
        # Written so NaN fails too (every comparison with NaN is False).
        if fc >= 0.0 and fr >= 0.0 and fc < nx and fr < ny:
            out[int(fr), int(fc)] += 1.0


def _bin_weighted_py(x, y, w, x0, y1, inv, out):
    """As :func:`_bin_py`, adding each point's weight."""
    ny, nx = out.shape
    for i in range(x.shape[0]):
        fc = (x[i] - x0) * inv
        fr = (y1 - y[i]) * inv
        if fc >= 0.0 and fr >= 0.0 and fc < nx and fr < ny:
            out[int(fr), int(fc)] += w[i]


@functools.cache
def _bin_kernels():
    """Compiled binning (one pass, no index arrays: 10⁷ points in tens of ms)."""
    try:
        import numba
    except ImportError as error:  # pragma: no cover - numba is a dependency
        raise ImportError("density needs numba: pip install numba") from error
    jit = numba.njit(cache=True, nogil=True)
    return jit(_bin_py), jit(_bin_weighted_py)


# ---------------------------------------------------------------------------
# The surface of a set of incidents


@dataclass(eq=False)
class DensitySurface:
    """Incident density on a raster in a metric CRS (from :func:`density_surface`).

    Attributes
    ----------
    grid
        Density in incidents per km², shape ``(ny, nx)``, row 0 at the north.
    transform
        Affine transform ``(a, b, c, d, e, f)`` (see :func:`density_grid`).
    crs
        The metric CRS of the raster (the incidents' UTM zone).
    cell_m, radius_m
        Cell size and kernel reach, in metres (σ = ``radius_m / 4``).
    n
        Incidents counted (after the filters, inside the bounds).
    categories, start, end
        The filters applied (``None`` = all).
    breaks
        Fixed class breaks (upper bounds, per km²) from :func:`legend_breaks`.
    """

    grid: np.ndarray
    transform: tuple[float, float, float, float, float, float]
    crs: CRS
    cell_m: float
    radius_m: float
    n: int
    categories: tuple[str, ...] | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    breaks: np.ndarray = field(default_factory=lambda: np.array([]))

    @property
    def floor(self) -> float:
        """Densities below this (per km²) are not drawn: one incident over the kernel's disk."""
        return floor_density(self.radius_m)

    @property
    def sigma_m(self) -> float:
        """The kernel's standard deviation in metres (``radius_m / 4``)."""
        return self.radius_m / TRUNCATE

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return self.grid.shape  # type: ignore[return-value]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the raster, in metres."""
        a, _, c, _, e, f = self.transform
        ny, nx = self.grid.shape
        return (c, f + e * ny, c + a * nx, f)

    def extent(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the raster, in metres (its CRS)."""
        a, _, c, _, e, f = self.transform
        ny, nx = self.grid.shape
        return (c, f + e * ny, c + a * nx, f)

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y of every cell centre (metres), each shaped like :attr:`grid`."""
        a, _, c, _, e, f = self.transform
        ny, nx = self.grid.shape
        xs = c + a * (np.arange(nx) + 0.5)
        ys = f + e * (np.arange(ny) + 0.5)
        return np.meshgrid(xs, ys)

    def summary(self) -> dict[str, Any]:
        """Sizes and the peak, as plain data."""
        return {
            "cells": list(self.grid.shape),
            "cell_m": self.cell_m,
            "radius_m": self.radius_m,
            "incidents": self.n,
            "max_per_km2": float(self.grid.max()) if self.grid.size else 0.0,
            "breaks": [float(b) for b in self.breaks],
        }


def density_surface(
    incidents: gpd.GeoDataFrame,
    *,
    radius_m: float,
    cell_m: float | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    categories: Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
    k: int = 5,
) -> DensitySurface:
    """The density surface of incidents, in incidents per km².

    Parameters
    ----------
    incidents
        Incident points (the ``incidents`` layer: ``category``, ``reported_at``),
        any CRS.
    radius_m
        The kernel's reach in metres (σ = ``radius_m / 4``).
    cell_m
        Cell size in metres; by default half of σ, coarsened so that the longer
        side has at most 1000 cells.
    bounds
        ``(minx, miny, maxx, maxy)`` in the incidents' CRS; by default all the
        incidents' bounds (before the filters, so surfaces of different
        categories or months line up) widened by the radius.
    categories
        Keep these categories only (``None``: all).
    start, end
        Keep incidents reported in ``[start, end)`` (anything
        :class:`pandas.Timestamp` reads; ``None``: open). A naive time is taken
        in the column's time zone.
    k
        Number of legend classes for :attr:`DensitySurface.breaks`.

    Returns
    -------
    DensitySurface
        The surface with its fixed legend breaks.
    """
    if incidents.crs is None:
        raise InputError(
            "the incidents have no CRS", hint="set one (EPSG:4326) before mapping them"
        )
    # 1. The metric CRS and the bounds come from all incidents, before filtering.
    crs = _metric_crs(incidents, bounds)
    if bounds is None:
        if len(incidents) == 0 or incidents.geometry.is_empty.all():
            raise InputError("no incidents to map and no bounds given", hint="pass bounds=…")
        mb = incidents.geometry.to_crs(crs).total_bounds
        mb = (mb[0] - radius_m, mb[1] - radius_m, mb[2] + radius_m, mb[3] + radius_m)
    else:
        # The box's edges are curved in UTM: densify them before taking the bounds.
        box = shapely.segmentize(shapely.box(*bounds), max(bounds[2] - bounds[0], 1e-9) / 16)
        mb = tuple(
            float(v) for v in gpd.GeoSeries([box], crs=incidents.crs).to_crs(crs).total_bounds
        )
    side = max(mb[2] - mb[0], mb[3] - mb[1], 1.0)
    if cell_m is None:
        cell_m = max(radius_m / TRUNCATE / _CELLS_PER_SIGMA, side / _MAX_SIDE, 1.0)
        cell_m = float(math.ceil(cell_m))

    # 2. Filters: categories, then the half-open time window.
    keep = np.ones(len(incidents), bool)
    cats = None if categories is None else tuple(categories)
    if cats is not None:
        keep &= incidents["category"].isin(cats).to_numpy(bool)
    t0, t1 = _window(incidents, start, end)
    if t0 is not None or t1 is not None:
        when = incidents["reported_at"]
        if t0 is not None:
            keep &= (when >= t0).fillna(False).to_numpy(bool)
        if t1 is not None:
            keep &= (when < t1).fillna(False).to_numpy(bool)
    pts = incidents.geometry[keep]
    pts = pts[~(pts.isna() | pts.is_empty)].to_crs(crs)

    # 3. Bin, smooth, scale; then the fixed breaks.
    x, y = pts.x.to_numpy(float), pts.y.to_numpy(float)
    grid, transform = density_grid(x, y, bounds=mb, cell_m=cell_m, radius_m=radius_m)
    # Counted exactly as the binning counts (same arithmetic), for the legend note.
    with np.errstate(invalid="ignore"):
        fc = (x - transform[2]) / cell_m
        fr = (transform[5] - y) / cell_m
    inside = (fc >= 0) & (fr >= 0) & (fc < grid.shape[1]) & (fr < grid.shape[0])
    surface = DensitySurface(
        grid,
        transform,
        crs,
        float(cell_m),
        float(radius_m),
        int(inside.sum()),
        cats,
        t0,
        t1,
    )
    surface.breaks = legend_breaks(surface, k=k)
    return surface


def floor_density(radius_m: float) -> float:
    """The floor of a surface, per km²: one incident spread over a disk of ``radius_m``.

    See "The floor" in the module docstring. 0 for a zero radius.
    """
    return 0.0 if radius_m <= 0 else 1e6 / (math.pi * radius_m * radius_m)


def legend_breaks(
    surface: DensitySurface | np.ndarray, k: int = 5, *, floor: float | None = None
) -> np.ndarray:
    """Class breaks of a density surface, fixed for every zoom level.

    Quantiles of the cells at or above the floor at the analysis resolution —
    never of what a map view shows — so a colour means the same density
    everywhere, at every zoom level and in the export. Cells below the floor
    (and empty cells) are left out: they are not drawn.

    Parameters
    ----------
    surface
        A :class:`DensitySurface` or its grid (per km²).
    k
        Number of classes.
    floor
        Leave out cells below this (per km²); by default the surface's
        :attr:`DensitySurface.floor` (0, i.e. non-zero cells, for a bare grid).

    Returns
    -------
    numpy.ndarray
        Increasing upper bounds in incidents per km² (the last is the maximum);
        empty if the surface is all zero.
    """
    from gridmap.classes import class_breaks  # the one class-break rule of the project

    if isinstance(surface, DensitySurface):
        grid = surface.grid
        floor = surface.floor if floor is None else floor
    else:
        grid = np.asarray(surface)
        floor = 0.0 if floor is None else floor
    values = grid[(grid > 0) & (grid >= floor)]
    return class_breaks(values, k=k, method="quantile")


def _metric_crs(incidents: gpd.GeoDataFrame, bounds: Any) -> CRS:
    """The UTM zone of the incidents (or of the bounds when there are none)."""
    if incidents.crs is not None and incidents.crs.is_projected:
        return CRS.from_user_input(incidents.crs)
    if bounds is not None:
        box = gpd.GeoSeries.from_xy(
            [bounds[0], bounds[2]], [bounds[1], bounds[3]], crs=incidents.crs
        )
        minx, miny, maxx, maxy = box.to_crs(STORAGE_CRS).total_bounds
    else:
        minx, miny, maxx, maxy = incidents.geometry.to_crs(STORAGE_CRS).total_bounds
    return utm_crs((minx + maxx) / 2, (miny + maxy) / 2)


def _window(
    incidents: gpd.GeoDataFrame, start: Any, end: Any
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """``start`` and ``end`` as timestamps comparable with ``reported_at``."""
    if start is None and end is None:
        return None, None
    if "reported_at" not in incidents.columns:
        raise InputError("the incidents have no 'reported_at' column to filter by time")
    tz = getattr(incidents["reported_at"].dtype, "tz", None)

    def conv(value: Any) -> pd.Timestamp | None:
        if value is None:
            return None
        ts = pd.Timestamp(value)
        if tz is not None and ts.tzinfo is None:
            ts = ts.tz_localize(tz)
        elif tz is None and ts.tzinfo is not None:
            ts = ts.tz_convert(None)
        return ts

    return conv(start), conv(end)


# ---------------------------------------------------------------------------
# On a web map


def web_raster(
    surface: DensitySurface,
    bounds: tuple[float, float, float, float],
    *,
    max_px: int = 800,
    min_px: int = 512,
    px_per_cell: float = 2.0,
    clip: shapely.Geometry | None = None,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The surface on a web map's pixels over a lon/lat box (for an image overlay).

    A web map stretches an image between two lon/lat corners in Web Mercator
    (EPSG:3857), north up; the surface is a UTM raster, turned against north by
    the meridian convergence. Each pixel's centre is therefore taken back to the
    surface's CRS and the density read there by bilinear interpolation: the
    image is smooth (no cell staircase) and lies where the incidents are.

    Parameters
    ----------
    surface
        From :func:`density_surface`.
    bounds
        ``(west, south, east, north)`` in degrees (EPSG:4326).
    max_px, min_px
        Bounds of the image's longest side, in pixels: at least ``min_px`` so a
        small unit, seen full-screen, is still smooth when the browser scales it.
    px_per_cell
        Pixels per surface cell along the longer side (within the bounds above).
    clip
        A lon/lat (multi)polygon: pixels whose centre lies outside are 0 (the
        kernel spills over a unit's edge; the map shows the unit's own).

    Returns
    -------
    grid : numpy.ndarray
        Density per km², shape ``(rows, cols)``, row 0 at the north; 0 off the surface.
    bounds : tuple
        The ``bounds`` given (the image spans them exactly).
    """
    from pyproj import Transformer

    west, south, east, north = (float(v) for v in bounds)
    to_web = Transformer.from_crs(STORAGE_CRS, "EPSG:3857", always_xy=True)
    (x0, x1), (y0, y1) = to_web.transform([west, east], [south, north])
    side_m = max(x1 - x0, y1 - y0) * math.cos(math.radians((south + north) / 2))
    longest = int(min(max_px, max(min_px, math.ceil(px_per_cell * side_m / surface.cell_m))))
    scale = longest / max(x1 - x0, y1 - y0)
    cols, rows = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    xs = x0 + (np.arange(cols) + 0.5) * (x1 - x0) / cols
    ys = y1 - (np.arange(rows) + 0.5) * (y1 - y0) / rows
    gx, gy = np.meshgrid(xs, ys)
    to_surface = Transformer.from_crs("EPSG:3857", surface.crs, always_xy=True)
    mx, my = to_surface.transform(gx.ravel(), gy.ravel())
    a, _, c, _, e, f = surface.transform
    # Fractional (row, column) of each pixel centre, cell centres at whole numbers.
    col = (np.asarray(mx) - c) / a - 0.5
    row = (np.asarray(my) - f) / e - 0.5
    values = ndimage.map_coordinates(
        surface.grid, [row, col], order=1, mode="constant", cval=0.0, prefilter=False
    )
    values = values.reshape(rows, cols)
    if clip is not None:
        lon, lat = to_web.transform(gx.ravel(), gy.ravel(), direction="INVERSE")
        inside = shapely.contains_xy(clip, np.asarray(lon), np.asarray(lat)).reshape(rows, cols)
        values = np.where(inside, values, 0.0)
    return values, (west, south, east, north)
