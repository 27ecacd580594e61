"""Cell parsers: turn one value from any file format into the stored type, or say why it cannot be."""
from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Collection

import numpy as np
import pandas as pd

Parser = Callable[[Any], Any]
CHINA_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")  # naive timestamps are local time where grids are
_TRUE = {"true", "t", "yes", "y", "1", "是"}
_FALSE = {"false", "f", "no", "n", "0", "否"}


def is_missing(value: Any) -> bool:
    """Blank cells: None, NaN, NA or whitespace, whatever the format made of an empty field."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a numeric-looking code that a format stored as float
    return str(value).strip()


def integer(low: int | None = None, high: int | None = None) -> Parser:
    def parse(value: Any) -> int:
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{value!r} is not a whole number")
        if isinstance(value, (int, np.integer)):
            number = int(value)
        elif isinstance(value, (float, np.floating)) and float(value).is_integer():
            number = int(value)
        elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+(\.0*)?", value.strip()):
            number = int(value.strip().split(".")[0])  # "6.0": what spreadsheets and pandas write for 6
        else:
            raise ValueError(f"{value!r} is not a whole number")
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = f"{'-∞' if low is None else low}..{'∞' if high is None else high}"
            raise ValueError(f"{number} is outside {bounds}")
        return number
    return parse


def boolean(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    word = text(value).lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true/false")


def choice(codes: Collection[str], upper: bool = False) -> Parser:
    allowed = sorted(codes)

    def parse(value: Any) -> str:
        code = text(value)
        code = code.upper() if upper else code
        if code not in codes:
            raise ValueError(f"{code!r} is not one of {', '.join(allowed)}")
        return code
    return parse


def pattern(regex: str, meaning: str) -> Parser:
    compiled = re.compile(regex)

    def parse(value: Any) -> str:
        found = text(value)
        if not compiled.fullmatch(found):
            raise ValueError(f"{found!r} is not {meaning}")
        return found
    return parse


def day(value: Any) -> date:
    """A calendar date written YYYY-MM-DD (or a date the format already typed)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    found = text(value)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", found):
        raise ValueError(f"{found!r} is not a YYYY-MM-DD date")
    try:
        return date.fromisoformat(found)
    except ValueError:
        raise ValueError(f"{found!r} is not a real date") from None


def timestamp(value: Any) -> datetime:
    """An ISO 8601 time; without an offset it is China Standard Time (UTC+8)."""
    if isinstance(value, datetime):
        moment = value
    else:
        found = text(value)
        try:
            moment = datetime.fromisoformat(found.replace("Z", "+00:00").replace("/", "-"))
        except ValueError:
            raise ValueError(f"{found!r} is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA_TIME)


def codes_list(codes: Collection[str]) -> Parser:
    """';'-separated codes, each from `codes`; order kept, repeats dropped."""
    def parse(value: Any) -> list[str]:
        found = [part.strip() for part in text(value).split(";") if part.strip()]
        unknown = [code for code in found if code not in codes]
        if unknown:
            raise ValueError(f"unknown code(s) {', '.join(unknown)}")
        return list(dict.fromkeys(found))
    return parse
