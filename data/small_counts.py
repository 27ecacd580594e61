"""Small counts of sensitive groups hidden from roles that may not see people: a "2 on subsistence in this
building" names them to anyone who knows the building.

A count of 1–4 becomes None (0 is shown: it says nobody, which names nobody). A total is hidden too when
any of its parts is: with one hidden part it gives that part back by subtraction, with several the sum of
the hidden ones (another total without them subtracts to it).
"""
from __future__ import annotations

from typing import Iterable

THRESHOLD = 5
# tags whose holders are vulnerable or stigmatised (PIPL art. 28 sensitive personal information): living
# alone, allowance, disability, illness, children left behind, and every key-person (behaviour) family
SENSITIVE_COUNTS = frozenset({"elderly_alone", "left_behind_children", "subsistence", "disabled", "serious_illness",
                              "key_persons", "unvisited_elderly_alone", "unvisited_key", "unvisited_key_person"})


def hidden(value) -> bool:
    return value is not None and 0 < value < THRESHOLD


def suppress(rows: list[dict], columns: Iterable[str]) -> tuple[list[dict], dict[str, int | None]]:
    """Rows with small sensitive counts set to None, and the column totals computed safely."""
    totals: dict[str, int | None] = {}
    for column in columns:
        values = [r[column] for r in rows]
        total = sum(v or 0 for v in values)
        if column in SENSITIVE_COUNTS:
            suppressed = [hidden(v) for v in values]
            for row, gone in zip(rows, suppressed):
                if gone:
                    row[column] = None
            total = None if hidden(total) or any(suppressed) else total
        totals[column] = total
    return rows, totals
