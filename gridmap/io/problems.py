"""What is wrong with a user's file: problems collected row by row, raised together.

A file is checked whole before anything is refused, so the user gets every
problem at once (up to :data:`MAX_PROBLEMS`) instead of one per attempt.
:class:`Problems` collects them; :meth:`Problems.raise_if_any` raises one
:class:`~gridmap.errors.InputError` naming the first and listing all.
:func:`file_error` is the error for a file that cannot be read at all.

Messages name options with :func:`gridmap.errors.option` tokens. The listed
problem lines keep those tokens: whoever shows them renders them (the CLI as
its flags, :func:`gridmap.errors.render_options` as Python keywords).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gridmap.errors import InputError

__all__ = ["MAX_PROBLEMS", "Problem", "Problems", "file_error", "first_line", "shorten"]

#: At most this many problems are listed on an InputError's ``problems``.
MAX_PROBLEMS = 100


@dataclass
class Problem:
    """One problem of a file.

    Attributes
    ----------
    row
        1-based data row, or ``None`` for the file as a whole.
    field
        The file's column (as the file names it), if the problem is in one.
    what
        What is wrong.
    hint
        What to do about it.
    """

    row: int | None
    field: str | None
    what: str
    hint: str | None

    @property
    def message(self) -> str:
        """``what — hint``, as :class:`~gridmap.errors.GridmapError` words it (tokens kept)."""
        return f"{self.what} — {self.hint}" if self.hint else self.what


@dataclass
class Problems:
    """Problems found in a file, raised together as one InputError.

    Parameters
    ----------
    file
        The file, as the user named it.
    items
        The problems so far, in the order the checks found them.
    """

    file: str
    items: list[Problem] = field(default_factory=list)

    def add(self, row: int | None, field: str | None, what: str, hint: str | None = None) -> None:
        """Note a problem (see :class:`Problem` for the fields)."""
        self.items.append(Problem(row, field, what, hint))

    def in_order(self) -> list[Problem]:
        """The problems by row; within a row in the order the checks ran (a stable sort)."""
        return sorted(self.items, key=lambda p: p.row or 0)

    def raise_if_any(self) -> None:
        """Raise the first problem as an InputError listing every one, if there is any.

        Raises
        ------
        gridmap.errors.InputError
            Naming the first problem by row, with ``(and N more problems)``;
            its ``problems`` lists up to :data:`MAX_PROBLEMS` lines.
        """
        if not self.items:
            return
        items = self.in_order()
        errors = [
            InputError(p.what, file=self.file, row=p.row, field=p.field, hint=p.hint) for p in items
        ]
        listed = [_line(e) for e in errors[:MAX_PROBLEMS]]
        if len(errors) > MAX_PROBLEMS:
            listed.append(f"… and {len(errors) - MAX_PROBLEMS} more problems")
        first = errors[0]
        if len(errors) > 1:
            first.what += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        first.problems = listed
        raise first


def file_error(what: str, *, file: str, hint: str | None = None) -> InputError:
    """A file-level InputError (no row, no field), with ``problems`` listing just itself.

    Parameters
    ----------
    what
        What is wrong with the file.
    file
        The file, as the user named it.
    hint
        What to do about it.

    Returns
    -------
    gridmap.errors.InputError
        To be raised by the caller.
    """
    error = InputError(what, file=file, hint=hint)
    error.problems = [_line(error)]
    return error


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (GDAL's can run on), or its type's name."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def shorten(value: Any, width: int = 40) -> str:
    """``value`` as text of at most ``width`` characters (cut with ``…``), to quote in a message."""
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _line(error: InputError) -> str:
    """The error on one line as :meth:`InputError.render` says it, but with its option tokens.

    ``str(error)`` would render the tokens as Python keywords, and the CLI
    could then no longer show its flags in the problems it lists.
    """
    where = []
    if error.file:
        where.append(str(error.file))
    if error.row is not None:
        where.append(f"row {error.row}")
    if error.field:
        where.append(f"field '{error.field}'")
    body = f"{error.what} — {error.hint}" if error.hint else error.what
    return f"{', '.join(where)}: {body}" if where else body
