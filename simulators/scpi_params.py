"""SCPI parameter data for the simulators' handlers: numbers with units, booleans, enums, strings,
channel lists and blocks, each raising `ScpiError` with the standard code on bad data.

References: IEEE 488.2-1992 §7.7 (decimal numeric, suffix multipliers, character, string and
arbitrary block program data), SCPI-1999 Vol. 1 §7 (MINimum/MAXimum/DEFault, <Boolean>) and
§8.3.2 (channel lists).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping

from simulators.scpi_parse import ScpiError, make_node

# IEEE 488.2 §7.7.3.5 suffix multipliers. "M" is milli; "MA" is mega except where it would
# read as milli-ampere; MHZ (megahertz) and MOHM are the standard's explicit exceptions.
_MULTIPLIERS: dict[str, float] = {
    "EX": 1e18, "PE": 1e15, "T": 1e12, "G": 1e9, "MA": 1e6, "K": 1e3,
    "M": 1e-3, "U": 1e-6, "N": 1e-9, "P": 1e-12, "F": 1e-15, "A": 1e-18,
}  # fmt: skip
_LOG_UNITS = {"DBM", "DB", "DBMV", "DBUV", "DBC", "DEG", "RAD", "PCT"}
_NUMBER_RE = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z%]*)\s*$")

Limit = float | Callable[[], float] | None


def _value(v: Limit) -> float | None:
    return v() if callable(v) else v


def _suffix_scale(suffix: str, unit: str) -> float:
    """Scale factor of a typed suffix against the expected base unit, or -131."""
    s, u = suffix.upper(), unit.upper()
    if not s:
        return 1.0
    if u and s == u:
        return 1.0
    if u == "HZ" and s == "MHZ":
        return 1e6
    if u == "OHM" and s == "MOHM":
        return 1e6
    if u and s.endswith(u) and u not in _LOG_UNITS:
        prefix = s[: -len(u)]
        if prefix == "MA" and u == "HZ":
            return 1e6
        if prefix in _MULTIPLIERS:
            return _MULTIPLIERS[prefix]
    raise ScpiError(-131)


def parse_number(
    arg: str,
    unit: str = "",
    *,
    minimum: Limit = None,
    maximum: Limit = None,
    default: Limit = None,
    keywords: Mapping[str, float | Callable[[], float]] | None = None,
) -> float:
    """Decimal numeric program data with an optional unit suffix (`3.5 GHz`, `10DBM`, `500mA`).

    `MINimum`/`MAXimum`/`DEFault` resolve to `minimum`/`maximum`/`default` (values or callables);
    other keywords come from `keywords` (e.g. {"UP": ...}). Values outside [minimum, maximum]
    raise -222; a wrong unit raises -131; non-numeric data -104 (IEEE 488.2 §7.7.2).
    """
    text = arg.strip()
    word = text.upper()
    if word and word[0].isalpha():
        table: dict[str, Limit] = {
            "MIN": minimum, "MINIMUM": minimum, "MAX": maximum, "MAXIMUM": maximum,
            "DEF": default, "DEFAULT": default,
        }  # fmt: skip
        if keywords:
            table.update({k.upper(): v for k, v in keywords.items()})
        if word in table:
            v = _value(table[word])
            if v is None:
                raise ScpiError(-224)
            return float(v)
        if word in ("INF", "NINF", "NAN"):
            raise ScpiError(-222)
        raise ScpiError(-104)
    m = _NUMBER_RE.match(text)
    if not m:
        if text.startswith(("'", '"')):
            raise ScpiError(-104)
        raise ScpiError(-104 if not text[:1].isdigit() else -121)
    value = float(m.group(1)) * _suffix_scale(m.group(2), unit)
    if not math.isfinite(value):
        raise ScpiError(-222)
    lo, hi = _value(minimum), _value(maximum)
    # a relative tolerance so `MAX` echoed back through %.15g still passes
    if lo is not None and value < lo - 1e-12 * max(1.0, abs(lo)):
        raise ScpiError(-222)
    if hi is not None and value > hi + 1e-12 * max(1.0, abs(hi)):
        raise ScpiError(-222)
    return value


def parse_int(arg: str, *, minimum: Limit = None, maximum: Limit = None,
              default: Limit = None) -> int:
    """Integer data; decimal values are rounded as IEEE 488.2 §7.7.2.4 allows."""
    return int(round(parse_number(arg, minimum=minimum, maximum=maximum, default=default)))


def parse_bool(arg: str) -> bool:
    """SCPI <Boolean>: ON|OFF|1|0 (any other number: nonzero after rounding is ON)."""
    word = arg.strip().upper()
    if word == "ON":
        return True
    if word == "OFF":
        return False
    try:
        return round(float(word)) != 0
    except ValueError:
        raise ScpiError(-224 if word.isalpha() else -104) from None


def parse_enum(arg: str, choices: Iterable[str]) -> str:
    """Match character data against manual spellings (`NORMal`, `SWAPped`) → the short form."""
    word = arg.strip().upper()
    if word.startswith(("'", '"')):
        raise ScpiError(-104)
    for choice in choices:
        node = make_node(choice.replace(",", "_"))
        if word in (node.short, node.long):
            return node.short
    raise ScpiError(-224)


def parse_string(arg: str) -> str:
    """<STRING PROGRAM DATA>: remove the quotes ('' or "" inside are doubled quotes)."""
    s = arg.strip()
    if len(s) >= 2 and s[0] in "\"'" and s[-1] == s[0]:
        q = s[0]
        return s[1:-1].replace(q + q, q)
    if s[:1] in ("'", '"'):
        raise ScpiError(-151)
    return s


def parse_channel_list(arg: str) -> list[int]:
    """SCPI channel list `(@1)`, `(@1,3)`, `(@1:3)` → [1, 2, 3] (SCPI-1999 Vol. 1 §8.3.2)."""
    s = arg.strip().replace(" ", "")
    if not (s.startswith("(@") and s.endswith(")")):
        raise ScpiError(-104)
    channels: list[int] = []
    for item in s[2:-1].split(","):
        try:
            if ":" in item:
                a, b = (int(x) for x in item.split(":", 1))
                step = 1 if b >= a else -1
                channels.extend(range(a, b + step, step))
            else:
                channels.append(int(item))
        except ValueError:
            raise ScpiError(-104) from None
    return channels


def parse_block(arg: str) -> bytes:
    """<ARBITRARY BLOCK PROGRAM DATA> (definite `#<n><len>` or indefinite `#0`) → payload."""
    s = arg.lstrip()  # trailing whitespace may be payload: never strip it before the length
    if not s.startswith("#") or len(s) < 2 or not s[1].isdigit():
        raise ScpiError(-104)
    nd = int(s[1])
    if nd == 0:
        return s[2:].encode("latin-1")
    digits = s[2 : 2 + nd]
    if not digits.isdigit() or len(s) < 2 + nd + int(digits):
        raise ScpiError(-161)
    end = 2 + nd + int(digits)
    if s[end:].strip():
        raise ScpiError(-161)  # data after the block: the length field is wrong
    return s[2 + nd : end].encode("latin-1")


def format_float(x: float) -> str:
    """Keysight-style NR3 response data, e.g. `+3.55000000000E+09`."""
    return f"{x:+.11E}"
