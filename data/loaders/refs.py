"""Checks against the ledger and across rows: unique refs, parent grids, houses, households, categories.

They run inside the load's transaction, so what they see is what the write builds on. Table and
column names come from kinds.py; values from the file are always bound parameters.
"""
from __future__ import annotations

from collections import defaultdict

import pandas as pd

from data import pii
from data.loaders.checks import Problems
from data.loaders.kinds import Kind
from data.pii import Keyring
from data.pii_store import FIELDS


def _existing(cursor, sql: str, values: set) -> dict:
    if not values:
        return {}
    cursor.execute(sql, (sorted(values),))
    return {row[0]: row[1:] for row in cursor.fetchall()}


def _shown(column: str, value: str) -> str:
    # ID numbers are never repeated whole in messages that end up in logs and terminals
    return f"ending {value[-4:]}" if column == "id_number" else value


def _taken(cursor, kind: Kind, column: str, values: set, keys: Keyring | None) -> set:
    """Values already in the table; sealed fields are found through their keyed hash, never in clear."""
    if kind.table in FIELDS and column in FIELDS[kind.table]:
        if not values:
            return set()
        hashed = dict(zip(pii.lookup_hashes(keys, column, sorted(values)), sorted(values)))
        found = _existing(cursor, f"SELECT {column}_hmac FROM {kind.table} WHERE {column}_hmac = ANY(%s)",
                          set(hashed))
        return {hashed[bytes(h)] for h in found}
    current = " AND valid_to IS NULL" if kind.table == "grid" else ""
    return set(_existing(cursor, f"SELECT {column} FROM {kind.table} WHERE {column} = ANY(%s){current}", values))


def _unique(cursor, kind: Kind, rows: pd.DataFrame, problems: Problems, keys: Keyring | None) -> None:
    for column in kind.refs:
        first: dict[str, int] = {}
        for pos, value in zip(rows.index, rows[column]):
            if value is None:
                continue
            if value in first:
                problems[pos].append(f"{column} {_shown(column, value)} repeats row {first[value] + 1}")
            else:
                first[value] = pos
        for value in _taken(cursor, kind, column, set(first), keys):
            problems[first[value]].append(f"{column} {_shown(column, value)} already exists")


def _parents(cursor, rows: pd.DataFrame, problems: Problems, bad: set[int]) -> None:
    """A grid's parent (its code minus the last part) is current in the ledger or a good row of this file."""
    parent_of = {pos: code.rpartition(".")[0] for pos, code in zip(rows.index, rows.code) if code and "." in code}
    in_db = _existing(cursor, "SELECT code FROM grid WHERE code = ANY(%s) AND valid_to IS NULL",
                      set(parent_of.values()))
    rejected = set(bad) | {pos for pos, reasons in problems.items() if reasons}
    in_file = set(rows.code)
    while True:  # a rejected parent takes its whole subtree with it
        good_codes = {code for pos, code in zip(rows.index, rows.code) if code and pos not in rejected}
        orphans = {pos for pos, parent in parent_of.items()
                   if pos not in rejected and parent not in in_db and parent not in good_codes}
        if not orphans:
            return
        for pos in orphans:
            parent = parent_of[pos]
            fate = "is rejected" if parent in in_file else "does not exist"
            problems[pos].append(f"parent grid {parent} {fate}")
        rejected |= orphans


def _categories(cursor, rows: pd.DataFrame, problems: Problems) -> None:
    known = _existing(cursor, "SELECT code FROM event_category WHERE code = ANY(%s)", set(rows.category.dropna()))
    for pos, category in zip(rows.index, rows.category):
        if category is not None and category not in known:
            problems[pos].append(f"category {category} does not exist")


def _households(cursor, rows: pd.DataFrame, problems: Problems, bad: set[int]) -> None:
    """Each person's house must exist; a household is new (made in the house given) or already in that house."""
    houses = _existing(cursor, "SELECT ref, id FROM house WHERE ref = ANY(%s)", set(rows.house_ref.dropna()))
    held = _existing(cursor, "SELECT hh.ref, hh.id, h.ref FROM household hh JOIN house h ON h.id = hh.house_id "
                             "WHERE hh.ref = ANY(%s)", set(rows.household_ref.dropna()))
    first_house: dict[str, tuple[str, int]] = {}
    house_ids, household_ids = [], []
    for pos, household, house in zip(rows.index, rows.household_ref, rows.house_ref):
        house_ids.append(houses[house][0] if house in houses else None)
        household_ids.append(held[household][0] if household in held else None)
        if house is not None and house not in houses:
            problems[pos].append(f"house_ref {house} does not exist")
        if household is None or house is None:
            continue
        if household in held and held[household][1] != house:
            problems[pos].append(f"household {household} is in house {held[household][1]}, not {house}")
        elif household not in held and pos not in bad and not problems.get(pos):
            seen = first_house.setdefault(household, (house, pos))
            if seen[0] != house:
                problems[pos].append(f"household {household} is in house {seen[0]} (row {seen[1] + 1}), not {house}")
    rows["house_id"] = pd.Series(house_ids, index=rows.index, dtype=object)
    rows["household_id"] = pd.Series(household_ids, index=rows.index, dtype=object)


def check_references(cursor, kind: Kind, rows: pd.DataFrame, bad: set[int], keys: Keyring | None = None) -> Problems:
    """Problems found against the ledger; adds house_id/household_id to person rows for the writer."""
    problems: Problems = defaultdict(list)
    _unique(cursor, kind, rows, problems, keys)
    if kind.name == "grids":
        _parents(cursor, rows, problems, bad)
    elif kind.name == "events":
        _categories(cursor, rows, problems)
    elif kind.name == "persons":
        _households(cursor, rows, problems, bad)
    return problems
