"""gridmap's errors.

Every error a user can cause is a :class:`GridmapError`: it says what was
wrong, where (file, row, field, code) and what to do. The CLI prints
``str(error)`` on one line and exits with status 2; it never shows a traceback
for these.

The core never names a command-line flag: an error that tells the user to give
an option names it with :func:`option`, which the CLI shows as its flag
(``--crs EPSG:4326``) and a Python caller as the keyword (``crs=EPSG:4326``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "option",
    "render_options",
    "GridmapError",
    "CodeError",
    "InputError",
    "StoreError",
    "StoreBusyError",
    "ConflictError",
    "UnknownLayerError",
    "AccessError",
    "AuthError",
]


#: An option named in an error text: ``⟨name⟩`` or ``⟨name=value⟩``.
_OPTION = re.compile(r"⟨([a-z][a-z0-9_]*)(?:=([^⟩]*))?⟩")


def option(name: str, value: object = None) -> str:
    """Name an option of the caller in an error text, without knowing who the caller is.

    Parameters
    ----------
    name
        The option's Python name (the CLI's flag is derived from it, ``grid_size``
        -> ``--grid-size``).
    value
        A value to show with it, if any.

    Returns
    -------
    str
        A token that :func:`render_options` turns into ``--grid-size 250`` for
        the CLI or ``grid_size=250`` for Python callers.
    """
    return f"⟨{name}⟩" if value is None else f"⟨{name}={value}⟩"


def render_options(text: str, flags: Mapping[str, str] | None = None) -> str:
    """``text`` with its :func:`option` tokens as flags (``flags``: name -> flag) or keywords.

    Parameters
    ----------
    text
        A message that may hold :func:`option` tokens.
    flags
        The CLI's flags by option name; a name not in it (or ``None``) is shown
        as a Python keyword.
    """

    def one(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        if flags is not None and name in flags:
            return flags[name] if value is None else f"{flags[name]} {value}"
        return f"{name}=" if value is None else f"{name}={value}"

    return _OPTION.sub(one, text)


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
        return self.render()

    def render(self, flags: Mapping[str, str] | None = None) -> str:
        """The message on one line, options named as ``flags`` says (see :func:`render_options`)."""
        text = f"{self.what} — {self.hint}" if self.hint else self.what
        return render_options(text, flags)


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

    def render(self, flags: Mapping[str, str] | None = None) -> str:
        """The message with where it happened: ``file, row N, field 'F': what — hint``."""
        where = []
        if self.file:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        body = super().render(flags)
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


class AccessError(GridmapError):
    """A user acting outside their rights: a unit not in their area, a move their role may not make.

    The app answers it with HTTP 403 ("not in your area"); the CLI exits with status 2.
    """


class AuthError(GridmapError):
    """A sign-in that failed (unknown name, wrong password, disabled or locked account)."""


class UnknownLayerError(GridmapError, KeyError):
    """A layer name that is not in the schema."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown layer '{name}'", f"use one of: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.render()
