"""Row checks that need no database: every cell parsed to its stored type, every row rule applied."""
from __future__ import annotations

from collections import defaultdict

import pandas as pd

from data.errors import LoadError
from data.loaders import values as v
from data.loaders.kinds import Kind

Problems = dict[int, list[str]]  # position in the file (0-based) -> reasons


def require_columns(present: set[str], kind: Kind, geometry_columns: str | None = None) -> None:
    """Refuse the file before any row work when a required column is absent."""
    missing = [name for name in kind.required if name not in present]
    if geometry_columns:
        missing.append(geometry_columns)
    if missing:
        raise LoadError(f"{kind.name}: missing required column(s): {', '.join(missing)}; nothing was written")


def parse_rows(frame: pd.DataFrame, kind: Kind) -> tuple[pd.DataFrame, Problems]:
    """The kind's columns parsed from the file's (names already lower-case); blanks become defaults or None."""
    problems: Problems = defaultdict(list)
    parsed: dict[str, pd.Series] = {}
    for column in kind.columns:
        raw = frame[column.name] if column.name in frame.columns else pd.Series([None] * len(frame), dtype=object)
        out: list = []
        for pos, value in enumerate(raw.tolist()):
            if v.is_missing(value):
                if column.required:
                    problems[pos].append(f"{column.name} is required")
                out.append(column.default)
                continue
            try:
                out.append(column.parse(value))
            except ValueError as exc:
                problems[pos].append(f"{column.name}: {exc}")
                out.append(None)
        parsed[column.name] = pd.Series(out, dtype=object)
    rows = pd.DataFrame(parsed, index=pd.RangeIndex(len(frame)))
    if kind.rules:
        for pos, reason in kind.rules(rows):
            problems[pos].append(reason)
    if kind.derive:
        kind.derive(rows)
    return rows, problems


def merge(*sources: Problems) -> Problems:
    merged: Problems = defaultdict(list)
    for source in sources:
        for pos, reasons in source.items():
            merged[pos].extend(reasons)
    return merged


def as_rejects(problems: Problems) -> list[tuple[int, str]]:
    """(row, reason) pairs for people: row is 1-based, one pair per bad row with its reasons joined."""
    return [(int(pos) + 1, "; ".join(reasons)) for pos, reasons in sorted(problems.items()) if reasons]
