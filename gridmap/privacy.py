"""Masking of personal data: reporters' names and phones, numbers inside descriptions.

The PIPL's "minimum necessary": a role that does not need a reporter's identity
sees it masked. One rule per kind of value, applied everywhere (panel, tooltip,
export), so the same value always masks to the same text:

==================  ==============================  ===============================
value               rule                            example
==================  ==============================  ===============================
Chinese name        first character kept            张三 → 张*, 欧阳娜娜 → 欧***
Latin name          first letter of each word kept  John Smith → J*** S****
one-character name  hidden                          王 → *
mainland mobile     first 3 and last 4 kept         +86 138 1234 5678 → +86 138****5678
landline            area code and last 3-4 kept     0731-88886666 → 0731-****6666
other phone         last 4 digits kept              +1 415 555 2671 → +* *** *** 2671
ID card (18 or 15)  first 3 and last 4 kept         430…1234 → 430***********1234
==================  ==============================  ===============================

One star per hidden character, so a masked value keeps its length. Masking is
idempotent: a star counts as a hidden character, so masking a masked value
returns it unchanged. Full-width digits (０-９) are read as digits. Inside free
text the characters that stay visible are kept as they were written; a mainland
mobile or landline in a phone field is rewritten in one form (``+86 138****1234``,
``0731-****6666``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "PII_FIELDS",
    "mask_name",
    "mask_phone",
    "mask_text",
    "mask_record",
    "mask_frame",
]

#: The columns of an incident that identify its reporter.
PII_FIELDS = ("reporter_name", "reporter_phone")

#: The free-text column whose phone and ID numbers are masked.
_TEXT_FIELD = "description"

# Full-width digits, X and separators read as their ASCII forms. One character for
# one, so a position in the normalised text is the same position in the original.
_NORMALISE_TABLE = {
    **{chr(0xFF10 + i): str(i) for i in range(10)},
    "Ｘ": "X",
    "ｘ": "x",
    "＋": "+",
    "－": "-",
    "‐": "-",
    "‑": "-",
    "–": "-",
    "—": "-",
    "（": "(",
    "）": ")",
    "　": " ",
    "\u00a0": " ",
}
_NORMALISE = str.maketrans(_NORMALISE_TABLE)
_WIDE = re.compile("[" + "".join(map(re.escape, _NORMALISE_TABLE)) + "]")

# CJK ideographs: the unified blocks, extension A and B-H, the compatibility block.
_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F))
_CJK = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _CJK_RANGES) + "]")

# A mainland mobile: 1[3-9] and 9 more digits, optionally after +86 / 0086 / 86, with
# one space or dash allowed between the 3-4-4 groups. Never part of a longer digit run
# (an order number), hence the look-arounds on both ends.
_MOBILE = r"(?:(?:\+|00)?86[ -]?)?(?P<mobile>1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4})"
# Resident ID cards (GB 11643): an area code (not starting with 0), a birth date and a
# sequence; 18 digits (the last may be X) or the old 15. The shape only: the checksum is
# not checked, as a false positive costs nothing and a typo'd ID is still personal data.
# The month and day bounds keep most order numbers and timestamps out.
_MONTH_DAY = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_ID18 = rf"(?P<id18>[1-9][0-9]{{5}}[ -]?(?:18|19|20)[0-9]{{2}}{_MONTH_DAY}[ -]?[0-9]{{3}}[0-9Xx])"
_ID15 = rf"(?P<id15>[1-9][0-9]{{5}}[ -]?[0-9]{{2}}{_MONTH_DAY}[ -]?[0-9]{{3}})"
# (The look-ahead first lets the engine skip the other characters faster.)
_IN_TEXT = re.compile(rf"(?=[0-9+])(?<![0-9])(?:{_ID18}|{_ID15}|{_MOBILE})(?![0-9])")
# Every match above holds a run of three digits: a cheap test that a text has none.
_MAYBE_IN_TEXT = re.compile(r"[0-9０-９]{3}")

# A phone field once its separators are removed: an optional + and digits (or stars).
_SEPARATORS = re.compile(r"[ \-.()/]")
_PHONE_SHAPE = re.compile(r"\+?[0-9*]+")


def _normalise(text: str) -> str:
    """``text`` with full-width digits and separators in ASCII (of the same length)."""
    # A search first: str.translate is slow on long Chinese text that needs nothing.
    return text.translate(_NORMALISE) if _WIDE.search(text) else text


def _is_slot(ch: str) -> bool:
    """A character that is, or was, a digit (stars count, so masking is idempotent)."""
    return "0" <= ch <= "9" or ch == "*"


def _star_slots(text: str, head: int, tail: int, *, slots: str = "0123456789*Xx") -> str:
    """``text`` with every slot but the first ``head`` and last ``tail`` starred.

    Characters that are no slot (spaces, dashes) are kept where they are.
    """
    n = sum(ch in slots for ch in text)
    out = []
    i = 0
    for ch in text:
        if ch in slots:
            out.append(ch if i < head or i >= n - tail else "*")
            i += 1
        else:
            out.append(ch)
    return "".join(out)


def mask_name(name: str | None) -> str | None:
    """A person's name with all but its initial(s) starred.

    Parameters
    ----------
    name
        A name as written: Chinese (张三), Latin (John Smith) or mixed.

    Returns
    -------
    str or None
        A name with a Chinese character keeps its first character (欧阳娜娜 →
        欧***); a Latin name keeps the first letter of each word (John Smith →
        J*** S****); a name of one character is ``*``. One star per hidden
        letter; spaces and punctuation (·, -, ') stay. ``None`` and ``""`` are
        returned as they are.
    """
    if not name:
        return name
    slots = sum(ch.isalnum() or ch == "*" for ch in name)
    if slots <= 1:
        return "".join("*" if ch.isalnum() else ch for ch in name)
    # Chinese names are not split into words: 欧阳娜娜 keeps 欧 only, and a
    # transliterated name with a middle dot (阿沛·阿旺晋美) its first character only.
    words = [name] if _CJK.search(name) else re.split(r"(\s+)", name)
    out = []
    for word in words:
        seen = False
        for ch in word:
            if ch.isalnum() or ch == "*":
                out.append("*" if seen else ch)
                seen = True
            else:
                out.append(ch)
    return "".join(out)


def _landline(digits: str) -> str | None:
    """A mainland landline (area code with its 0, then 7 or 8 digits) masked, or None.

    The area code is 3 digits for 010 and 02X, 4 for 03XX-09XX. The local number
    keeps its last 4 digits (8 digits) or 3 (7 digits): four are always starred.
    """
    if digits.startswith(("010", "02")):
        area = 3
    elif len(digits) > 1 and "3" <= digits[1] <= "9" and digits[0] == "0":
        area = 4
    else:
        return None
    local = digits[area:]
    if len(local) not in (7, 8) or "*" in digits[:area]:
        return None
    return digits[:area] + "-" + _star_slots(local, 0, len(local) - 4)


def mask_phone(phone: str | None) -> str | None:
    """A phone number with all but a few digits starred.

    Parameters
    ----------
    phone
        A phone number as written, with or without +86 / 0086 / 86, spaces,
        dashes, dots or brackets; full-width digits are read as digits.

    Returns
    -------
    str or None
        - a mainland mobile (11 digits, 1[3-9]…): the first 3 and last 4 digits,
          written compactly after its country prefix as given: ``138****1234``,
          ``+86 138****1234``;
        - a mainland landline (0 and area code, then 7-8 digits): the area code and
          the last 4 (or 3) digits: ``0731-****6666``, ``0731-***8666``;
        - anything else with 7 digits or more: every digit but the last 4 starred,
          the rest of the text kept;
        - fewer than 7 digits: every digit starred.

        The unmasked digits are never returned. ``None`` and ``""`` are returned as
        they are.
    """
    if not phone:
        return phone
    norm = _normalise(phone)
    compact = _SEPARATORS.sub("", norm)
    if _PHONE_SHAPE.fullmatch(compact):
        prefix = ""
        for form in ("+86", "0086", "86"):
            if compact.startswith(form) and len(compact) > len(form) + 8:
                prefix, compact = form + " ", compact[len(form) :]
                break
        if len(compact) == 11 and compact[0] == "1" and "3" <= compact[1] <= "9":
            return prefix + _star_slots(compact, 3, 4)
        if not compact.startswith("+"):
            # After +86 the area code drops its 0 (+86 731 8888 6666).
            landline = _landline(compact if not prefix else "0" + compact)
            if landline is not None:
                return prefix + (landline if not prefix else landline[1:])
    n = sum(_is_slot(ch) for ch in norm)
    keep = 4 if n >= 7 else 0
    out = []
    i = 0
    for ch, orig in zip(norm, phone, strict=True):
        if _is_slot(ch):
            out.append(orig if i >= n - keep else "*")
            i += 1
        else:
            out.append(orig)
    return "".join(out)


def mask_text(text: str | None) -> str | None:
    """Free text with its mainland mobile and ID-card numbers masked.

    Parameters
    ----------
    text
        A case description or any free text, in any language.

    Returns
    -------
    str or None
        ``text`` with every mainland mobile (11 digits, 1[3-9]…, also after
        +86 / 86 and written 138 1234 5678 or 138-1234-5678) masked to its first 3
        and last 4 digits, and every resident ID-card number (18 digits, the last
        possibly X; or the old 15 digits) masked to its first 3 and last 4
        characters; spaces and dashes inside a number stay where they were.
        Nothing else changes. ``None`` and ``""`` are returned as they are.

    Notes
    -----
    A number that is part of a longer digit run (an order or account number) is
    no phone and no ID, and is kept. Anything with the *shape* of an ID card is
    masked: an area code not starting with 0, a plausible birth date (month 01-12,
    day 01-31; 18-digit years 18xx-20xx) and a sequence. The GB 11643 checksum is
    not checked, on purpose: masking a number that was not an ID costs nothing,
    and an ID with a typo is still someone's ID. Landlines inside text are not
    recognised (too close to other numbers); a reporter's phone field is masked
    whole by :func:`mask_phone`.
    """
    if not text or not _MAYBE_IN_TEXT.search(text):
        return text
    norm = _normalise(text)
    if norm is text:
        return _IN_TEXT.sub(_mask_match, text)
    # Full-width characters: match the normalised text, keep the written characters.
    pieces = []
    last = 0
    for m in _IN_TEXT.finditer(norm):
        start, end = m.span(m.lastgroup)
        pieces.append(text[last:start])
        pieces.append(_star_number(text[start:end], norm[start:end]))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _mask_match(m: re.Match[str]) -> str:
    """One match of ``_IN_TEXT`` masked (the prefix +86 before a mobile kept)."""
    whole = m.group()
    cut = m.start(m.lastgroup) - m.start()
    return whole[:cut] + _star_number(whole[cut:], whole[cut:])


def _star_number(orig: str, norm: str) -> str:
    """A matched number: its first 3 and last 4 characters kept, as written."""
    if norm.isdigit() or norm[:-1].isdigit():
        # No separator inside (the common case): cut, not a loop over characters.
        return orig[:3] + "*" * (len(orig) - 7) + orig[-4:]
    masked = _star_slots(norm, 3, 4)
    return "".join(o if m != "*" else "*" for o, m in zip(orig, masked, strict=True))


def _mask_value(mask: Callable[[str], str | None], value: Any) -> Any:
    """One value masked: missing values stay, a non-text value (a phone read as a
    number) is masked as its text."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return value
    return mask(value if isinstance(value, str) else str(value))


_MASKS: dict[str, Callable[[str], str | None]] = {
    "reporter_name": mask_name,
    "reporter_phone": mask_phone,
    _TEXT_FIELD: mask_text,
}


def mask_record(record: Mapping[str, Any], *, unmasked: bool) -> dict[str, Any]:
    """A copy of an incident record with its personal data masked.

    Parameters
    ----------
    record
        An incident's fields (any mapping); fields it lacks are not added.
    unmasked
        True for a reader who may see the reporter (a dispatcher, the admin, the
        case's handlers): the copy is then returned unchanged.

    Returns
    -------
    dict
        The record with ``reporter_name`` (:func:`mask_name`), ``reporter_phone``
        (:func:`mask_phone`) and ``description`` (:func:`mask_text`) masked.
    """
    out = dict(record)
    if unmasked:
        return out
    for field, mask in _MASKS.items():
        if field in out:
            out[field] = _mask_value(mask, out[field])
    return out


# The vectorised forms below take the common shapes in whole columns (pandas str
# methods, one regex pass over all the text) and hand every other value to the
# scalar function, so a frame masks exactly as its records do.

# A name of unified ideographs and extension A only (every code point assigned, so each
# is a letter to mask_name too), written as characters, not \\u escapes, which
# pyarrow's regex engine would not read.
_CJK_NAME = "[\u3400-\u4dbf\u4e00-\u9fff]+"
_PLAIN_MOBILE = r"1[3-9][0-9]{9}"


def _mask_names(values: pd.Series) -> np.ndarray:
    """:func:`mask_name` of each value; names of Chinese characters only in one go."""
    chinese = values.str.fullmatch(_CJK_NAME).to_numpy(bool)
    out = np.empty(len(values), dtype=object)
    if chinese.any():
        names = values[chinese]
        lengths = names.str.len().to_numpy(int)
        stars = np.array(["*" * k for k in range(lengths.max())], dtype=object)
        first = names.str.slice(0, 1).to_numpy(object)
        out[chinese] = np.where(lengths == 1, "*", first + stars[lengths - 1])
    rest = ~chinese
    out[rest] = [mask_name(v) for v in values[rest]]
    return out


def _mask_phones(values: pd.Series) -> np.ndarray:
    """:func:`mask_phone` of each value; plain 11-digit mobiles in one go."""
    plain = values.str.fullmatch(_PLAIN_MOBILE).to_numpy(bool)
    out = np.empty(len(values), dtype=object)
    if plain.any():
        phones = values[plain]
        out[plain] = (phones.str.slice(0, 3) + "****" + phones.str.slice(7)).to_numpy(object)
    rest = ~plain
    out[rest] = [mask_phone(v) for v in values[rest]]
    return out


def _mask_texts(values: pd.Series) -> np.ndarray:
    """:func:`mask_text` of each value, as one text: the values joined by NUL, which
    no number pattern crosses (it is no digit and no separator)."""
    texts = values.tolist()
    joined = "\x00".join(texts)
    if joined.count("\x00") != len(texts) - 1:
        masked = [mask_text(t) for t in texts]
    else:
        masked = mask_text(joined).split("\x00")
    out = np.empty(len(texts), dtype=object)
    out[:] = masked
    return out


_MASK_COLUMNS = {mask_name: _mask_names, mask_phone: _mask_phones, mask_text: _mask_texts}


def _mask_series(series: pd.Series, mask: Callable[[str], str | None]) -> pd.Series:
    """``series`` masked as :func:`_mask_value` masks each of its values."""
    present = series.notna().to_numpy()
    if not present.any():
        return series.copy()
    values = series[present]
    if not isinstance(values.dtype, pd.StringDtype):
        # Text as pandas text (arrow-backed where pyarrow is installed), and a
        # number (a phone read as one) as its str(), as _mask_value does.
        values = values.map(lambda v: v if isinstance(v, str) else str(v)).astype("str")
    out = series.to_numpy(object, copy=True)
    out[present] = _MASK_COLUMNS[mask](values)
    dtype = series.dtype if isinstance(series.dtype, pd.StringDtype) else object
    return pd.Series(out, index=series.index, name=series.name, dtype=dtype)


def mask_frame(frame: pd.DataFrame, *, unmasked: bool) -> pd.DataFrame:
    """:func:`mask_record` for every row of a frame, vectorised.

    Parameters
    ----------
    frame
        Incidents (a DataFrame or GeoDataFrame); of ``reporter_name``,
        ``reporter_phone`` and ``description`` the columns present are masked.
    unmasked
        True for a reader who may see the reporter: the copy is unchanged.

    Returns
    -------
    pandas.DataFrame
        A copy of ``frame`` (of the same type), each row masked as
        :func:`mask_record` masks it. 100,000 rows take a few tenths of a second.
    """
    out = frame.copy()
    if unmasked:
        return out
    for field, mask in _MASKS.items():
        if field in out.columns:
            out[field] = _mask_series(out[field], mask)
    return out
