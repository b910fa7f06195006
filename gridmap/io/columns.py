"""Which column of a user's file is which column of the layer.

The user renames columns with a mapping (``{"file column": "schema column"}``);
a column that differs from the schema's only in case is taken as it; the
layer's required columns must then all be there. Every function returns or
keeps ``sources``, the schema name -> file name of each renamed column, so
that problems name the column as the user's file does.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from gridmap.errors import option
from gridmap.io.problems import file_error
from gridmap.schema import Layer

__all__ = ["map_columns", "check_columns"]


def map_columns(
    frame: pd.DataFrame,
    mapping: Mapping[str, str] | None,
    lay: Layer,
    *,
    file: str,
    csv_geometry: bool,
    notes: list[str],
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Name the file's columns as the layer's: trimmed, renamed as mapped, case matched.

    Parameters
    ----------
    frame
        The file's table as read.
    mapping
        ``{"file column": "schema column"}``, from the user.
    lay
        The layer the file holds.
    file
        The file, as the user named it (for errors).
    csv_geometry
        Whether the geometry comes from the table's own columns (a CSV file of
        a spatial layer): then a column may also be mapped to ``geometry``,
        ``lon`` or ``lat``.
    notes
        Where a column taken by its case is noted.

    Returns
    -------
    frame : pandas.DataFrame
        The table with its columns renamed.
    sources : dict
        Schema name -> the file's name, for each column the file names otherwise.

    Raises
    ------
    gridmap.errors.InputError
        For a mapping from a column the file lacks, to a column the layer
        lacks, of two columns to one, or onto a column the file already has.
    """
    frame = frame.set_axis([str(c).strip() for c in frame.columns], axis=1)
    frame, sources = _apply_mapping(frame, mapping, lay, file, csv_geometry)
    return _match_case(frame, sources, lay, notes)


def _apply_mapping(
    frame: pd.DataFrame,
    mapping: Mapping[str, str] | None,
    lay: Layer,
    file: str,
    csv_geometry: bool,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename the file's columns as the user mapped them; return target -> source names."""
    if not mapping:
        return frame, {}
    targets = list(lay.column_names) + (["geometry", "lon", "lat"] if csv_geometry else [])
    columns = list(frame.columns)
    seen: dict[str, str] = {}
    for src, dst in mapping.items():
        given = option("maps", f"{src}={dst}")
        if src not in columns:
            raise file_error(
                f"{given}: the file has no column '{src}'",
                file=file,
                hint=f"its columns are: {', '.join(columns)}",
            )
        if dst not in targets:
            raise file_error(
                f"{given}: '{dst}' is not a column of layer '{lay.name}'",
                file=file,
                hint=f"map to one of: {', '.join(targets)}",
            )
        if dst in seen:
            raise file_error(
                f"{option('maps')} maps both '{seen[dst]}' and '{src}' to '{dst}'",
                file=file,
                hint="map one column to each target",
            )
        if dst in columns and dst != src and dst not in mapping:
            raise file_error(
                f"{given}: the file already has a column '{dst}'",
                file=file,
                hint=f"map '{dst}' to another column too, or drop {given}",
            )
        seen[dst] = src
    renamed = {dst: src for dst, src in seen.items() if dst != src}
    return frame.rename(columns=dict(mapping)), renamed


def _match_case(
    frame: pd.DataFrame, sources: dict[str, str], lay: Layer, notes: list[str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Take a column differing only in case (shapefiles often say CODE) as the schema's."""
    present = set(frame.columns)
    renames: dict[str, str] = {}
    for name in lay.column_names:
        if name in present:
            continue
        matches = [c for c in frame.columns if c.lower() == name.lower() and c not in renames]
        if len(matches) == 1 and matches[0] not in lay.column_names:
            renames[matches[0]] = name
    if renames:
        notes.append(
            "read columns " + ", ".join(f"'{src}' as '{dst}'" for src, dst in renames.items())
        )
        sources = {**sources, **{dst: src for src, dst in renames.items()}}
    return frame.rename(columns=renames), sources


def check_columns(frame: pd.DataFrame, lay: Layer, file: str, notes: list[str]) -> None:
    """Refuse a table lacking a required column of the layer; note the columns ignored.

    Parameters
    ----------
    frame
        The table, columns named as the schema's (:func:`map_columns`), the
        geometry columns of a CSV file already taken out.
    lay
        The layer the file holds.
    file
        The file, as the user named it (for errors).
    notes
        Where the columns that are not the layer's are noted.

    Raises
    ------
    gridmap.errors.InputError
        Naming the missing columns and the file's own.
    """
    missing = [c.name for c in lay.columns if c.required and c.name not in frame.columns]
    if missing:
        raise file_error(
            f"the file lacks the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} of layer '{lay.name}'",
            file=file,
            hint=f"the file's columns are: {', '.join(map(str, frame.columns)) or 'none'}; "
            f"rename them with {option('maps', 'source=target')}",
        )
    extra = [c for c in frame.columns if c not in lay.column_names]
    if extra:
        notes.append(f"ignored columns: {', '.join(map(str, extra))}")
