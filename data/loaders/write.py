"""The write side of a load: COPY the good rows into their table (persons: new households first).

The caller owns the transaction; nothing here commits. `grid_id` is never written: the database
derives it from `geom` (and re-derives every pin when grids are inserted). ID numbers and phones are
sealed (data/pii.py) on their way in; the clear values never reach the database.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Callable

import numpy as np
import pandas as pd

from data.bulk import copy_frame, ewkb_hex
from data.loaders.kinds import Kind
from data.pii import Keyring
from data.pii_store import FIELDS, seal_frame


def _cell(value: Any) -> Any:
    """A parsed value as COPY's CSV text expects it."""
    if isinstance(value, (bool, np.bool_)):
        return "t" if value else "f"
    if isinstance(value, date):  # datetimes included: isoformat keeps the offset
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "{" + ",".join(value) + "}"  # vocabulary codes: no quotes or commas
    return value


def _table_frame(kind: Kind, rows: pd.DataFrame, geoms: np.ndarray | None) -> pd.DataFrame:
    stored = [c.name for c in kind.columns if c.stored]
    frame = pd.DataFrame({name: pd.Series([_cell(x) for x in rows[name]], dtype=object) for name in stored})
    if geoms is not None:
        frame["geom"] = ewkb_hex(geoms)
    return frame


def _households(cursor, rows: pd.DataFrame) -> pd.DataFrame:
    """Create the households persons name but the ledger lacks, in the first named house; return rows with ids."""
    new = rows[rows.household_id.isna()].drop_duplicates("household_ref")
    if len(new):
        made = pd.DataFrame({"ref": new.household_ref.to_numpy(dtype=object),
                             "house_id": new.house_id.to_numpy(dtype=object)})
        copy_frame(cursor, "household", made)
    cursor.execute("SELECT ref, id FROM household WHERE ref = ANY(%s)", (sorted(set(rows.household_ref)),))
    ids = dict(cursor.fetchall())
    rows = rows.copy()
    rows["household_id"] = [ids[ref] for ref in rows.household_ref]
    return rows


def write_rows(cursor, kind: Kind, rows: pd.DataFrame, geoms: np.ndarray | None,
               progress: Callable[[int], None] | None = None, keys: Keyring | None = None) -> int:
    """COPY `rows` (already checked) into the kind's table; returns the number of rows written."""
    if not len(rows):
        return 0
    frame = _table_frame(kind, rows, geoms if kind.geometry else None)
    if kind.name == "persons":
        frame["household_id"] = _households(cursor, rows)["household_id"].to_numpy(dtype=object)
    if kind.table in FIELDS:
        # ids drawn first, because each sealed value is bound to its row (the associated data names it)
        cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{kind.table}', 'id')) FROM generate_series(1, %s)",
                       (len(frame),))
        frame.insert(0, "id", [r[0] for r in cursor.fetchall()])
        frame = seal_frame(keys, kind.table, frame)
    return copy_frame(cursor, kind.table, frame, progress=progress)
