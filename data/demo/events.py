"""A year of events: rates that follow population, the week and the seasons, planted hotspots,
and a lifecycle history for each that follows data.lifecycle's table."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from data.lifecycle import DEADLINE_HOURS
from data.vocab import EVENT_CATEGORIES

CATEGORY_SHARE = {
    "dispute": 0.14, "safety_hazard": 0.12, "environment": 0.14, "illegal_construction": 0.05,
    "public_order": 0.07, "noise": 0.09, "heating": 0.08, "property": 0.11, "food_safety": 0.04,
    "public_service": 0.09, "wage_arrears": 0.03, "petition": 0.03,
}
SOURCES = (["grid_worker", "citizen_qr", "hotline_12345", "sensor", "video_ai"], [0.45, 0.2, 0.25, 0.05, 0.05])
WEEKDAY = np.array([1.1, 1.1, 1.05, 1.05, 1.0, 0.75, 0.7])
HOUR = np.array([0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.5, 0.9, 1.3, 1.5, 1.5, 1.3, 1.0, 1.1, 1.4, 1.5, 1.4, 1.2,
                 1.0, 0.9, 0.8, 0.6, 0.4, 0.2])
HOTSPOT_CATEGORIES = ("noise", "environment", "public_order", "safety_hazard", "property")

# Histories as paths through the lifecycle table: (statuses, handling level at each step).
_MAIN = ["reported", "accepted", "dispatched", "in_progress", "resolved", "verified", "closed"]
PATHS = [
    (_MAIN, ["grid"] * 7),
    (["reported", "accepted", "escalated", "accepted", "dispatched", "in_progress", "resolved", "verified", "closed"],
     ["grid", "grid", "community", "community", "community", "community", "community", "community", "community"]),
    (["reported", "accepted", "escalated", "accepted", "escalated", "accepted", "dispatched", "in_progress",
      "resolved", "verified", "closed"],
     ["grid", "grid", "community", "community", "street", "street", "street", "street", "street", "street",
      "street"]),
    (["reported", "accepted", "dispatched", "returned", "dispatched", "in_progress", "resolved", "verified", "closed"],
     ["grid"] * 9),
    (["reported", "accepted", "dispatched", "in_progress", "resolved", "in_progress", "resolved", "verified",
      "closed"], ["grid"] * 9),
    (["reported", "rejected"], ["grid"] * 2),
    (["reported", "accepted", "dispatched", "in_progress", "suspended"], ["grid"] * 5),
]
PATH_P = [0.70, 0.10, 0.02, 0.05, 0.04, 0.05, 0.04]
# median hours spent before each kind of step, with a lognormal spread
STEP_HOURS = {"accepted": 1.5, "dispatched": 3, "in_progress": 8, "resolved": None, "verified": 20, "closed": 24,
              "escalated": 12, "returned": 10, "rejected": 4, "suspended": 72}


def season(category: str, months: np.ndarray) -> np.ndarray:
    """Heating complaints in the heating season (Nov–Mar); sanitation and noise peak in summer."""
    if category == "heating":
        return np.where(np.isin(months, [11, 12, 1, 2, 3]), 2.6, 0.05)
    if category in ("environment", "noise"):
        return np.where(np.isin(months, [6, 7, 8]), 1.5, 0.9)
    return np.ones_like(months, dtype=float)


def event_times(rng, n: int, as_of: datetime) -> tuple[np.ndarray, np.ndarray]:
    """(category codes, report times) for the background events of the 365 days before `as_of`."""
    start = as_of.replace(tzinfo=None) - timedelta(days=365)
    hours = pd.date_range(start, periods=365 * 24, freq="h")  # naive UTC
    local = hours + pd.Timedelta(hours=8)  # people keep Beijing time
    base = WEEKDAY[local.day_of_week] * HOUR[local.hour]
    cats = list(CATEGORY_SHARE)
    weights = np.array([CATEGORY_SHARE[c] * season(c, local.month.to_numpy()) * base for c in cats])
    flat = weights.ravel() / weights.sum()
    picks = rng.choice(flat.size, size=n, p=flat)
    category = np.array(cats)[picks // len(hours)]
    when = hours.to_numpy()[picks % len(hours)] + (rng.random(n) * 3600e9).astype("timedelta64[ns]")
    return category, when


def hotspots(rng, n: int, n_events: int, house_xy: np.ndarray, as_of: datetime) -> pd.DataFrame:
    """Planted clusters: a centre at a home, a radius, a window of weeks, a category and a count."""
    centres = house_xy[rng.choice(len(house_xy), size=n, replace=False)]
    length = rng.integers(4, 13, n)
    start_day = rng.integers(0, 365 - 7 * length)
    starts = np.array([as_of - timedelta(days=365 - int(d)) for d in start_day])
    return pd.DataFrame({
        "id": np.arange(1, n + 1), "category": rng.choice(HOTSPOT_CATEGORIES, size=n),
        "x": centres[:, 0], "y": centres[:, 1], "radius_m": rng.uniform(150, 350, n).round(1),
        "starts_at": starts, "ends_at": starts + np.array([timedelta(weeks=int(w)) for w in length]),
        "n_events": np.maximum(8, (n_events * rng.uniform(0.008, 0.015, n)).astype(int)),
    })


def hotspot_events(rng, spots: pd.DataFrame, outline) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(xy, category, time) of every planted event, uniform in each disc and window, and the count kept
    per hotspot (points that fall outside the city are dropped, so the ground truth counts what exists)."""
    xy, cat, when, kept = [], [], [], []
    for s in spots.itertuples():
        r = s.radius_m * np.sqrt(rng.random(s.n_events))
        a = rng.uniform(0, 2 * np.pi, s.n_events)
        pts = np.column_stack([s.x + r * np.cos(a), s.y + r * np.sin(a)])
        span = (s.ends_at - s.starts_at).total_seconds()
        times = np.datetime64(s.starts_at.replace(tzinfo=None), "ns") + \
            (rng.random(s.n_events) * span * 1e9).astype("timedelta64[ns]")
        inside = shapely.contains_xy(outline, pts[:, 0], pts[:, 1])
        xy.append(pts[inside])
        cat.append(np.full(inside.sum(), s.category))
        when.append(times[inside])
        kept.append(int(inside.sum()))
    return np.vstack(xy), np.concatenate(cat), np.concatenate(when), np.array(kept)


def histories(rng, category: np.ndarray, reported: np.ndarray, as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per event: status, level, due/resolved/closed times; and the log rows of every step taken by `as_of`."""
    n = len(category)
    now = np.datetime64(as_of.replace(tzinfo=None), "ns")
    deadline = np.array([DEADLINE_HOURS[c] for c in category], dtype=float)
    due = reported + (deadline * 3600e9).astype("timedelta64[ns]")
    path = rng.choice(len(PATHS), size=n, p=PATH_P)
    state = pd.DataFrame({"status": "reported", "level": "grid", "resolved_at": pd.NaT, "closed_at": pd.NaT,
                          "since": reported}, index=np.arange(n))
    state["resolved_at"] = state["resolved_at"].astype("datetime64[ns]")
    state["closed_at"] = state["closed_at"].astype("datetime64[ns]")
    logs = []
    for p, (statuses, levels) in enumerate(PATHS):
        idx = np.flatnonzero(path == p)
        t = reported[idx].copy()
        alive = np.ones(len(idx), bool)
        previous = None
        for status, level in zip(statuses, levels):
            if previous is not None:
                median = STEP_HOURS[status] or 0.45 * deadline[idx]
                t = t + (rng.lognormal(np.log(median), 0.9, len(idx)) * 3600e9).astype("timedelta64[ns]")
                alive &= t <= now
            ev = idx[alive]
            logs.append(pd.DataFrame({"event_idx": ev, "at": t[alive], "from_status": previous,
                                      "to_status": status, "level": level}))
            state.loc[ev, "status"] = status
            state.loc[ev, "level"] = level
            state.loc[ev, "since"] = t[alive]
            if status == "resolved":
                state.loc[ev, "resolved_at"] = t[alive]
            if status == "in_progress":
                state.loc[ev, "resolved_at"] = pd.NaT  # a failed check reopens the case
            if status == "closed":
                state.loc[ev, "closed_at"] = t[alive]
            previous = status
    log = pd.concat(logs, ignore_index=True).sort_values(["event_idx", "at"], kind="stable")
    state["due_at"] = due
    open_ = ~state.status.isin(["resolved", "verified", "closed", "rejected", "suspended"])
    state["overdue"] = open_ & (due < now)
    suspended = state.status.eq("suspended").to_numpy()
    state["review_at"] = pd.Series(state.since.to_numpy() + np.timedelta64(30, "D")).where(suspended)
    return state, log.reset_index(drop=True)


def category_names() -> dict[str, str]:
    return {code: zh for code, zh, _, _ in EVENT_CATEGORIES}


def build(rng, city, frame, house: pd.DataFrame, spec, outline) -> None:
    """Fill the city's event, event_log and demo_hotspot tables."""
    spots = hotspots(rng, spec.hotspots, spec.events, house[["x", "y"]].to_numpy(), city.as_of)
    hot_xy, hot_cat, hot_when, spots["n_events"] = hotspot_events(rng, spots, outline)
    n_bg = spec.events - len(hot_xy)
    category, when = event_times(rng, n_bg, city.as_of)
    weights = house.households.to_numpy() / house.households.sum()
    home = house[["x", "y"]].to_numpy()[rng.choice(len(house), size=n_bg, p=weights)]
    at = home + rng.normal(0, 25, (n_bg, 2))
    strayed = ~shapely.contains_xy(outline, at[:, 0], at[:, 1])
    at[strayed] = home[strayed]
    xy = np.vstack([at, hot_xy])
    category = np.concatenate([category, hot_cat])
    reported = np.concatenate([when, hot_when]).astype("datetime64[ns]")
    order = np.argsort(reported, kind="stable")
    xy, category, reported = xy[order], category[order], reported[order]
    n = len(category)

    state, log = histories(rng, category, reported, city.as_of)
    lon, lat = frame.xy_to_lonlat(xy[:, 0], xy[:, 1])
    cat_zh = category_names()
    compound_of = house.compound.to_numpy()[cKDTree(house[["x", "y"]].to_numpy()).query(xy)[1]]  # nearest
    dept = dict(zip(city.tables["event_category"].code, city.tables["event_category"].department_id))
    to_department = rng.random(n) < 0.6
    major = rng.random(n) < 0.02
    source = rng.choice(SOURCES[0], size=n, p=SOURCES[1])
    rated = state.status.eq("closed").to_numpy() & np.isin(source, ["citizen_qr", "hotline_12345", "grid_worker"])
    utc = lambda a: pd.to_datetime(a).tz_localize("UTC")  # noqa: E731
    city.tables["event"] = pd.DataFrame({
        "id": np.arange(1, n + 1), "ref": [f"E{i:08d}" for i in range(1, n + 1)],
        "title": [f"{c}附近{cat_zh[k]}" for c, k in zip(compound_of, category)],
        "category": category, "source": source, "status": state.status.to_numpy(),
        "level": state.level.to_numpy(), "priority": np.where(major, 1, rng.choice([2, 3], size=n, p=[0.7, 0.3])),
        "is_major": major,
        "department_id": np.where(to_department, [dept[c] for c in category], None),
        "reported_at": utc(reported), "due_at": utc(state.due_at.to_numpy()),
        "resolved_at": utc(state.resolved_at.to_numpy()), "closed_at": utc(state.closed_at.to_numpy()),
        "overdue": state.overdue.to_numpy(),
        "review_at": utc(state.review_at.to_numpy()), "updated_at": utc(state.since.to_numpy()),
        "satisfaction": pd.Series(rng.choice([1, 2, 3, 4, 5], size=n, p=[.03, .05, .12, .35, .45]),
                                  dtype="Int64").where(rated),
        "geom": shapely.points(np.round(lon, 7), np.round(lat, 7)),
    })
    actor = np.where(log.level == "grid", "网格员", np.where(log.level == "community", "社区工作站", "街道综治中心"))
    city.tables["event_log"] = pd.DataFrame({
        "id": np.arange(1, len(log) + 1), "event_id": log.event_idx + 1, "at": utc(log["at"].to_numpy()),
        "actor": actor, "from_status": log.from_status, "to_status": log.to_status, "level": log.level,
    })
    hlon, hlat = frame.xy_to_lonlat(spots.x.to_numpy(), spots.y.to_numpy())
    city.tables["demo_hotspot"] = pd.DataFrame({
        "id": spots.id, "category": spots.category, "center": shapely.points(hlon, hlat),
        "radius_m": spots.radius_m, "starts_at": spots.starts_at, "ends_at": spots.ends_at,
        "n_events": spots.n_events,
    })
