"""Where personal data lives sealed: for each field, `<field>_sealed`, `<field>_hmac` and `<field>_masked`
columns; sealing a frame for COPY, re-sealing under a new key, and the migration's clear-value passes."""
from __future__ import annotations

from types import MappingProxyType
from typing import Sequence

import pandas as pd
from sqlalchemy import Connection, text

from data import pii
from data.pii import Keyring

# table -> personal fields; everything here is sealed at rest, masked on display, revealed only with audit
FIELDS = MappingProxyType({"person": ("id_number", "phone"), "staff": ("phone",)})
# sealed with no lookup hash or mask: the full birth date is the 8 digits a masked ID number hides, so only its
# year stays clear (for ages); nothing looks a person up by it
SEALED_ONLY = MappingProxyType({"person": ("birth_date",)})
# sealed and masked, no lookup hash: a citizen reporter's name and contact are for call-backs, nobody searches them
MASKED_ONLY = MappingProxyType({"event": ("reporter_name", "reporter_contact")})
SEALED = MappingProxyType({t: FIELDS.get(t, ()) + SEALED_ONLY.get(t, ()) + MASKED_ONLY.get(t, ())
                           for t in {*FIELDS, *SEALED_ONLY, *MASKED_ONLY}})
CLEAR_PART = MappingProxyType({"birth_date": ("birth_year", lambda iso: int(iso[:4]))})
BATCH = 20_000


def sealed_values(keys: Keyring, table: str, field: str, ids: Sequence[int],
                  values: Sequence[str | None]) -> dict[str, list]:
    """The three stored columns of one field, as Python values (bytes for bytea)."""
    values = [None if v is None or v != v else pii.normalise(field, str(v)) for v in values]  # NaN = missing
    aads = [pii.context(table, field, int(i)) for i in ids]
    if field in CLEAR_PART:
        name, part = CLEAR_PART[field]
        return {f"{field}_sealed": pii.seal_many(keys, values, aads),
                name: [None if v is None else part(v) for v in values]}
    mask = pii.MASKS[field]
    stored = {f"{field}_sealed": pii.seal_many(keys, values, aads)}
    if field in FIELDS.get(table, ()):
        stored[f"{field}_hmac"] = pii.lookup_hashes(keys, field, values)
    return {**stored, f"{field}_masked": [None if v is None else mask(v) for v in values]}


def _copy_text(column: list) -> list:
    """bytea as COPY's text form reads it."""
    return [None if b is None else "\\x" + b.hex() for b in column]


def seal_frame(keys: Keyring, table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (with an `id` column) with each clear personal field replaced by its stored columns, for COPY."""
    out = frame.copy()
    ids = out["id"].to_numpy()
    for field in SEALED[table]:
        if field not in out:
            continue
        stored = sealed_values(keys, table, field, ids, out.pop(field).tolist())
        for name, column in stored.items():
            out[name] = pd.Series(_copy_text(column) if name.endswith(("_sealed", "_hmac")) else column,
                                  index=out.index, dtype=object)
    return out


def key_ids_in_use(conn: Connection) -> dict[int, int]:
    """Sealed values per key id, across every personal field."""
    counts: dict[int, int] = {}
    for table, fields in SEALED.items():
        for field in fields:
            for kid, n in conn.execute(text(
                    f"SELECT get_byte({field}_sealed, 1) * 256 + get_byte({field}_sealed, 2), count(*) FROM {table} "
                    f"WHERE {field}_sealed IS NOT NULL GROUP BY 1")):
                counts[kid] = counts.get(kid, 0) + n
    return counts


def _pages(conn: Connection, table: str, column: str, where: str = "", params: dict | None = None):
    """(ids, rows) of `table` in id order, BATCH at a time, where `column` is set (and `where` holds)."""
    after = 0
    while True:
        rows = conn.execute(text(f"SELECT id, {column} FROM {table} WHERE id > :after AND {column} IS NOT NULL "
                                 f"{where} ORDER BY id LIMIT :n"), {"after": after, "n": BATCH, **(params or {})}).all()
        if not rows:
            return
        ids = [r[0] for r in rows]
        yield ids, rows
        after = ids[-1]


def reseal(conn: Connection, keys: Keyring) -> int:
    """Re-seal every value not under the active key (in the caller's transaction); returns how many."""
    active = pii.HEADER.pack(pii.VERSION, keys.active)
    done = 0
    for table, fields in SEALED.items():
        for field in fields:
            for ids, rows in _pages(conn, table, f"{field}_sealed",
                                    f"AND substring({field}_sealed FROM 1 FOR 3) <> :active", {"active": active}):
                clear = [pii.unseal(keys, r[1], pii.context(table, field, r[0])) for r in rows]
                sealed = pii.seal_many(keys, clear, [pii.context(table, field, i) for i in ids])
                conn.execute(text(f"UPDATE {table} t SET {field}_sealed = v.s FROM unnest(CAST(:ids AS bigint[]), "
                                  f"CAST(:s AS bytea[])) AS v(id, s) WHERE t.id = v.id"), {"ids": ids, "s": sealed})
                done += len(rows)
    return done


def seal_clear_column(conn: Connection, keys: Keyring, table: str, field: str) -> int:
    """Migration pass: move the clear column `field` into its sealed columns (the caller drops it after)."""
    done = 0
    for ids, rows in _pages(conn, table, field):
        stored = sealed_values(keys, table, field, ids, [str(r[1]).strip() for r in rows])
        sets = ", ".join(f"{name} = v.{name}" for name in stored)
        kinds = {name: "bytea" if name.endswith(("_sealed", "_hmac")) else "text" if name.endswith("_masked")
                 else "integer" for name in stored}
        casts = ", ".join(f"CAST(:c{i} AS {kinds[name]}[])" for i, name in enumerate(stored))
        conn.execute(text(
            f"UPDATE {table} t SET {sets} FROM unnest(CAST(:ids AS bigint[]), {casts}) AS v(id, {', '.join(stored)}) "
            f"WHERE t.id = v.id"), {"ids": ids, **{f"c{i}": column for i, column in enumerate(stored.values())}})
        done += len(rows)
    return done


def open_to_clear_column(conn: Connection, keys: Keyring, table: str, field: str) -> int:
    """Downgrade pass: the sealed values back into a clear column `field` (which the caller has added)."""
    done = 0
    for ids, rows in _pages(conn, table, f"{field}_sealed"):
        clear = [pii.unseal(keys, r[1], pii.context(table, field, r[0])) for r in rows]
        conn.execute(text(f"UPDATE {table} t SET {field} = CAST(v.c AS {'date' if field == 'birth_date' else 'text'}) "
                          f"FROM unnest(CAST(:ids AS bigint[]), CAST(:c AS text[])) AS v(id, c) WHERE t.id = v.id"),
                     {"ids": ids, "c": clear})
        done += len(rows)
    return done


def find_by(conn: Connection, keys: Keyring, table: str, field: str, value: str) -> list[int]:
    """Ids of rows whose `field` is exactly `value`, through the keyed hash (one index probe)."""
    return list(conn.execute(text(f"SELECT id FROM {table} WHERE {field}_hmac = :h ORDER BY id"),
                             {"h": pii.lookup_hash(keys, field, value)}).scalars())
