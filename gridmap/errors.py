"""gridmap's errors.

Every error a user can cause is a :class:`GridmapError`: it says what was
wrong, where (file, row, field, code) and what to do. The CLI prints
``str(error)`` on one line and exits with status 2; it never shows a traceback
for these.
"""

from __future__ import annotations

__all__ = [
    "GridmapError",
    "CodeError",
    "InputError",
    "StoreError",
    "StoreBusyError",
    "ConflictError",
    "UnknownLayerError",
]


class GridmapError(Exception):
    """Base class of the errors a user can cause and fix.

    Parameters
    ----------
    what
        What was wrong.
    hint
        What to do about it.
    """

    def __init__(self, what: str, hint: str | None = None) -> None:
        self.what = what
        self.hint = hint
        super().__init__(what)

    def __str__(self) -> str:
        return f"{self.what} — {self.hint}" if self.hint else self.what


class CodeError(GridmapError, ValueError):
    """A unit code that is malformed or does not fit its level or parent."""


class InputError(GridmapError):
    """A file (or a row, or a field of it) that cannot be imported.

    Parameters
    ----------
    what
        What was wrong.
    file
        The file, as the user named it.
    row
        1-based data row (the header is not counted), if the problem is in a row.
    field
        The column, if the problem is in one.
    hint
        What to do about it.
    problems
        Every problem found, one line each, when a whole file was checked: the
        error itself names the first, the CLI lists the rest.
    """

    def __init__(
        self,
        what: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
        hint: str | None = None,
        problems: list[str] | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.field = field
        self.problems: list[str] = problems or []
        super().__init__(what, hint)

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        body = super().__str__()
        return f"{prefix}: {body}" if prefix else body


class StoreError(GridmapError):
    """A store that cannot be opened, read or written."""


class StoreBusyError(StoreError):
    """Another process holds the store's write lock for longer than we wait."""


class ConflictError(StoreError):
    """A row changed since it was read: another user moved the incident first.

    Parameters
    ----------
    what
        What changed.
    current_version
        The row's version now, if it still exists.
    """

    def __init__(self, what: str, current_version: int | None = None, hint: str | None = None):
        self.current_version = current_version
        super().__init__(what, hint or "reload it and try again")


class UnknownLayerError(GridmapError, KeyError):
    """A layer name that is not in the schema."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown layer '{name}'", f"use one of: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return GridmapError.__str__(self)
