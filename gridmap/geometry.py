"""Geometry repairs shared by the importers and the hierarchy generator."""

from __future__ import annotations

import numpy as np
import shapely

__all__ = ["as_multipolygons"]


def as_multipolygons(geoms: np.ndarray) -> np.ndarray:
    """Repair polygons and keep their polygonal parts as MultiPolygons.

    Parameters
    ----------
    geoms
        Polygons, MultiPolygons or collections holding them; ``None`` allowed.

    Returns
    -------
    numpy.ndarray
        Object array of MultiPolygons, ``None`` where nothing polygonal is left
        (a missing or empty geometry, or one that repairs to lines only).
    """
    out = np.empty(len(geoms), dtype=object)
    fixed = shapely.make_valid(geoms)
    for i, g in enumerate(fixed):
        if g is None or g.is_empty:
            out[i] = None
            continue
        # make_valid may return a collection mixing polygons with the lines
        # and points a self-touching ring collapses to: keep the polygons.
        parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        polys = [q for p in parts for q in shapely.get_parts(p)]
        out[i] = shapely.MultiPolygon(polys) if polys else None
    return out
