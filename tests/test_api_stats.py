"""`/api/stats/events` against the tiny city, checked with pandas."""
from __future__ import annotations

import pandas as pd
import pytest


CLOSED = {"resolved", "verified", "closed", "rejected"}


@pytest.fixture(scope="module")
def events(city_engine) -> pd.DataFrame:
    return pd.read_sql(
        "SELECT e.*, g.code AS grid, d.code AS department FROM event e JOIN grid g ON g.id = e.grid_id "
        "LEFT JOIN department d ON d.id = e.department_id", city_engine)


@pytest.mark.parametrize("by,extra", [("grid", {"grid_level": "community"}), ("grid", {"grid_level": "cell"}),
                                      ("period", {"period": "month"}), ("period", {"period": "week"}),
                                      ("category", {}), ("department", {}), ("source", {})])
def test_group_counts_add_up_to_the_total_and_to_the_list(client, by, extra):
    body = client.get("/api/stats/events", query_string={"by": by, "status": "closed,in_progress", **extra}).get_json()
    listed = client.get("/api/events", query_string={"status": "closed,in_progress", "limit": 1}).get_json()["total"]
    assert sum(r["count"] for r in body["rows"]) == body["total"]["count"] == listed > 0


def test_measures_per_category_match_pandas(client, events):
    body = client.get("/api/stats/events", query_string={"by": "category"}).get_json()
    events = events.assign(hours=(events.resolved_at - events.reported_at).dt.total_seconds() / 3600)
    for row in body["rows"]:
        mine = events[events.category == row["key"]]
        assert row["count"] == len(mine)
        assert row["open"] == (~mine.status.isin(CLOSED)).sum()
        assert row["overdue"] == mine.overdue.sum()
        resolved = mine.dropna(subset=["resolved_at"])
        if len(resolved):
            assert row["median_hours_to_resolve"] == pytest.approx(resolved.hours.median(), abs=0.01)
            assert row["p90_hours_to_resolve"] == pytest.approx(resolved.hours.quantile(0.9), abs=0.01)
            in_time = (resolved.resolved_at <= resolved.due_at).mean()
            assert row["share_resolved_in_time"] == pytest.approx(in_time, abs=1e-4)
        rated = mine.satisfaction.dropna()
        assert row["mean_satisfaction"] == (pytest.approx(rated.mean(), abs=1e-3) if len(rated) else None)


def test_grid_groups_carry_codes_and_names_of_that_level(client, events):
    body = client.get("/api/stats/events", query_string={"by": "grid", "grid_level": "street"}).get_json()
    assert [r["key"] for r in body["rows"]] == sorted(events.grid.str.rsplit(".", n=2).str[0].unique())
    assert all(r["name"].endswith("街道") for r in body["rows"])


def test_an_empty_selection_is_well_formed(client):
    body = client.get("/api/stats/events", query_string={"by": "category", "from": "1990-01-01",
                                                         "to": "1990-01-02"}).get_json()
    assert body["rows"] == [] and body["total"]["count"] == 0
    assert body["total"]["median_hours_to_resolve"] is None and body["total"]["mean_satisfaction"] is None


@pytest.mark.parametrize("query,field", [({"by": "weather"}, "by"), ({"by": "grid", "grid_level": "city"}, "grid_level"),
                                         ({"level": "cell"}, "level"),
                                         ({"by": "period", "period": "decade"}, "period"),
                                         ({"category": "bogus"}, "category")])
def test_bad_stats_queries_say_why(client, query, field):
    response = client.get("/api/stats/events", query_string=query)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == field
