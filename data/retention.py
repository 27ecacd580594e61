"""How long reporters' names and contacts are kept: for call-backs while a case is open, then a retention
period after it is closed or rejected (MINQING_CONTACT_RETENTION_DAYS), then gone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, text

FINISHED = ("closed", "rejected")

# closed_at is set on closing; a rejected case's last step (updated_at) is when it finished
PURGE_SQL = text("""
UPDATE event SET reporter_name_sealed = NULL, reporter_name_masked = NULL,
                 reporter_contact_sealed = NULL, reporter_contact_masked = NULL
WHERE (reporter_name_sealed IS NOT NULL OR reporter_contact_sealed IS NOT NULL
       OR reporter_name_masked IS NOT NULL OR reporter_contact_masked IS NOT NULL)
  AND status IN ('closed', 'rejected')
  AND coalesce(closed_at, updated_at, reported_at) < :cutoff
""")


def purge_contacts(conn: Connection, days: int, now: datetime | None = None) -> int:
    """Forget the reporter of every case finished more than `days` ago (in the caller's transaction)."""
    if days < 0:
        raise ValueError("the retention period cannot be negative")
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    return conn.execute(PURGE_SQL, {"cutoff": cutoff}).rowcount
