"""What each loadable kind is: its table, geometry, columns (required or optional, typed, checked) and row rules.

Column names in files are matched case-insensitively; columns not listed here are ignored.

| kind          | geometry       | required columns                        | optional columns                  |
|---------------|----------------|-----------------------------------------|-----------------------------------|
| grids         | (Multi)Polygon | code, name, level                       | kind, dedicated_for, leader,      |
|               |                |                                         | household_target                  |
| houses        | Point          | address                                 | ref, compound, kind, floors       |
| persons       | none           | name, gender, birth_date, relation,     | id_number, phone, tags,           |
|               |                | household_ref, house_ref                | is_key_person                     |
| places        | Point          | name, kind                              | ref, is_key, address              |
| things        | Point          | name, kind                              | ref, in_service                   |
| organizations | Point          | name, kind                              | ref, members                      |
| events        | Point          | title, category, source, reported_at    | ref, status, description,         |
|               |                |                                         | priority, due_at                  |

Values: codes from data/vocab.py; gender M/F; dates YYYY-MM-DD; times ISO 8601 (no offset = UTC+8);
tags ';'-separated; booleans true/false/1/0/yes/no/是/否. Blank cells take the default shown in KINDS.
A person's household (household_ref) is created in house_ref's house when the ledger lacks it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pandas as pd

from data import idcard, vocab
from data.errors import LoadError
from data.loaders import values as v

RowProblems = Iterator[tuple[int, str]]  # (0-based position, reason)


@dataclass(frozen=True)
class Column:
    """One file column: how a cell is parsed, whether it must be there, what a blank cell becomes."""

    name: str
    parse: v.Parser = v.text
    required: bool = False
    default: Any = None
    stored: bool = True  # False: used to find references, not a column of the table


@dataclass(frozen=True)
class Kind:
    """A loadable kind: the `minqing load` name, its table, geometry type and columns."""

    name: str
    table: str
    geometry: str | None  # "point", "polygon" or None
    columns: tuple[Column, ...]
    rules: Callable[[pd.DataFrame], RowProblems] | None = None  # checks across columns of one row
    derive: Callable[[pd.DataFrame], None] | None = None  # fills values computed from others
    refs: tuple[str, ...] = field(default=("ref",))  # columns unique in the file and in the table

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def _id_number(value: Any) -> str:
    number = v.text(value).upper()
    reason = idcard.problem(number)
    if reason:
        raise ValueError(reason)
    return number


def _grid_rules(rows: pd.DataFrame) -> RowProblems:
    for pos, code, level, kind, dedicated_for in zip(rows.index, rows.code, rows.level, rows.kind, rows.dedicated_for):
        if code is not None and level is not None:
            depth, needed = code.count(".") + 1, vocab.LEVEL_DEPTH[level]
            if depth != needed:
                yield pos, f"code {code} has {depth} part(s) but a {level} grid needs {needed}"
        if kind is not None and (kind == "dedicated") != (dedicated_for is not None):
            yield pos, "dedicated_for must be given exactly when kind is dedicated"
        if kind == "dedicated" and level not in (None, "cell"):
            yield pos, "only a cell grid can be dedicated"


def _event_rules(rows: pd.DataFrame) -> RowProblems:
    for pos, reported, due in zip(rows.index, rows.reported_at, rows.due_at):
        if reported is not None and due is not None and due < reported:
            yield pos, "due_at is before reported_at"


def _key_places(rows: pd.DataFrame) -> None:
    rows["is_key"] = [k in vocab.KEY_PLACE_KINDS if given is None else given
                      for k, given in zip(rows.kind, rows.is_key)]


def _key_persons(rows: pd.DataFrame) -> None:
    rows["is_key_person"] = [bool(vocab.KEY_PERSON_TAGS.intersection(tags or ())) if given is None else given
                             for tags, given in zip(rows.tags, rows.is_key_person)]


_NAME = Column("name", required=True)
_REF = Column("ref")

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("grids", "grid", "polygon", (
        Column("code", v.pattern(r"[0-9A-Za-z]+(\.[0-9A-Za-z]+)*", "a grid code like 620105.003.012.04"), True),
        _NAME,
        Column("level", v.choice(vocab.LEVELS), True),
        Column("kind", v.choice(vocab.GRID_KINDS), default="regular"),
        Column("dedicated_for", v.choice(vocab.DEDICATED_FOR)),
        Column("leader"),
        Column("household_target", v.integer(1)),
    ), rules=_grid_rules, refs=("code",)),
    Kind("houses", "house", "point", (
        _REF,
        Column("address", required=True),
        Column("compound"),
        Column("kind", v.choice(vocab.HOUSE_KINDS), default="residential"),
        Column("floors", v.integer(1, 200)),
    )),
    Kind("persons", "person", None, (
        _NAME,
        Column("gender", v.choice({"M", "F"}, upper=True), True),
        Column("birth_date", v.day, True),
        Column("id_number", _id_number),
        Column("phone", v.pattern(r"[0-9]{11}", "an 11-digit phone number")),
        Column("relation", v.choice(vocab.RELATIONS), True),
        Column("tags", v.codes_list(vocab.PERSON_TAGS), default=()),
        Column("is_key_person", v.boolean),
        Column("household_ref", required=True, stored=False),
        Column("house_ref", required=True, stored=False),
    ), derive=_key_persons, refs=("id_number",)),
    Kind("places", "place", "point", (
        _NAME,
        Column("kind", v.choice(vocab.PLACE_KINDS), True),
        Column("is_key", v.boolean),
        Column("address"),
        _REF,
    ), derive=_key_places),
    Kind("things", "thing", "point", (
        _NAME,
        Column("kind", v.choice(vocab.THING_KINDS), True),
        Column("in_service", v.boolean, default=True),
        _REF,
    )),
    Kind("organizations", "organization", "point", (
        _NAME,
        Column("kind", v.choice(vocab.ORG_KINDS), True),
        Column("members", v.integer(0)),
        _REF,
    )),
    Kind("events", "event", "point", (
        Column("title", required=True),
        Column("category", required=True),
        Column("source", v.choice(vocab.EVENT_SOURCES), True),
        Column("reported_at", v.timestamp, True),
        Column("status", v.choice(vocab.EVENT_STATUSES), default="reported"),
        Column("description"),
        Column("priority", v.integer(1, 3), default=2),
        Column("due_at", v.timestamp),
        _REF,
    ), rules=_event_rules),
)}


def kind_named(name: str) -> Kind:
    """The kind a user asked for, or a LoadError listing the kinds there are."""
    try:
        return KINDS[name]
    except KeyError:
        raise LoadError(f"unknown kind {name!r}: choose one of {', '.join(KINDS)}") from None
