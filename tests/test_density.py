"""The heatmap surface: a true kernel sum in incidents per km², independent of the cell size."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from gridmap.density import (
    TRUNCATE,
    DensitySurface,
    density_grid,
    density_surface,
    floor_density,
    legend_breaks,
)
from gridmap.errors import InputError

BOUNDS = (-300.0, -300.0, 1300.0, 1300.0)


def _sample(n: int = 300, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A cluster plus a scatter, in metres."""
    rng = np.random.default_rng(seed)
    k = 2 * n // 3
    x = np.concatenate([rng.normal(500, 80, k), rng.uniform(0, 1000, n - k)])
    y = np.concatenate([rng.normal(400, 60, k), rng.uniform(0, 1000, n - k)])
    return x, y


def _centres(grid: np.ndarray, transform) -> tuple[np.ndarray, np.ndarray]:
    a, _, c, _, e, f = transform
    ny, nx = grid.shape
    return np.meshgrid(c + a * (np.arange(nx) + 0.5), f + e * (np.arange(ny) + 0.5))


def test_the_grid_is_the_gaussian_kernel_sum_per_km2():
    from sklearn.neighbors import KernelDensity

    x, y = _sample()
    radius = 150.0
    sigma = radius / TRUNCATE
    cell = sigma / 10  # binning moves points by ≤ 0.07σ: its error stays well under 1 %
    grid, transform = density_grid(x, y, bounds=BOUNDS, cell_m=cell, radius_m=radius)
    cx, cy = _centres(grid, transform)
    kde = KernelDensity(kernel="gaussian", bandwidth=sigma).fit(np.column_stack([x, y]))
    # score_samples: log density per m² of ONE point; × n points × 10⁶ m² per km².
    exact = np.exp(kde.score_samples(np.column_stack([cx.ravel(), cy.ravel()])))
    exact = exact.reshape(grid.shape) * len(x) * 1e6
    assert np.abs(grid - exact).max() <= 0.01 * exact.max()


def test_density_does_not_depend_on_the_cell_size():
    x, y = _sample()
    surfaces = {
        cell: density_grid(x, y, bounds=BOUNDS, cell_m=cell, radius_m=200.0)
        for cell in (2.5, 5.0, 10.0)
    }
    for cell, (grid, _) in surfaces.items():
        # Integral = number of points (km² per cell × per-km² values).
        assert grid.sum() * cell * cell / 1e6 == pytest.approx(len(x), rel=1e-9)
    fine, coarse = surfaces[2.5][0], surfaces[10.0][0]
    # The same place, the same value: 4 × 4 fine cells average to one coarse cell.
    blocks = fine.reshape(coarse.shape[0], 4, coarse.shape[1], 4).mean(axis=(1, 3))
    assert np.abs(blocks - coarse).max() <= 0.02 * coarse.max()


def test_edges_are_not_reflected_back_in():
    from scipy.stats import norm

    # A point in the first column (binned to its centre, 2.5 m = 0.1σ from the edge):
    # the part of its kernel beyond the edge is dropped, not folded back in (that
    # would keep the whole incident, 1.0).
    grid, _ = density_grid(
        np.array([0.0]), np.array([500.0]), bounds=(0, 0, 1000, 1000), cell_m=5, radius_m=100
    )
    assert grid.sum() * 25 / 1e6 == pytest.approx(norm.cdf(0.1), abs=0.002)


def test_weights_radius_zero_and_out_of_bounds_points():
    x, y = _sample(50)
    plain, _ = density_grid(x, y, bounds=BOUNDS, cell_m=10, radius_m=100)
    double, _ = density_grid(x, y, bounds=BOUNDS, cell_m=10, radius_m=100, weights=np.full(50, 2.0))
    np.testing.assert_allclose(double, 2 * plain)
    # No smoothing: the counts per cell, per km² (one point in a 10 m cell = 10,000 per km²).
    counts, transform = density_grid(
        np.array([5.0, 5.0, 15.0, -1.0, np.nan]),
        np.array([5.0, 5.0, 5.0, 5.0, 5.0]),
        bounds=(0, 0, 20, 20),
        cell_m=10,
        radius_m=0,
    )
    np.testing.assert_array_equal(counts, [[0, 0], [20_000, 10_000]])  # row 0 is north
    assert transform == (10, 0, 0, 0, -10, 20)
    with pytest.raises(InputError):
        density_grid(x, y, bounds=BOUNDS, cell_m=0, radius_m=100)
    with pytest.raises(InputError):
        density_grid(x, y, bounds=(0, 0, 0, 10), cell_m=1, radius_m=100)


def _incidents() -> gpd.GeoDataFrame:
    """600 incidents around 113.0°E 25.8°N, three categories, in the first half of 2025."""
    rng = np.random.default_rng(7)
    n = 600
    x, y = _sample(n, seed=7)
    pts = gpd.GeoSeries.from_xy(x + 500_000, y + 2_850_000, crs="EPSG:32649").to_crs("EPSG:4326")
    return gpd.GeoDataFrame(
        {
            "category": pd.Series(
                rng.choice(["dispute", "city_appearance", "safety_hazard"], n), dtype="str"
            ),
            "reported_at": pd.Timestamp("2025-01-01", tz="UTC")
            + pd.to_timedelta(rng.uniform(0, 181, n), unit="D"),
        },
        geometry=pts,
        crs="EPSG:4326",
    )


def test_density_surface_filters_projects_and_fixes_its_breaks():
    inc = _incidents()
    surface = density_surface(inc, radius_m=200)
    assert isinstance(surface, DensitySurface)
    assert surface.crs.to_epsg() == 32649  # the incidents' UTM zone
    assert surface.n == len(inc)
    assert surface.sigma_m == 50.0 and surface.cell_m == 25.0  # σ/2 by default
    km2 = surface.cell_m**2 / 1e6
    # The default bounds leave a radius of margin: nothing spills, the integral is exact.
    assert surface.grid.sum() * km2 == pytest.approx(len(inc), rel=1e-9)

    # Categories and a half-open time window; a naive time is read in the column's zone.
    some = density_surface(
        inc,
        radius_m=200,
        categories=["dispute"],
        start="2025-02-01",
        end=pd.Timestamp("2025-04-01"),
    )
    when = inc["reported_at"]
    expect = (
        (inc["category"] == "dispute")
        & (when >= pd.Timestamp("2025-02-01", tz="UTC"))
        & (when < pd.Timestamp("2025-04-01", tz="UTC"))
    )
    assert some.n == int(expect.sum()) > 0
    assert some.grid.sum() * km2 == pytest.approx(some.n, rel=1e-9)
    # Same bounds for every filter, so surfaces line up cell for cell.
    assert some.transform == surface.transform and some.grid.shape == surface.grid.shape

    # The breaks: quantiles of the cells at or above the floor, at the analysis
    # resolution, and exposed on the surface.
    assert surface.floor == pytest.approx(1e6 / (np.pi * 200**2))
    np.testing.assert_array_equal(surface.breaks, legend_breaks(surface))
    assert len(surface.breaks) == 5
    assert surface.breaks[-1] == surface.grid.max()
    assert surface.breaks[0] >= surface.floor
    kept = surface.grid[surface.grid >= surface.floor]
    assert np.mean(kept <= surface.breaks[0]) == pytest.approx(0.2, abs=0.01)


def test_legend_breaks_of_a_bare_grid_use_the_non_zero_cells():
    grid = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 0.0]])
    np.testing.assert_array_equal(legend_breaks(grid, k=4), [1, 2, 3, 4])
    np.testing.assert_array_equal(legend_breaks(grid, k=2, floor=2.5), [3, 4])
    assert legend_breaks(np.zeros((3, 3))).size == 0
    assert floor_density(0) == 0


def test_given_bounds_are_in_the_incidents_crs():
    inc = _incidents()
    lon0, lat0, lon1, lat1 = inc.total_bounds
    half = density_surface(inc, radius_m=200, bounds=(lon0, lat0, (lon0 + lon1) / 2, lat1))
    full = density_surface(inc, radius_m=200)
    assert 0 < half.n < full.n
    assert half.grid.shape[1] < full.grid.shape[1]


def test_web_raster_puts_the_density_where_the_incidents_are():
    """On the web map's pixels (Web Mercator, north up) the peak lies over the cluster,
    each pixel reads the surface there (bilinear), and nothing lies outside the clip."""
    import shapely
    from pyproj import Transformer

    from gridmap.density import web_raster

    inc = _incidents()
    surface = density_surface(inc, radius_m=200)
    lon0, lat0, lon1, lat1 = inc.total_bounds
    box = (float(lon0), float(lat0), float(lon1), float(lat1))
    grid, bounds = web_raster(surface, box)
    assert bounds == box and max(grid.shape) >= 512
    rows, cols = grid.shape
    to_web = Transformer.from_crs(4326, 3857, always_xy=True)
    (x0, x1), (y0, y1) = to_web.transform([box[0], box[2]], [box[1], box[3]])
    # The pixel of the surface's peak, found through the projections independently.
    peak = np.unravel_index(np.argmax(surface.grid), surface.grid.shape)
    cx, cy = surface.cell_centres()
    lon, lat = Transformer.from_crs(surface.crs, 4326, always_xy=True).transform(cx[peak], cy[peak])
    px, py = to_web.transform(lon, lat)
    col = int((px - x0) / (x1 - x0) * cols)
    row = int((y1 - py) / (y1 - y0) * rows)
    hot = np.unravel_index(np.argmax(grid), grid.shape)
    assert abs(hot[0] - row) <= 3 and abs(hot[1] - col) <= 3, (hot, (row, col))
    # Bilinear: never above the surface's maximum, and close to it at the peak.
    assert grid.max() <= surface.grid.max() + 1e-9
    assert grid.max() == pytest.approx(surface.grid.max(), rel=0.1)

    # Clipped to the western half: the eastern half is empty.
    west = shapely.box(box[0], box[1], (box[0] + box[2]) / 2, box[3])
    clipped, _ = web_raster(surface, box, clip=west)
    assert clipped[:, -cols // 3 :].max() == 0
    assert clipped[:, : cols // 3].max() > 0
