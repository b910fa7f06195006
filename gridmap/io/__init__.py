"""Users' files in and out: reading them into layer frames, writing layer frames to them.

This is file I/O at the edge: no database here. :func:`read_layer_file` turns
a GeoPackage, GeoJSON, Shapefile (plain or zipped) or CSV file into a frame
shaped exactly like a layer of :mod:`gridmap.schema`, after checking every
row; the caller stores only a frame that passed every check.
:func:`write_layer_file` writes a layer frame as GeoPackage, GeoJSON or CSV.

The package, in the order a file goes through it:

=======================  ==================================================================
module                   what it holds
=======================  ==================================================================
:mod:`~.readers`         :func:`read_layer_file`; :func:`~.readers.read_table` (format by
                         ending, CSV encodings, GeoPackage layer and zip member choice)
:mod:`~.columns`         which file column is which schema column: the user's mapping,
                         case, required columns
:mod:`~.parse`           one cell to a value (text, int, float, yes/no, time), a column to a
                         Series with the store's dtype; the project's one time parser
:mod:`~.checks`          unit codes (level, parent) and keys (unique, new to the store)
:mod:`~.geometry`        CRS and offset, a CSV file's geometry, reprojection, lon/lat range,
                         type fit and repair, inside the district
:mod:`~.problems`        the problems of a file, collected and raised as one InputError
:mod:`~.writers`         :func:`write_layer_file`: schema conforming, GeoPackage, GeoJSON,
                         CSV with ``.csvt``/``.prj`` sidecars
:mod:`~.atomic`          the project's one way to write a file whole or not at all
=======================  ==================================================================

Inner modules use each other only through their public names; so does
:mod:`gridmap.ingest`, which reads incident feeds with the same steps. Errors
name the caller's options with :func:`gridmap.errors.option`, never with a
command-line flag.
"""

from __future__ import annotations

from gridmap.io.atomic import atomic_new_path, atomic_path, write_text_atomic
from gridmap.io.problems import MAX_PROBLEMS
from gridmap.io.readers import READ_FORMATS, read_layer_file
from gridmap.io.writers import WRITE_FORMATS, write_layer_file

__all__ = [
    "READ_FORMATS",
    "WRITE_FORMATS",
    "MAX_PROBLEMS",
    "read_layer_file",
    "write_layer_file",
    "atomic_path",
    "atomic_new_path",
    "write_text_atomic",
]
