"""Class breaks: how a measure is cut into the classes of a map's legend.

One rule for the whole project, so that the choropleths, the incident density
surface and both renderers (the dashboard and the HTML export) cut the same
values at the same places. Colours are picked by class from a palette
(:func:`classify`); the palettes themselves live with the layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["NO_DATA", "class_breaks", "classify"]

#: The colour of features without a value.
NO_DATA = "#bdbdbd"


def class_breaks(values: Sequence[float], k: int = 5, method: str = "quantile") -> np.ndarray:
    """Upper bounds of ``k`` classes of ``values`` (the last is the maximum).

    Parameters
    ----------
    values
        The measure; NaN values are ignored.
    k
        Number of classes.
    method
        ``quantile`` (equal counts) or ``equal`` (equal widths).

    Returns
    -------
    numpy.ndarray
        Increasing, de-duplicated upper bounds (fewer than ``k`` when values repeat).

    Notes
    -----
    Quantile breaks are observed values (not interpolated), so labels show
    real figures. Each is the value whose count of values at or below it is
    nearest ``i·n/k``: with distinct values every class then holds ``n/k``
    values give or take one. (The plain inverted-CDF quantile puts a whole run
    of equal values into the class below, however long the run.) Values equal
    to a break are in its class (:func:`classify`), so a run of ties is never split.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return np.array([])
    if method == "quantile":
        uniq, counts = np.unique(v, return_counts=True)
        at_or_below = np.cumsum(counts)
        targets = len(v) * np.arange(1, k) / k
        # argmin takes the first of two equally near: the lower break.
        nearest = np.abs(at_or_below[None, :] - targets[:, None]).argmin(axis=1)
        bounds = np.append(uniq[nearest], uniq[-1])
    elif method == "equal":
        bounds = np.linspace(v.min(), v.max(), k + 1)[1:]
    else:
        raise ValueError(f"unknown class-break method {method!r}: use quantile or equal")
    return np.unique(bounds)


def classify(values: Sequence[float], breaks: np.ndarray, palette: Sequence[str]) -> list[str]:
    """The colour of each value: the palette colour of its class (NO_DATA for NaN).

    The palette is stretched over the classes so the darkest colour is the top class.
    """
    v = np.asarray(values, dtype=float)
    if not len(breaks):
        return [NO_DATA] * len(v)
    cls = np.searchsorted(breaks, v, side="left").clip(0, len(breaks) - 1)
    idx = np.round(np.linspace(0, len(palette) - 1, len(breaks))).astype(int)
    colors = np.asarray(palette, dtype=object)[idx][cls]
    return [NO_DATA if not np.isfinite(x) else c for x, c in zip(v, colors, strict=True)]
