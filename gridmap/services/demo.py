"""The demo district into a store: built by :mod:`gridmap.demo`, written whole.

:func:`check_out` checks where the demo is to go before the work starts, so
a wrong address fails in a second rather than after the build;
:func:`holds_district` tells whether a store already holds a district (a
container's start-up loads the demo only into an empty database);
:func:`write_demo` builds the demo and writes it as the store's whole
content, with a progress bar over the rows written.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from gridmap.demo import build_demo, data_as_of, resolve_district
from gridmap.errors import InputError, option
from gridmap.io.atomic import atomic_path
from gridmap.services.accounts import demo_accounts, local_actor
from gridmap.store import is_database_url, open_store

__all__ = ["DemoReport", "check_out", "holds_district", "write_demo"]


@dataclass(frozen=True)
class DemoReport:
    """What :func:`write_demo` wrote.

    Parameters
    ----------
    code, name
        The district's adcode and name.
    seed
        The random seed the demo was built with.
    as_of
        When its incidents end (UTC): the data's "now", recorded in the
        store's ``metadata`` (:func:`gridmap.demo.data_as_of`).
    counts
        Rows written per layer (the ``metadata`` table aside), in the store's order.
    residents
        Residents of all buildings (synthetic).
    seconds
        Time to build and write, in seconds.
    accounts
        The demo's accounts (one per role) and its wall token, with their
        passwords and token (:func:`gridmap.services.accounts.demo_accounts`).
    """

    code: str
    name: str
    seed: int
    as_of: pd.Timestamp
    counts: dict[str, int]
    residents: int
    seconds: float
    accounts: list[dict]


def check_out(out: str) -> bool:
    """Check that ``out`` can take the demo, before any work is done.

    Parameters
    ----------
    out
        A ``.gpkg`` path in an existing folder, or a ``postgresql://`` URL.
        A database is connected to and its schema created, so that a wrong
        URL or a refused login fails now.

    Returns
    -------
    bool
        Whether ``out`` is a database (else a GeoPackage file).

    Raises
    ------
    gridmap.errors.InputError
        If ``out`` is neither a ``.gpkg`` path nor a database URL, or its folder
        does not exist.
    gridmap.errors.StoreError
        If the database cannot be opened.
    """
    if is_database_url(out):
        open_store(out, create=True).close()
        return True
    path = Path(out)
    if path.suffix.lower() != ".gpkg":
        raise InputError(
            f"{option('out', out)} is neither a .gpkg file nor a postgresql:// URL",
            hint="name the file NAME.gpkg",
        )
    if not path.parent.exists():
        raise InputError(
            f"the folder of {option('out', out)} does not exist", hint="create it first"
        )
    return False


def holds_district(out: str) -> bool:
    """Whether the store at ``out`` exists and holds a district.

    Parameters
    ----------
    out
        A ``.gpkg`` path (which need not exist) or a ``postgresql://`` URL.

    Raises
    ------
    gridmap.errors.StoreError
        If there is a file at ``out`` that is not a gridmap store, or the
        database cannot be read.
    """
    if not is_database_url(out) and not Path(out).exists():
        return False
    with open_store(out) as store:
        return store.count("districts") > 0


def write_demo(
    out: str | Path,
    district: str = "431002",
    *,
    seed: int = 0,
    as_of: object = None,
    progress: bool = True,
) -> DemoReport:
    """Build the demo district and write it as the whole content of the store at ``out``.

    Parameters
    ----------
    out
        A ``postgresql://`` URL, whose tables are replaced in one transaction,
        or a ``.gpkg`` path: written beside it and moved onto it when complete
        (:func:`gridmap.io.atomic.atomic_path`), so an existing file is
        replaced whole, or kept as it was if anything fails.
    district
        Adcode or name of a demo district (:data:`gridmap.demo.DISTRICTS`).
    seed
        Random seed: the same seed and ``as_of`` give the same data.
    as_of
        When the incidents end, a timezone-aware instant; ``None``: now
        (:func:`gridmap.demo.build_demo`).
    progress
        Show progress bars on stderr: one over the build's stages, one over
        the rows written.

    Returns
    -------
    DemoReport
        What was written, and how long it took.

    Raises
    ------
    gridmap.errors.GridmapError
        If the district is not a demo district, or ``as_of`` not an instant.
    gridmap.errors.StoreError
        If the store cannot be written.
    """
    code = resolve_district(district)
    t0 = time.perf_counter()
    layers = build_demo(code, seed=seed, as_of=as_of, progress=progress)
    built_as_of = data_as_of(layers["metadata"])
    metadata = layers.pop("metadata").to_dict("records")
    total = sum(len(frame) for frame in layers.values())
    with tqdm(
        total=total,
        desc="write",
        unit="row",
        unit_scale=True,
        disable=not progress,
        file=sys.stderr,
    ) as bar:

        def advance(name: str, rows: int) -> None:
            bar.set_postfix_str(name)
            bar.update(rows)

        # The demo is written by the local admin (the OS user), and gets one
        # account per role and a wall token (gridmap.services.accounts.demo_accounts).
        actor = local_actor()
        entry = actor.entry(
            "import", "demo", district=code, seed=seed, as_of=built_as_of.isoformat()
        )
        if is_database_url(out):
            with open_store(out) as store:
                store.replace_all(layers, metadata=metadata, progress=advance, audit=entry)
                accounts = demo_accounts(store, actor)
        else:
            with atomic_path(out) as tmp, open_store(tmp, create=True) as store:
                store.write(
                    layers, mode="replace", metadata=metadata, progress=advance, audit=entry
                )
                accounts = demo_accounts(store, actor)
    return DemoReport(
        code=code,
        name=str(layers["districts"]["name"].iloc[0]),
        seed=seed,
        as_of=built_as_of,
        counts={name: len(frame) for name, frame in layers.items()},
        residents=int(layers["buildings"]["population"].sum()),
        seconds=time.perf_counter() - t0,
        accounts=accounts,
    )
