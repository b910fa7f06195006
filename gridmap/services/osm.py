"""An OpenStreetMap extract into a store: read, convert, write in one transaction.

The core (:mod:`gridmap.osm`) reads the file and converts it without a store;
this service reads what the store already holds (its hierarchy and building
codes), refuses an extract the store holds already, and writes the result.
``gridmap import-osm`` calls :func:`import_osm`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from gridmap.audit import AuditEntry
from gridmap.codes import check_code
from gridmap.errors import CodeError, InputError, option
from gridmap.osm import STAGES, EstimateFactors, ImportReport, convert_osm, read_osm
from gridmap.store import Store, is_database_url, open_store

__all__ = ["STAGES", "import_osm"]


def import_osm(
    store: str,
    path: str | Path,
    *,
    replace: bool = False,
    name: str | None = None,
    district_code: str | None = None,
    grid_size: float | None = None,
    factors: EstimateFactors | None = None,
    progress: Callable[[str], None] | None = None,
    audit: AuditEntry | None = None,
) -> ImportReport:
    """Import an OSM extract into a store, in one transaction.

    Roads, buildings and facilities are appended (or, with ``replace``, replace
    those layers); a hierarchy is generated when the store has no district.
    A store that does not exist is created, and removed again if the import
    fails.

    Parameters
    ----------
    store
        The store's address (``.gpkg`` path or ``postgresql://`` URL).
    path
        The ``.osm.pbf`` file.
    replace, name, district_code, grid_size, factors
        As for :func:`gridmap.osm.convert_osm`.
    progress
        Called with each stage's name (:data:`gridmap.osm.STAGES`) once it is done.
    audit
        The audit row of the import, written in the import's transaction.

    Returns
    -------
    gridmap.osm.ImportReport

    Raises
    ------
    gridmap.errors.CodeError
        If ``district_code`` is not a district code (checked before the file is read).
    gridmap.errors.InputError
        If the file cannot be read, buildings fall outside the store's grids, or
        the extract was imported into the store before (without ``replace``).
    """
    tick = progress or (lambda stage: None)
    path = Path(path)
    if district_code is not None:
        try:
            check_code(district_code, "district")
        except CodeError as exc:
            raise CodeError(f"{option('district_code')}: {exc.what}", exc.hint) from None
    raw = read_osm(path)
    tick("read")
    created = not is_database_url(store) and not Path(store).exists()
    try:
        with open_store(store, create=True) as st:
            existing = {"districts": st.read("districts", columns=["code"])}
            if len(existing["districts"]):
                existing["grids"] = st.read("grids", columns=["code"])
                existing["buildings"] = st.read("buildings", columns=["code"])
            result = convert_osm(
                raw,
                source=path.name,
                existing=existing,
                replace=replace,
                name=name,
                district_code=district_code,
                grid_size=grid_size,
                factors=factors,
                progress=tick,
            )
            if not replace:
                _refuse_reimport(st, result.frames)
            st.write(
                result.frames,
                mode="replace" if replace else "append",
                metadata=result.metadata,
                audit=audit,
            )
            tick("write")
    except BaseException:
        # A store this call created holds nothing worth keeping from a failed import.
        if created and Path(store).exists():
            Path(store).unlink()
        raise
    result.report.store = str(store)
    return result.report


def _refuse_reimport(st: Store, frames: Mapping[str, pd.DataFrame]) -> None:
    """Refuse, in one clear line, an extract whose OSM ids the store already has."""
    for layer, key in (("roads", "id"), ("facilities", "id")):
        new = set(frames[layer][key])
        old = st.keys(layer) & new
        if old:
            raise InputError(
                f"{len(old):,} {layer} of this extract are in the store already (e.g. {min(old)})",
                hint=f"it was imported before: add {option('replace')} to replace roads, "
                "buildings and facilities",
            )
