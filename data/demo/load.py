"""Write a generated city into the ledger in one transaction, through COPY, with a progress bar."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

import pandas as pd
from sqlalchemy import Engine, text
from tqdm import tqdm

from data import generalize, pii, pii_store
from data.bulk import checked_after, copy_frame, ewkb_hex, pg_array, reset_identity
from data.demo.city import City
from data.errors import LedgerError
from data.pii import Keyring
from data.provision import EMPTY_LEDGER_SQL
from data.settings import Settings

log = logging.getLogger(__name__)

# parents before children; grids first so every pin is assigned as it arrives
ORDER = ("department", "event_category", "grid", "house", "household", "person", "place", "thing",
         "organization", "staff", "event", "event_log", "visit", "demo_hotspot", "app_user")
WITH_OUR_IDS = ("department", "house", "household", "person", "place", "thing", "organization", "staff", "event",
                "event_log", "visit")
GEOMETRY_COLUMNS = ("geom", "center")


# Open events get the deadline of the stage they are in (counted from their last step, on the stage's
# clock); those already past it are overdue, so the first `tick` only sees what becomes due later.
STAGE_DEADLINES_SQL = """
UPDATE event SET stage_due_at = d.due, overdue = overdue OR d.due < %(as_of)s
FROM (SELECT id, CASE WHEN status = 'suspended' THEN review_at
                      ELSE stage_deadline(category, event_stage(status), updated_at) END AS due FROM event
      WHERE status IN ('reported', 'accepted', 'dispatched', 'in_progress', 'returned', 'escalated', 'suspended')) d
WHERE event.id = d.id"""


class NotEmpty(LedgerError):
    """The ledger already holds a city; loading another on top would mix two worlds."""


def ledger_is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM grid)")).scalar_one()


def default_keys() -> Keyring:
    """The operator's key file (MINQING_PII_KEYS), made with mode 600 the first time a city is loaded."""
    return pii.load_or_create(Settings.from_env().pii_keys)


def as_copy_frame(table: str, frame: pd.DataFrame, keys: Keyring | None = None) -> pd.DataFrame:
    if table in pii_store.FIELDS:
        out = pii_store.seal_frame(keys or default_keys(), table, frame)
    else:
        out = frame.copy()
    for column in GEOMETRY_COLUMNS:
        if column in out:
            out[column] = ewkb_hex(out[column].to_numpy())
    if "tags" in out:
        out["tags"] = pg_array(out.tags)
    return out


def load(engine: Engine, city: City, progress: bool = True, replace: bool = False,
         keys: Keyring | None = None) -> dict[str, float]:
    """Rows per second per table; the whole city lands (replacing what was there, if asked) or nothing changes.

    ID numbers and phones are sealed under `keys` (default: the key file in MINQING_PII_KEYS, made if missing).
    """
    keys = keys or default_keys()
    total = sum(len(city.tables[t]) for t in ORDER)
    rates: dict[str, float] = {}
    grid = city.tables["grid"].assign(valid_from=city.as_of - timedelta(days=730), changed_by="demo",
                                      change_note=f"demo city, scale {city.scale}, seed {city.seed}")
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur, tqdm(total=total, unit="row", disable=not progress, desc="demo city") as bar:
            cur.execute("LOCK TABLE grid IN SHARE ROW EXCLUSIVE MODE")  # one loader at a time, checked inside
            if replace:
                cur.execute(EMPTY_LEDGER_SQL)
            elif cur.execute("SELECT EXISTS (SELECT 1 FROM grid)").fetchone()[0]:
                raise NotEmpty("the database already holds a city; pass replace=True (--replace) or use --if-empty")
            for table in ORDER:
                frame = grid if table == "grid" else city.tables[table]
                bar.set_postfix_str(table)
                started = time.perf_counter()
                with checked_after(cur, table):
                    copy_frame(cur, table, as_copy_frame(table, frame, keys), progress=bar.update)
                if table in WITH_OUR_IDS:
                    reset_identity(cur, table)
                rates[table] = len(frame) / max(time.perf_counter() - started, 1e-9)
                log.info("loaded %s: %d rows (%.0f rows/s)", table, len(frame), rates[table])
            cur.execute(STAGE_DEADLINES_SQL, {"as_of": city.as_of})
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
    with engine.begin() as conn:
        generalize.refresh(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # VACUUM, not just ANALYZE: it sets the visibility map, so per-grid counts run as index-only scans
        conn.execute(text("VACUUM (ANALYZE)"))
    return rates
