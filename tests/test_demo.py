"""The demo city: exact tiling, consistent codes, deterministic from its seed, plausible people and events."""
from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from data import idcard, lifecycle
from data.demo.city import generate
from data.demo.load import load
from data.summary import ledger_checksum
from tests.conftest import DEMO_AS_OF, db_name, migrated_engine

AREA_TOLERANCE = 1e-12  # square degrees (~0.01 m²): float noise only


def _children(grid: pd.DataFrame) -> dict[str, list[int]]:
    kids = defaultdict(list)
    for i, code in enumerate(grid.code):
        if "." in code:
            kids[code.rsplit(".", 1)[0]].append(i)
    return kids


def test_siblings_tile_each_parent_exactly(tiny_city):
    grid = tiny_city.tables["grid"]
    geoms = grid.geom.to_numpy()
    kids = _children(grid)
    assert set(kids) == set(grid.code[grid.level != "cell"])  # every non-cell grid has children
    for parent, idx in kids.items():
        children = geoms[idx]
        parent_geom = geoms[grid.index[grid.code == parent][0]]
        assert shapely.coverage_is_valid(children), parent
        assert abs(sum(c.area for c in children) - parent_geom.area) < AREA_TOLERANCE, parent
        assert shapely.union_all(children).symmetric_difference(parent_geom).area < AREA_TOLERANCE, parent


def test_codes_follow_levels_and_scale(tiny_city):
    grid = tiny_city.tables["grid"]
    depth = {"district": 1, "street": 2, "community": 3, "cell": 4}
    assert all(code.count(".") + 1 == depth[level] for code, level in zip(grid.code, grid.level))
    assert grid.code.is_unique
    counts = grid.groupby(["level", "kind"]).size().to_dict()
    assert counts[("street", "regular")] == 1
    assert counts[("community", "regular")] == 3
    assert 8 <= counts[("cell", "regular")] <= 16
    assert counts[("cell", "dedicated")] == 1
    ded = grid[grid.kind == "dedicated"].iloc[0]
    assert ded.dedicated_for in ("school", "hospital", "market")


def test_loaded_grids_tile_in_postgis_too(city_engine):
    with city_engine.connect() as conn:
        gaps = conn.execute(text("""
            SELECT p.code, abs(ST_Area(p.geom) - sum(ST_Area(c.geom))) AS area_diff,
                   ST_Area(ST_SymDifference(p.geom, ST_Union(c.geom))) AS sym_diff
            FROM grid p JOIN grid c ON c.path <@ p.path AND nlevel(c.path) = nlevel(p.path) + 1
            WHERE p.valid_to IS NULL AND c.valid_to IS NULL
            GROUP BY p.id""")).all()
    assert gaps and all(r.area_diff < AREA_TOLERANCE and r.sym_diff < AREA_TOLERANCE for r in gaps), gaps


def test_same_seed_same_city_different_seed_different_city(tiny_city):
    """Two separate generations with seed 7 load into identical ledgers; seed 8 gives another city."""
    checksums = []
    for name, city in ((db_name("checksum_a"), tiny_city),
                       (db_name("checksum_b"), generate("tiny", seed=7, as_of=DEMO_AS_OF)),
                       (db_name("checksum_c"), generate("tiny", seed=8, as_of=DEMO_AS_OF))):
        engine = migrated_engine(name)
        try:
            load(engine, city, progress=False)
            with engine.connect() as conn:
                checksums.append(ledger_checksum(conn))
        finally:
            engine.dispose()
    first, again, other = checksums
    assert again == first
    assert all(other[t] != first[t] for t in ("grid", "person", "event", "house"))


def test_residents_are_plausible(tiny_city):
    person = tiny_city.tables["person"]
    assert 800 <= len(person) <= 1_400
    assert all(idcard.problem(n) is None for n in person.id_number)
    assert person.id_number.is_unique
    assert person.id_number.str[:2].eq("99").all()  # province 99 does not exist
    phones = person.phone.dropna()
    assert phones.str.fullmatch(r"10\d{9}").all()  # no real mobile number starts with 10
    assert person.name.str.len().between(2, 3).all()
    size = person.groupby("household_id").size()
    assert 2.2 < size.mean() < 3.0
    assert (person.relation == "head").sum() == len(tiny_city.tables["household"])
    alone = person[person.tags.map(lambda t: "elderly_alone" in t)]
    assert len(alone) > 0 and (size[alone.household_id] == 1).all()
    assert person.is_key_person.equals(person.tags.map(lambda t: bool(set(t) & {
        "community_correction", "released_prisoner", "drug_rehab", "mental_illness", "petitioner"})))


def test_event_histories_follow_the_lifecycle_table(tiny_city):
    log = tiny_city.tables["event_log"]
    event = tiny_city.tables["event"]
    for event_id, steps in log.groupby("event_id"):
        previous = None
        for step in steps.itertuples():
            assert step.from_status == previous or (previous is None and pd.isna(step.from_status))
            assert lifecycle.allowed(previous, step.to_status), (event_id, previous, step.to_status)
            previous = step.to_status
    final = log.groupby("event_id").to_status.last()
    assert (final.reindex(event.id).to_numpy() == event.status.to_numpy()).all()
    assert (log.groupby("event_id")["at"].apply(lambda a: a.is_monotonic_increasing)).all()


def test_events_have_open_overdue_and_closed_cases_and_a_rhythm(tiny_city):
    event = tiny_city.tables["event"]
    statuses = event.status.value_counts()
    assert statuses["closed"] > len(event) * 0.5
    assert event.status.isin(["reported", "accepted", "dispatched", "in_progress"]).sum() > 0
    assert event.overdue.sum() > 0
    assert not event.overdue[event.status.isin(["closed", "resolved", "verified", "rejected"])].any()
    assert event.reported_at.max() <= pd.Timestamp(DEMO_AS_OF)
    assert (event.reported_at.min() >= pd.Timestamp(DEMO_AS_OF) - pd.Timedelta(days=366))
    heating = event[event.category == "heating"].reported_at.dt.tz_convert("Asia/Shanghai").dt.month
    assert heating.isin([11, 12, 1, 2, 3]).mean() > 0.9  # heating complaints come in the heating season
    assert event.satisfaction.dropna().between(1, 5).all()


def test_planted_hotspots_are_stored_as_ground_truth(city_engine):
    with city_engine.connect() as conn:
        spots = conn.execute(text("SELECT id, category, radius_m, starts_at, ends_at, n_events, center FROM demo_hotspot"
                                  )).all()
        assert len(spots) == 2
        for s in spots:
            inside = conn.execute(text("""
                SELECT count(*) FROM event WHERE category = :cat AND reported_at BETWEEN :a AND :b
                  AND ST_DWithin(geom::geography, CAST(:c AS geometry)::geography, :r + 1)"""),
                {"cat": s.category, "a": s.starts_at, "b": s.ends_at, "c": s.center, "r": s.radius_m}).scalar_one()
            assert inside >= s.n_events  # every planted event is there (background ones may add a few)


def test_tiny_scale_has_the_promised_size(tiny_city):
    assert tiny_city.count("event") == 1_000
    assert tiny_city.count("household") == 400


@pytest.fixture(scope="module")
def demo_city():
    return generate("demo", seed=1)


def test_demo_scale_keeps_every_pin_inside_the_city(demo_city):
    grid = demo_city.tables["grid"]
    district = grid.geom[grid.level == "district"].iloc[0]
    for table in ("house", "place", "thing", "organization", "event", "visit"):
        outside = ~shapely.covers(district, demo_city.tables[table].geom.to_numpy())
        assert outside.sum() == 0, table


def test_demo_scale_people_and_names_are_plausible(demo_city):
    person = demo_city.tables["person"]
    age = (pd.Timestamp(demo_city.as_of.date()) - pd.to_datetime(person.birth_date)).dt.days / 365.25
    assert 55_000 <= len(person) <= 65_000
    assert age[person.relation == "spouse"].min() >= 20
    assert (age < 1).mean() < 0.012  # about 0.7 % of China's population is under one
    assert age.max() < 110
    assert not demo_city.tables["grid"].name.duplicated().any()
    assert not demo_city.tables["house"].address.duplicated().any()
    cells = demo_city.tables["grid"]
    assert 140 <= ((cells.level == "cell") & (cells.kind == "regular")).sum() <= 175
    assert ((cells.level == "cell") & (cells.kind == "dedicated")).sum() == 10
