"""Writing a file so that it is there whole or not at all: the project's one way.

Everything is written to a temporary file in the target's own folder (a rename
is atomic only within one file system) and moved onto the target only when
the writing succeeded; on any failure the temporary file is removed and the
target is left as it was.

:func:`atomic_path`
    Replace the target (``os.replace``): exports, reports, result tables.
:func:`atomic_new_path`
    Create the target, never replacing one that exists (``os.link``): a new
    store that two processes may create at once.
:func:`write_text_atomic`
    The common case of :func:`atomic_path`: a text file in one go.

This module needs only the standard library, so any ring may use it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_new_path", "write_text_atomic", "temporary_sibling"]


def temporary_sibling(target: str | os.PathLike, suffix: str | None = None) -> Path:
    """A hidden, unused name beside ``target`` for writing it.

    Parameters
    ----------
    target
        The file that will be written.
    suffix
        The temporary file's ending; default the target's own. GDAL chooses
        its driver by the ending, so a GeoPackage stays ``….gpkg``.

    Returns
    -------
    pathlib.Path
        ``.STEM.TOKEN.tmpSUFFIX`` in the target's folder. The random token
        keeps two writers (processes or threads) of one target apart.
    """
    path = Path(target)
    ending = path.suffix if suffix is None else suffix
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{ending}")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``target``, moved onto it only if the block succeeds.

    Parameters
    ----------
    target
        The file to write; an existing one is replaced, at once and whole.
    suffix
        The temporary file's ending (see :func:`temporary_sibling`).

    Yields
    ------
    pathlib.Path
        Where to write. It does not exist yet; the block may create it in any
        way (``open``, GDAL, SQLite).

    Notes
    -----
    If the block raises, or the final rename fails, the temporary file is
    removed and ``target`` is untouched. Nested ``atomic_path`` blocks (an
    :class:`contextlib.ExitStack` of them) give several files that are all
    moved into place, innermost first, only when every one was written.

    Examples
    --------
    >>> with atomic_path("report.csv") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("row,reason\\n")
    """
    final = Path(target)
    tmp = temporary_sibling(final, suffix)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        # After a successful replace the name is gone; otherwise this is the
        # half-written file (or nothing, if the block never created it).
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_new_path(target: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Like :func:`atomic_path`, but never replaces a ``target`` that exists.

    Parameters
    ----------
    target
        The file to create.
    suffix
        The temporary file's ending (see :func:`temporary_sibling`).

    Yields
    ------
    pathlib.Path
        Where to build the file.

    Raises
    ------
    FileExistsError
        If ``target`` exists when the block is done (someone else created it
        meanwhile): their file is kept and ours is removed.

    Notes
    -----
    The file is hard-linked into place, which fails rather than replace an
    existing name: two processes creating one file both finish, with the
    first one's file. (It needs a file system with hard links.)
    """
    final = Path(target)
    tmp = temporary_sibling(final, suffix)
    try:
        yield tmp
        os.link(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(
    target: str | os.PathLike, text: str, *, encoding: str = "utf-8", newline: str | None = None
) -> Path:
    """Write ``text`` to ``target`` whole, replacing it only once the text is written.

    Parameters
    ----------
    target
        The file to write.
    text
        Its whole content.
    encoding
        The text encoding (``"utf-8-sig"`` adds the BOM spreadsheets look for).
    newline
        As for :func:`open`: ``None`` writes ``\\n`` as the platform's line
        ending, ``""`` writes it unchanged.

    Returns
    -------
    pathlib.Path
        ``target``.
    """
    final = Path(target)
    with atomic_path(final) as tmp, open(tmp, "w", encoding=encoding, newline=newline) as f:
        f.write(text)
    return final
