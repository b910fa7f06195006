"""The closed loop's state machine: steps, the move table, and the moves themselves.

:func:`move`, :func:`whistle` and :func:`transfer` take one incident row (a
mapping with the columns of the ``incidents`` layer) and return the updated row
and the ``incident_events`` rows to append; the caller saves both at once with
``Store.move_incident(row, events, expected_version=incident["version"])``.
The input is never mutated. A move that :data:`MOVE_TABLE` does not hold raises
:class:`TransitionError` naming the moves that are allowed.

The state machine (docs/domain.md#incident-loop)::

    collected     -> registered | voided
    registered    -> dispatched                  (the deadline clock starts)
    dispatched    -> handling | dispatched       (transfer: transfer_count + 1)
    handling      -> reported_back | dispatched  (transfer)
    reported_back -> closed | handling           (rework: rework_count + 1)
    closed        -> evaluated

"Whistled" (街乡吹哨、部门报到) is a flag, not a step: it is set at registered,
dispatched or handling with the department called in and its response
deadline, and automatically by the third rework.

Times are UTC throughout. The deadline clock starts at the first dispatch and
runs in calendar hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from gridmap.errors import GridmapError, option
from gridmap.incidents.values import (
    as_count,
    as_flag,
    as_stamp,
    as_text,
    as_utc,
    hours_text,
    with_note,
)
from gridmap.schema import CLOSING_LEVELS, INCIDENT_CATEGORIES, INCIDENT_STEPS, SATISFACTION

__all__ = [
    "STEPS",
    "OPEN_STEPS",
    "Move",
    "MOVE_TABLE",
    "move_of",
    "MOVES",
    "WHISTLE_STEPS",
    "DEADLINE_HOURS",
    "WHISTLE_HOURS",
    "REWORKS_BEFORE_WHISTLE",
    "ESCALATION_DEPARTMENT",
    "TransitionError",
    "move",
    "whistle",
    "transfer",
]

#: The steps of the closed loop, in order, then ``voided`` (registration refused).
STEPS: tuple[str, ...] = INCIDENT_STEPS

#: Steps at which a case is still open (not closed, evaluated or voided): the
#: first five of :data:`STEPS`, in the same order.
OPEN_STEPS: tuple[str, ...] = ("collected", "registered", "dispatched", "handling", "reported_back")


@dataclass(frozen=True)
class Move:
    """One move of the closed loop: a row of :data:`MOVE_TABLE`.

    Attributes
    ----------
    name
        What the move is called (``register``, ``void``, ``dispatch``,
        ``accept``, ``transfer``, ``report_back``, ``close``, ``rework``,
        ``evaluate``, ``whistle``): the word a rule about the move names it by.
    from_step
        The step the incident is at.
    to_step
        The step it is at after the move; a whistle stays where it is (it sets
        a flag, not a step).
    roles
        The roles (:data:`gridmap.accounts.ROLES`) that may make it; the admin
        may make every move. The state machine and the rights on it are one
        table, read by the CLI (``--actor``) and the app alike.
    """

    name: str
    from_step: str
    to_step: str
    roles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", frozenset(self.roles) | {"admin"})


#: Every move the closed loop allows, one row each (docs/domain.md#incident-loop). The
#: order of the rows is the order moves are listed in messages.
MOVE_TABLE: tuple[Move, ...] = (
    # 受理派遣 registers a collected case, or voids one that is not a case.
    Move("register", "collected", "registered", {"dispatcher"}),
    Move("void", "collected", "voided", {"dispatcher"}),
    Move("dispatch", "registered", "dispatched", {"dispatcher"}),
    # The department the case was dispatched to takes it on and reports back.
    Move("accept", "dispatched", "handling", {"department"}),
    # A transfer passes the case to another department; the clock runs on.
    Move("transfer", "dispatched", "dispatched", {"dispatcher"}),
    Move("report_back", "handling", "reported_back", {"department"}),
    Move("transfer", "handling", "dispatched", {"dispatcher"}),
    # The grid supervisor verifies on site (核查) and closes the case, or sends it back.
    Move("close", "reported_back", "closed", {"supervisor"}),
    Move("rework", "reported_back", "handling", {"supervisor"}),
    # The return visit (回访) records the resident's satisfaction.
    Move("evaluate", "closed", "evaluated", {"dispatcher"}),
    # 吹哨报到: the command centre or the dispatcher calls a department in.
    Move("whistle", "registered", "registered", {"commander", "dispatcher"}),
    Move("whistle", "dispatched", "dispatched", {"commander", "dispatcher"}),
    Move("whistle", "handling", "handling", {"commander", "dispatcher"}),
)

#: The moves between steps (every row but the whistles) by the two steps.
_STEP_MOVES: dict[tuple[str, str], Move] = {
    (m.from_step, m.to_step): m for m in MOVE_TABLE if m.name != "whistle"
}

#: The allowed moves: from each step, the steps it may go to (from :data:`MOVE_TABLE`).
MOVES: dict[str, tuple[str, ...]] = {
    step: tuple(to for frm, to in _STEP_MOVES if frm == step) for step in STEPS
}


def move_of(from_step: str, to_step: str) -> Move | None:
    """The row of :data:`MOVE_TABLE` that goes from ``from_step`` to ``to_step`` (not a whistle)."""
    return _STEP_MOVES.get((from_step, to_step))


def _starts_of(name: str) -> tuple[str, ...]:
    """The steps a move of this name starts from, in the order of :data:`MOVE_TABLE`."""
    return tuple(m.from_step for m in MOVE_TABLE if m.name == name)


#: Steps at which the subdistrict may blow the whistle (吹哨).
WHISTLE_STEPS: tuple[str, ...] = _starts_of("whistle")

#: Hours from dispatch to an incident's deadline, per category (calendar hours).
#: Configuration defaults (the demo builds its incidents with them too):
#: the real values are set locally (CJ/T 315-2009; Shenzhen SZDB/Z 300.4 appendix A),
#: so every function using them takes a ``deadline_hours`` mapping overriding them.
DEADLINE_HOURS: dict[str, float] = {
    "emergency": 2,
    "safety_hazard": 24,
    "street_order": 24,
    "city_appearance": 48,
    "advertising": 72,
    "construction": 72,
    "dispute": 72,
    "facility": 96,
    "resident_request": 120,
    "other": 120,
}

#: Default response deadline (hours) of a department called in by a whistle.
WHISTLE_HOURS: float = 24.0

#: The rework that escalates a case automatically (docs/domain.md#incident-loop).
REWORKS_BEFORE_WHISTLE: int = 3

#: Who is called in by an automatic whistle when the caller names no escalation
#: department and the case has no department of its own.
ESCALATION_DEPARTMENT: str = "街道综合指挥中心"


class TransitionError(GridmapError):
    """A move the closed loop does not allow, or one missing what it needs.

    Parameters
    ----------
    what
        What was refused.
    hint
        What is allowed instead.
    from_step, to_step
        The incident's step and the step asked for.
    allowed
        The steps the incident may move to from ``from_step``.
    """

    def __init__(
        self,
        what: str,
        hint: str | None = None,
        *,
        from_step: str | None = None,
        to_step: str | None = None,
        allowed: tuple[str, ...] = (),
    ) -> None:
        self.from_step = from_step
        self.to_step = to_step
        self.allowed = allowed
        super().__init__(what, hint)


# -- moves ----------------------------------------------------------------------


def move(
    incident: Mapping[str, Any],
    to_step: str,
    *,
    actor: str,
    at: datetime,
    note: str | None = None,
    department: str | None = None,
    closed_level: str | None = None,
    satisfaction: str | None = None,
    deadline_hours: Mapping[str, float] | None = None,
    escalation_department: str | None = None,
    whistle_hours: float | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Move an incident to its next step.

    Parameters
    ----------
    incident
        The incident's row (columns of the ``incidents`` layer; missing values
        may be ``None``, NaN, ``pd.NA`` or ``NaT``). Not modified.
    to_step
        The step to move to; one of ``MOVES[incident["step"]]``.
    actor
        Who moves it (a person or a role), recorded on the event.
    at
        When, timezone-aware (converted to UTC). Not before the incident's
        last change: the event log stays in order.
    note
        Free text recorded on the event (a reason to void, a rework's finding …).
    department
        The department dispatched to: required when dispatching and when
        transferring (``dispatched`` from ``dispatched`` or ``handling``),
        refused otherwise.
    closed_level
        Required when closing: the level that solved the case
        (:data:`gridmap.schema.CLOSING_LEVELS`); "小事不出网格" counts ``grid``.
    satisfaction
        Required when evaluating: the resident's answer
        (:data:`gridmap.schema.SATISFACTION`).
    deadline_hours
        Hours from dispatch to the deadline per category, overriding
        :data:`DEADLINE_HOURS` (local rules).
    escalation_department
        Who the third rework calls in (the subdistrict's escalation
        department); default the case's own department, else
        :data:`ESCALATION_DEPARTMENT`.
    whistle_hours
        Response deadline of that automatic whistle; default :data:`WHISTLE_HOURS`.

    Returns
    -------
    row : dict
        The incident after the move: ``step``, ``updated_at`` (``at``) and
        ``version`` (+ 1, as the store will save it), and by move:
        dispatch sets ``department``, ``dispatched_at`` and ``deadline``
        (``dispatched_at`` + the category's hours); a transfer sets
        ``department`` and ``transfer_count`` + 1 (the clock keeps running from
        the first dispatch); a rework sets ``rework_count`` + 1 (and the third
        one the whistle); closing sets ``closed_at`` and ``closed_level``;
        evaluating sets ``satisfaction``.
    events : list of dict
        The ``incident_events`` rows to append (``incident_id``, ``at``,
        ``actor``, ``from_step``, ``to_step``, ``note``): one per move, plus a
        second one (step unchanged) when the third rework blows the whistle.

    Raises
    ------
    TransitionError
        If the move is not allowed from the incident's step, a required
        argument is missing or one is given that the move does not take, or
        ``at`` is before the incident's last change.
    """
    row = dict(incident)
    from_step = _step_of(row, to_step)
    when = as_utc(at)
    if to_step not in STEPS:
        raise TransitionError(
            f"'{to_step}' is not an incident step",
            f"use one of: {', '.join(STEPS)}",
            from_step=from_step,
            to_step=to_step,
            allowed=MOVES[from_step],
        )
    allowed = MOVES[from_step]
    found = _STEP_MOVES.get((from_step, to_step))
    if found is None:
        raise _forbidden(row, from_step, to_step)
    if found.name == "transfer":
        if closed_level is not None or satisfaction is not None:
            raise _unexpected(row, from_step, to_step, "closed_level", "satisfaction")
        return transfer(incident, department=department, actor=actor, at=when, note=note)
    _check_time(row, when, from_step, to_step)
    # Each argument belongs to one move: refusing it elsewhere catches a
    # caller who meant another move instead of silently dropping the value.
    if department is not None and found.name != "dispatch":
        raise _unexpected(row, from_step, to_step, "department")
    if closed_level is not None and found.name != "close":
        raise _unexpected(row, from_step, to_step, "closed_level")
    if satisfaction is not None and found.name != "evaluate":
        raise _unexpected(row, from_step, to_step, "satisfaction")

    extra: list[dict[str, Any]] = []
    if found.name == "dispatch":
        if not as_text(department):
            raise TransitionError(
                f"dispatching incident {row.get('id')} needs the department it goes to",
                f"name it with {option('department')}",
                from_step=from_step,
                to_step=to_step,
                allowed=allowed,
            )
        hours = _deadline_hours(row.get("category"), deadline_hours)
        row["department"] = department
        # The clock starts at dispatch (docs/domain.md#incident-loop).
        row["dispatched_at"] = when
        row["deadline"] = when + pd.Timedelta(hours=hours)
        note = with_note(f"派遣至{department}", note)
    elif found.name == "rework":
        row["rework_count"] = as_count(row.get("rework_count")) + 1
        if row["rework_count"] >= REWORKS_BEFORE_WHISTLE and not as_flag(row.get("whistled")):
            # The third rework escalates: the subdistrict blows the whistle.
            called = (
                escalation_department or as_text(row.get("department")) or ESCALATION_DEPARTMENT
            )
            hours = WHISTLE_HOURS if whistle_hours is None else whistle_hours
            _set_whistle(row, called, hours, when)
            extra.append(
                _event(
                    row,
                    when,
                    actor,
                    to_step,
                    to_step,
                    f"第{row['rework_count']}次发回重办，自动吹哨：{called}报到"
                    f"（{hours_text(hours)}小时内）",
                )
            )
    elif found.name == "close":
        if closed_level not in CLOSING_LEVELS:
            raise TransitionError(
                f"closing incident {row.get('id')} needs the level that solved it"
                + ("" if closed_level is None else f", not '{closed_level}'"),
                f"give {option('closed_level')} one of: {', '.join(CLOSING_LEVELS)}",
                from_step=from_step,
                to_step=to_step,
                allowed=allowed,
            )
        row["closed_at"] = when
        row["closed_level"] = closed_level
    elif found.name == "evaluate":
        if satisfaction not in SATISFACTION:
            raise TransitionError(
                f"evaluating incident {row.get('id')} needs the resident's answer"
                + ("" if satisfaction is None else f", not '{satisfaction}'"),
                f"give {option('satisfaction')} one of: {', '.join(SATISFACTION)}",
                from_step=from_step,
                to_step=to_step,
                allowed=allowed,
            )
        row["satisfaction"] = satisfaction

    row["step"] = to_step
    _touch(row, when)
    return row, [_event(row, when, actor, from_step, to_step, note), *extra]


def transfer(
    incident: Mapping[str, Any],
    *,
    department: str | None,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Re-dispatch an incident to another department (转派).

    Parameters
    ----------
    incident
        The incident's row, at ``dispatched`` or ``handling``. Not modified.
    department
        The new department; it must differ from the current one.
    actor, at, note
        As for :func:`move`.

    Returns
    -------
    row, events
        The row at ``dispatched`` with the new ``department`` and
        ``transfer_count`` + 1, and one event. ``dispatched_at`` and
        ``deadline`` do not change: the clock runs from the first dispatch, so
        passing a case on (属地管理 ping-pong) does not buy time.

    Raises
    ------
    TransitionError
        From another step, without a department, or to the same department.
    """
    row = dict(incident)
    from_step = _step_of(row, "dispatched")
    when = as_utc(at)
    if from_step not in _starts_of("transfer"):
        raise TransitionError(
            f"cannot transfer incident {row.get('id')} at '{from_step}'",
            "only a dispatched case (dispatched or handling) can be transferred; "
            + _allowed_text(from_step),
            from_step=from_step,
            to_step="dispatched",
            allowed=MOVES[from_step],
        )
    _check_time(row, when, from_step, "dispatched")
    current = as_text(row.get("department"))
    if not as_text(department) or department == current:
        raise TransitionError(
            f"transferring incident {row.get('id')} needs another department"
            + (f" than '{current}'" if current else ""),
            "name the department it goes to",
            from_step=from_step,
            to_step="dispatched",
            allowed=MOVES[from_step],
        )
    row["department"] = department
    row["transfer_count"] = as_count(row.get("transfer_count")) + 1
    row["step"] = "dispatched"
    _touch(row, when)
    text = with_note(f"转派至{department}", note)
    return row, [_event(row, when, actor, from_step, "dispatched", text)]


def whistle(
    incident: Mapping[str, Any],
    *,
    department: str,
    hours: float = WHISTLE_HOURS,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Blow the whistle on an incident: call a department in with a response deadline.

    Parameters
    ----------
    incident
        The incident's row, at ``registered``, ``dispatched`` or ``handling``.
        Not modified.
    department
        The functional department called in (部门报到).
    hours
        Its response deadline, in calendar hours from ``at``.
    actor, at, note
        As for :func:`move`.

    Returns
    -------
    row, events
        The row with ``whistled`` set, ``whistle_department`` and
        ``whistle_deadline``; its step does not change. One event, from and to
        the current step (the whistle is a flag, not a step). Whistling a case
        again calls in another department: the latest one and its deadline
        are kept, the events keep them all.

    Raises
    ------
    TransitionError
        At another step, without a department, or with hours not above zero.
    """
    row = dict(incident)
    step = _step_of(row, step_asked=None)
    when = as_utc(at)
    if step not in WHISTLE_STEPS:
        raise TransitionError(
            f"cannot blow the whistle on incident {row.get('id')} at '{step}'",
            f"the whistle is blown at {', '.join(WHISTLE_STEPS)}",
            from_step=step,
            allowed=MOVES[step],
        )
    if not as_text(department):
        raise TransitionError(
            f"blowing the whistle on incident {row.get('id')} needs the department called in",
            "name the department",
            from_step=step,
            allowed=MOVES[step],
        )
    if not hours > 0:
        raise TransitionError(
            f"the whistle's response deadline must be some hours ahead, not {hours}",
            f"give {option('hours')} above zero (default {hours_text(WHISTLE_HOURS)})",
            from_step=step,
            allowed=MOVES[step],
        )
    _check_time(row, when, step, step)
    _set_whistle(row, department, hours, when)
    _touch(row, when)
    text = with_note(f"街道吹哨：{department}报到（{hours_text(hours)}小时内）", note)
    return row, [_event(row, when, actor, step, step, text)]


def _deadline_hours(category: Any, overrides: Mapping[str, float] | None) -> float:
    """Hours from dispatch to the deadline of a case of ``category`` (``overrides`` win)."""
    table = {**DEADLINE_HOURS, **(overrides or {})}
    cat = as_text(category)
    if cat not in table:
        raise GridmapError(
            f"no deadline is configured for category {category!r}",
            f"categories are: {', '.join(INCIDENT_CATEGORIES)}",
        )
    return float(table[cat])


def _set_whistle(row: dict[str, Any], department: str, hours: float, when: pd.Timestamp) -> None:
    row["whistled"] = True
    row["whistle_department"] = department
    row["whistle_deadline"] = when + pd.Timedelta(hours=hours)


def _touch(row: dict[str, Any], when: pd.Timestamp) -> None:
    """Stamp the change: ``updated_at``, and the version the store will give the row."""
    row["updated_at"] = when
    row["version"] = as_count(row.get("version")) + 1


def _event(
    row: Mapping[str, Any],
    when: pd.Timestamp,
    actor: str,
    from_step: str | None,
    to_step: str,
    note: str | None,
) -> dict[str, Any]:
    return {
        "incident_id": row.get("id"),
        "at": when,
        "actor": actor,
        "from_step": from_step,
        "to_step": to_step,
        "note": note,
    }


def _step_of(row: Mapping[str, Any], step_asked: str | None) -> str:
    step = as_text(row.get("step"))
    if step not in MOVES:
        raise TransitionError(
            f"incident {row.get('id')} has no known step ({row.get('step')!r})",
            f"its step must be one of: {', '.join(STEPS)}",
            from_step=step,
            to_step=step_asked,
        )
    return step


def _forbidden(row: Mapping[str, Any], from_step: str, to_step: str) -> TransitionError:
    return TransitionError(
        f"cannot move incident {row.get('id')} from '{from_step}' to '{to_step}'",
        _allowed_text(from_step),
        from_step=from_step,
        to_step=to_step,
        allowed=MOVES[from_step],
    )


def _allowed_text(from_step: str) -> str:
    allowed = MOVES[from_step]
    if not allowed:
        return f"'{from_step}' is final: no move leads on from it"
    names = []
    for to in allowed:
        # A move back or in place (transfer, rework) is not told by its target step alone.
        backwards = STEPS.index(to) <= STEPS.index(from_step)
        names.append(f"{to} ({_STEP_MOVES[from_step, to].name})" if backwards else to)
    return f"from '{from_step}' it can move to: {', '.join(names)}"


def _unexpected(
    row: Mapping[str, Any], from_step: str, to_step: str, *names: str
) -> TransitionError:
    given = " or ".join(option(n) for n in names)
    return TransitionError(
        f"moving incident {row.get('id')} from '{from_step}' to '{to_step}' takes no {given}",
        f"{option('department')} is given when dispatching or transferring, "
        f"{option('closed_level')} when closing, {option('satisfaction')} when evaluating",
        from_step=from_step,
        to_step=to_step,
        allowed=MOVES[from_step],
    )


def _check_time(row: Mapping[str, Any], when: pd.Timestamp, from_step: str, to_step: str) -> None:
    """Refuse a move dated before the incident's last change (the log must stay in order)."""
    last = as_stamp(row.get("updated_at"))
    if last is None:
        last = as_stamp(row.get("reported_at"))
    if last is not None and when < last:
        raise TransitionError(
            f"cannot move incident {row.get('id')} at {when.isoformat()}: "
            f"its last change was at {last.isoformat()}",
            "give the time of the move (UTC), not an earlier one",
            from_step=from_step,
            to_step=to_step,
            allowed=MOVES[from_step],
        )
