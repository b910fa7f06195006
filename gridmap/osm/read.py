"""Reading an extract: the file into raw layers, and tags out of those layers.

:func:`read_osm` is the only function of :mod:`gridmap.osm` that opens a file
(GDAL's OSM driver, through pyogrio). The driver gives a few tags columns of
their own and packs every other tag into ``other_tags``
(``"k"=>"v","k2"=>"v2"``); :func:`read_tag` looks in whichever holds a key.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.errors import InputError

__all__ = ["OSM_LAYERS", "read_osm", "read_tag", "as_object_array", "area_refs"]

#: The driver's layers gridmap reads.
OSM_LAYERS: tuple[str, ...] = ("points", "lines", "multipolygons")


def read_osm(path: str | Path) -> dict[str, gpd.GeoDataFrame]:
    """Read an OpenStreetMap extract with GDAL's OSM driver.

    Parameters
    ----------
    path
        An ``.osm.pbf`` (or ``.osm`` XML) file.

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        The ``points``, ``lines`` and ``multipolygons`` layers as the driver
        gives them: a few tags as columns, the rest in ``other_tags``
        (``"k"=>"v","k2"=>"v2"``). Areas the extract holds only part of come
        with an empty geometry.

    Raises
    ------
    gridmap.errors.InputError
        If the file is missing or is not an OpenStreetMap file.
    """
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    path = Path(path)
    if not path.is_file():
        raise InputError(
            "the file does not exist", file=str(path), hint="give the path of an .osm.pbf file"
        )
    try:
        driver = pyogrio.read_info(path, layer="points")["driver"]
    except (DataSourceError, DataLayerError) as exc:
        raise InputError(
            f"not an OpenStreetMap file ({_reason(exc)})",
            file=str(path),
            hint="give an .osm.pbf extract, e.g. from download.geofabrik.de",
        ) from None
    if driver != "OSM":
        raise InputError(
            f"not an OpenStreetMap file (GDAL reads it as {driver})",
            file=str(path),
            hint="give an .osm.pbf extract; use `gridmap import` for other formats",
        )
    out = {}
    with warnings.catch_warnings():
        # The edge of an extract cuts areas: GDAL warns of each unclosed ring.
        # Such areas come back empty (on_invalid="ignore") and are counted.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            for name in OSM_LAYERS:
                out[name] = pyogrio.read_dataframe(path, layer=name, on_invalid="ignore")
        except (DataSourceError, DataLayerError) as exc:
            raise InputError(
                f"cannot read the {name} layer of the extract ({_reason(exc)})",
                file=str(path),
                hint="the file may be truncated: download it again",
            ) from None
    return out


def _reason(exc: BaseException) -> str:
    """GDAL's complaint in a few words, without the path it repeats."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "not recognized as being in a supported file format" in text:
        return "GDAL does not recognise its format"
    if "could not be opened" in text:
        return "it has no OSM layers"
    return text.split("; ")[0]


# A quoted value of other_tags; the driver escapes quotes and backslashes in it.
_VALUE = r'"((?:[^"\\]|\\.)*)"'


def read_tag(frame: pd.DataFrame, key: str) -> pd.Series:
    """The value of tag ``key`` in each row of a driver layer, missing as NA.

    Parameters
    ----------
    frame
        A layer of :func:`read_osm` (or any frame with its columns).
    key
        The tag's key (``highway``, ``building:levels`` …).

    Returns
    -------
    pandas.Series
        Text, aligned with ``frame``; NA where the row has no such tag.
    """
    if key in frame.columns and key != "other_tags":
        return frame[key].astype("str")
    if "other_tags" not in frame.columns or frame.empty:
        return pd.Series(pd.NA, index=frame.index, dtype="str")
    pattern = r'(?:^|,)"' + re.escape(key) + r'"=>' + _VALUE
    values = frame["other_tags"].astype("str").str.extract(pattern, expand=False)
    return values.str.replace(r"\\(.)", r"\1", regex=True).astype("str")


def as_object_array(series: pd.Series) -> np.ndarray:
    """A text series as an object array with ``None`` for missing values.

    Parameters
    ----------
    series
        Text with NA (as :func:`read_tag` gives it).
    """
    return series.astype(object).where(series.notna(), None).to_numpy(dtype=object)


def area_refs(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """``("way", id)`` or ``("relation", id)`` of each area of the ``multipolygons`` layer.

    Parameters
    ----------
    frame
        Rows of the ``multipolygons`` layer. The driver gives a closed way's id
        in ``osm_way_id`` and a multipolygon relation's in ``osm_id``.
    """
    way = as_object_array(frame["osm_way_id"]) if "osm_way_id" in frame else [None] * len(frame)
    rel = as_object_array(frame["osm_id"])
    return [
        ("way", str(w)) if w is not None else ("relation", str(r))
        for w, r in zip(way, rel, strict=True)
    ]
