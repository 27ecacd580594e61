"""`/api/live/summary` and data.live_summary: the command centre's counters equal plain SQL, per scope."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from data import live_summary

CLOSED = ("resolved", "verified", "closed", "rejected")


def expected(conn, scope):
    where = "" if scope is None else "AND g.path <@ CAST(:scope AS ltree[])"
    rows = conn.execute(text(f"SELECT e.* FROM event e LEFT JOIN grid g ON g.id = e.grid_id WHERE TRUE {where}"),
                        {"scope": list(scope or [])}).mappings().all()
    live = [r for r in rows if r["status"] not in CLOSED]
    timed = [r for r in rows if r["resolved_at"] is not None and r["due_at"] is not None]
    return {"open": len(live), "overdue": sum(r["overdue"] for r in live), "major": sum(r["is_major"] for r in live),
            "resolved_in_time": round(sum(r["resolved_at"] <= r["due_at"] for r in timed) / len(timed), 4),
            "ids": sorted(rows, key=lambda r: (r["reported_at"], r["id"]), reverse=True)}


@pytest.mark.parametrize("user", [None, "leader1", "worker1"])
def test_counters_equal_sql(client, city_conn, user):
    scope = None if user is None else tuple(city_conn.execute(text(
        "SELECT scope::text[] FROM app_user WHERE username = :u"), {"u": user}).scalar_one())
    want = expected(city_conn, scope)
    got = client.get("/api/live/summary", headers={"X-Demo-User": user} if user else {}).get_json()
    assert {k: got[k] for k in ("open", "overdue", "major", "resolved_in_time")} == {
        k: want[k] for k in ("open", "overdue", "major", "resolved_in_time")}
    assert sum(v["open"] for v in got["by_level"].values()) == got["open"]
    assert [e["id"] for e in got["latest"]] == [r["id"] for r in want["ids"][:20]]


def test_today_counts_reports_since_beijing_midnight(city_conn):
    # the tiny city's last report is 2026-10-31 22:43 UTC, i.e. 11-01 06:43 in Beijing
    assert live_summary.summary(city_conn, None, now=datetime(2026, 11, 1, 1, 0, tzinfo=timezone.utc))["today"] >= 1
    assert live_summary.summary(city_conn, None, now=datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc))["today"] == 0


def test_citizens_cannot_read_the_counters(client):
    assert client.get("/api/live/summary", headers={"X-Demo-User": "citizen"}).status_code in (401, 403)
