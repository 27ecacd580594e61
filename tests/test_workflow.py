"""The closed loop in data/: every transition of the table allowed and refused, routing, the escalation
ladder with a frozen clock, verification, ratings, duplicates, supervision, extensions, NOTIFY payloads."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from data import lifecycle, workflow
from data.actors import SYSTEM, Actor
from data.errors import Conflict, Forbidden, Refused
from data.intake import NewReport, submit
from data.vocab import EVENT_STATUSES

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)  # a Monday, 09:00 in Beijing
ADMIN = Actor("admin", "admin")


@pytest.fixture
def cell(city_conn):
    """A regular cell of the tiny city with its community and street, and a point inside it."""
    code, lon, lat = city_conn.execute(text(
        "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid "
        "WHERE level = 'cell' AND kind = 'regular' AND valid_to IS NULL ORDER BY code LIMIT 1")).one()
    return {"code": code, "community": code.rsplit(".", 1)[0], "street": code.rsplit(".", 2)[0], "lon": lon,
            "lat": lat, "worker": Actor("w", "grid_worker", (code,)),
            "leader": Actor("l", "grid_leader", (code.rsplit(".", 1)[0],)),
            "street_leader": Actor("s", "grid_leader", (code.rsplit(".", 2)[0],))}


def report(conn, cell, category="noise", at=T0, **kw):
    return submit(conn, NewReport(category, "楼上装修噪音", cell["lon"], cell["lat"], **kw),
                  actor=cell["worker"], now=at).id


def state(conn, event_id):
    return conn.execute(text("SELECT status, level, overdue, handling_mode, department_id, stage_due_at, "
                             "resolved_at, closed_at, supervised, extensions, satisfaction, merged_into "
                             "FROM event WHERE id = :id"), {"id": event_id}).mappings().one()


def logs(conn, event_id):
    return conn.execute(text("SELECT from_status, to_status, level, action, actor, note FROM event_log "
                             "WHERE event_id = :id ORDER BY id"), {"id": event_id}).all()


def force(conn, event_id, status, level="grid"):
    """Put an event in a state directly (bypassing the workflow) to test one transition from there."""
    conn.execute(text("UPDATE event SET status = :s, level = :l, review_at = :r, handling_mode = :m "
                      "WHERE id = :id"),
                 {"s": status, "l": level, "id": event_id, "r": T0 + timedelta(days=30) if status == "suspended"
                  else None, "m": "grid" if status in ("dispatched", "in_progress", "resolved") else None})


PARAMS = {"dispatched": {"routing": "grid"}, "suspended": {"review_at": T0 + timedelta(days=7)}}


@pytest.mark.parametrize("frm,to", sorted((f, t) for f in EVENT_STATUSES for t in EVENT_STATUSES))
def test_every_pair_of_states_is_allowed_exactly_when_the_table_says(city_conn, cell, frm, to):
    event_id = report(city_conn, cell)
    level = "community" if (frm, to) == ("accepted", "returned") else "grid"
    force(city_conn, event_id, frm, level)
    before = len(logs(city_conn, event_id))
    if (frm, to) in lifecycle.RULES:
        change = workflow.transition(city_conn, event_id, to, ADMIN, "原因说明", expect=frm, now=T0,
                                     **PARAMS.get(to, {}))
        assert change.status == to == state(city_conn, event_id)["status"]
        assert logs(city_conn, event_id)[-1][:2] == (frm, to) and len(logs(city_conn, event_id)) == before + 1
    else:
        with pytest.raises(Conflict) as refused:
            workflow.transition(city_conn, event_id, to, ADMIN, "原因说明", expect=frm, now=T0,
                                **PARAMS.get(to, {}))
        assert refused.value.status == 409
        assert refused.value.extra["allowed"] == sorted(lifecycle.TRANSITIONS[frm])
        assert state(city_conn, event_id)["status"] == frm and len(logs(city_conn, event_id)) == before


def test_the_table_in_design_md_is_the_table_in_code():
    from pathlib import Path

    design = Path(__file__).resolve().parents[1] / "docs" / "lifecycle.md"
    rows = {tuple(cell.strip().strip("`") for cell in line.split("|")[1:3])
            for line in design.read_text().splitlines() if line.startswith("| `")}
    assert rows == set(lifecycle.RULES)


@pytest.mark.parametrize("to", ["rejected", "returned"])
def test_reject_and_return_need_a_reason(city_conn, cell, to):
    event_id = report(city_conn, cell)
    if to == "returned":
        force(city_conn, event_id, "dispatched")
    with pytest.raises(Refused) as refused:
        workflow.transition(city_conn, event_id, to, ADMIN, "  ", now=T0)
    assert refused.value.status == 400 and refused.value.field == "note"


def test_roles_and_scope_decide_who_may_act(city_conn, cell):
    event_id = report(city_conn, cell)
    with pytest.raises(Forbidden):
        workflow.transition(city_conn, event_id, "rejected", cell["worker"], "不是本网格事务", now=T0)
    elsewhere = Actor("w9", "grid_worker", ("990101.999",))
    with pytest.raises(Forbidden):
        workflow.transition(city_conn, event_id, "accepted", elsewhere, now=T0)
    with pytest.raises(Forbidden):
        workflow.transition(city_conn, event_id, "accepted", Actor("a", "analyst", ()), now=T0)
    workflow.transition(city_conn, event_id, "accepted", cell["worker"], now=T0)
    workflow.transition(city_conn, event_id, "escalated", cell["worker"], now=T0)
    # the ladder: at community level the cell's worker is out of scope, the community's leader is in
    with pytest.raises(Forbidden):
        workflow.transition(city_conn, event_id, "accepted", cell["worker"], now=T0)
    workflow.transition(city_conn, event_id, "accepted", cell["leader"], now=T0)
    assert state(city_conn, event_id)["level"] == "community"


def test_each_routing_mode(city_conn, cell):
    grid_case, dept_case, joint_case = (report(city_conn, cell) for _ in range(3))
    for event_id in (grid_case, dept_case, joint_case):
        workflow.transition(city_conn, event_id, "accepted", cell["worker"], now=T0)
    workflow.transition(city_conn, grid_case, "dispatched", cell["worker"], routing="grid", now=T0)
    assert state(city_conn, grid_case)["handling_mode"] == "grid"

    workflow.transition(city_conn, dept_case, "dispatched", cell["worker"], routing="department", now=T0)
    env = city_conn.execute(text("SELECT id FROM department WHERE code = 'environment'")).scalar_one()
    assert state(city_conn, dept_case)["department_id"] == env  # the category's default department
    handler = Actor("dept_environment", "department", ("990101",), department_id=env)
    other = Actor("dept_fire", "department", ("990101",), department_id=env + 1)
    with pytest.raises(Forbidden):
        workflow.transition(city_conn, dept_case, "in_progress", other, now=T0)
    workflow.transition(city_conn, dept_case, "in_progress", handler, now=T0)
    workflow.transition(city_conn, dept_case, "resolved", handler, now=T0)

    with pytest.raises(Conflict, match="community or street"):
        workflow.transition(city_conn, joint_case, "dispatched", cell["worker"], routing="joint",
                            departments=["environment", "urban_management"], now=T0)
    workflow.transition(city_conn, joint_case, "escalated", cell["worker"], now=T0)
    workflow.transition(city_conn, joint_case, "accepted", cell["leader"], now=T0)
    with pytest.raises(Refused, match="at least two"):
        workflow.transition(city_conn, joint_case, "dispatched", cell["leader"], routing="joint",
                            departments=["environment"], now=T0)
    workflow.transition(city_conn, joint_case, "dispatched", cell["leader"], routing="joint",
                        departments=["environment", "urban_management"], now=T0)
    assert state(city_conn, joint_case)["handling_mode"] == "joint"
    lost = report(city_conn, cell)
    workflow.transition(city_conn, lost, "accepted", cell["worker"], now=T0)
    with pytest.raises(Refused, match="routing"):
        workflow.transition(city_conn, lost, "dispatched", cell["worker"], routing="nowhere", now=T0)


def test_the_ladder_with_a_frozen_clock(city_conn, cell):
    event_id = report(city_conn, cell, category="safety_hazard")  # accept within 1 hour
    due = state(city_conn, event_id)["stage_due_at"]
    assert due == T0 + timedelta(hours=1)
    workflow.tick(city_conn, due - timedelta(seconds=1))
    assert state(city_conn, event_id)["status"] == "reported"
    result = workflow.tick(city_conn, due + timedelta(seconds=1))
    assert result.escalated >= 1
    s = state(city_conn, event_id)
    assert (s["status"], s["level"], s["overdue"]) == ("escalated", "community", False)
    assert [r[3] for r in logs(city_conn, event_id)][-2:] == ["overdue", "transition"]
    again = workflow.tick(city_conn, due + timedelta(seconds=1))  # idempotent: nothing new is due
    assert state(city_conn, event_id)["level"] == "community" and again == workflow.TickResult(0, 0)
    levels = ["community"]
    now = due
    while True:  # one rung at a time up to the top, then flagged and left there
        now = state(city_conn, event_id)["stage_due_at"] + timedelta(seconds=1)
        workflow.tick(city_conn, now)
        s = state(city_conn, event_id)
        if s["level"] == levels[-1]:
            break
        levels.append(s["level"])
    assert levels == ["community", "street", "district"]
    assert s["overdue"] is True and s["status"] == "escalated"


def test_the_policy_may_flag_without_escalating_or_skip_a_level(city_conn, cell):
    city_conn.execute(text("UPDATE deadline_policy SET on_overdue = 'flag' WHERE category = '*' AND stage = 'accept'"))
    flagged = report(city_conn, cell, category="noise")
    workflow.tick(city_conn, T0 + timedelta(hours=5))
    assert (state(city_conn, flagged)["status"], state(city_conn, flagged)["overdue"]) == ("reported", True)
    city_conn.execute(text("INSERT INTO deadline_policy (category, stage, hours, on_overdue, escalate_by) "
                           "VALUES ('dispute', 'accept', 2, 'escalate', 2)"))
    skipping = report(city_conn, cell, category="dispute", at=T0 + timedelta(hours=6))
    workflow.tick(city_conn, T0 + timedelta(hours=9))
    assert state(city_conn, skipping)["level"] == "street"


def test_working_hours_clock(city_conn):
    def add(start, hours):
        return city_conn.execute(text("SELECT add_hours(:t, CAST(:h AS numeric), 'working')"), {"t": start, "h": hours}).scalar_one()

    friday_5pm = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)  # 17:00 Beijing
    assert add(friday_5pm, 2) == datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 Beijing
    assert add(T0, 7.5) == datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)  # a full day: 18:00 Beijing
    assert add(T0, 3.5) == datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)  # lunch skipped: 14:00
    city_conn.execute(text("INSERT INTO work_calendar VALUES ('2026-11-30', false)"))
    assert add(friday_5pm, 2) == datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


def test_failed_verification_reopens(city_conn, cell):
    event_id = report(city_conn, cell)
    for to, params in (("accepted", {}), ("dispatched", {"routing": "grid"}), ("in_progress", {}),
                       ("resolved", {})):
        workflow.transition(city_conn, event_id, to, cell["worker"], now=T0, **params)
    assert state(city_conn, event_id)["resolved_at"] is not None
    with pytest.raises(Refused):
        workflow.verify(city_conn, event_id, cell["worker"], passed=False, now=T0)  # a reason is required
    workflow.verify(city_conn, event_id, cell["worker"], passed=False, note="噪音仍在", now=T0)
    s = state(city_conn, event_id)
    assert (s["status"], s["resolved_at"]) == ("in_progress", None)
    workflow.transition(city_conn, event_id, "resolved", cell["worker"], now=T0)
    tracking = city_conn.execute(text("SELECT tracking_no FROM event WHERE id = :id"), {"id": event_id}).scalar()
    stranger = Actor("citizen", "citizen", (), reporter_of="MQ2222222222")
    with pytest.raises(Forbidden):
        workflow.verify(city_conn, event_id, stranger, passed=True, now=T0)
    reporter = Actor("citizen", "citizen", (), reporter_of=tracking)
    workflow.verify(city_conn, event_id, reporter, passed=True, now=T0)
    workflow.rate(city_conn, event_id, reporter, 5, now=T0)
    with pytest.raises(Conflict):
        workflow.rate(city_conn, event_id, reporter, 4, now=T0)
    workflow.transition(city_conn, event_id, "closed", cell["worker"], now=T0)
    s = state(city_conn, event_id)
    assert (s["status"], s["satisfaction"]) == ("closed", 5) and s["closed_at"] == T0


def test_grids_rate_departments(city_conn, cell):
    event_id = report(city_conn, cell)
    workflow.transition(city_conn, event_id, "accepted", cell["worker"], now=T0)
    with pytest.raises(Conflict):
        workflow.rate_department(city_conn, event_id, cell["worker"], 4, now=T0)
    workflow.transition(city_conn, event_id, "dispatched", cell["worker"], routing="department",
                        departments=["urban_management"], now=T0)
    workflow.transition(city_conn, event_id, "in_progress", ADMIN, now=T0)
    workflow.transition(city_conn, event_id, "resolved", ADMIN, now=T0)
    with pytest.raises(Refused):
        workflow.rate_department(city_conn, event_id, cell["worker"], 6, now=T0)
    workflow.rate_department(city_conn, event_id, cell["worker"], 4, note="处置及时", now=T0)
    with pytest.raises(Conflict):
        workflow.rate_department(city_conn, event_id, cell["worker"], 3, now=T0)
    assert city_conn.execute(text("SELECT d.code, r.score FROM department_rating r JOIN department d "
                                  "ON d.id = r.department_id WHERE event_id = :id"), {"id": event_id}).one() == \
        ("urban_management", 4)


def test_duplicates_are_flagged_and_merged(city_conn, cell):
    first = report(city_conn, cell)
    near = submit(city_conn, NewReport("noise", "又在装修", cell["lon"] + 0.0003, cell["lat"]),
                  actor=cell["worker"], now=T0 + timedelta(hours=2))
    other_kind = submit(city_conn, NewReport("environment", "垃圾", cell["lon"], cell["lat"]),
                        actor=cell["worker"], now=T0 + timedelta(hours=2))
    much_later = submit(city_conn, NewReport("noise", "装修", cell["lon"], cell["lat"]), actor=cell["worker"],
                        now=T0 + timedelta(days=5))
    assert near.possible_duplicate_of == first
    assert other_kind.possible_duplicate_of is None and much_later.possible_duplicate_of in (None, near.id)
    with pytest.raises(Forbidden):  # merging rejects the duplicate: leads only, as the table says
        workflow.merge(city_conn, near.id, first, cell["worker"], now=T0)
    with pytest.raises(Conflict):
        workflow.merge(city_conn, other_kind.id, first, cell["leader"], now=T0)
    with pytest.raises(Conflict, match="not within"):
        workflow.merge(city_conn, much_later.id, first, cell["leader"], now=T0)
    elsewhere = Actor("l9", "grid_leader", ("990101.001.003",))
    with pytest.raises(Forbidden):
        workflow.merge(city_conn, near.id, first, elsewhere, now=T0)
    workflow.merge(city_conn, near.id, first, cell["leader"], now=T0)
    s = state(city_conn, near.id)
    assert (s["status"], s["merged_into"]) == ("rejected", first)
    assert logs(city_conn, near.id)[-1][3] == "merge"


def test_supervision_and_extension(city_conn, cell):
    event_id = report(city_conn, cell)
    with pytest.raises(Forbidden):
        workflow.supervise(city_conn, event_id, cell["worker"], now=T0)
    workflow.supervise(city_conn, event_id, Actor("commander", "commander", ("990101",)), "请尽快处理", now=T0)
    assert state(city_conn, event_id)["supervised"] is True
    workflow.transition(city_conn, event_id, "accepted", cell["worker"], now=T0)
    due = state(city_conn, event_id)["stage_due_at"]
    with pytest.raises(Refused):
        workflow.extend(city_conn, event_id, cell["leader"], 24, now=T0)  # no reason
    for _ in range(lifecycle.MAX_EXTENSIONS):
        workflow.extend(city_conn, event_id, cell["leader"], 24, "需协调物业", now=T0)
    assert state(city_conn, event_id)["stage_due_at"] == due + timedelta(hours=48)
    with pytest.raises(Conflict, match="extended"):
        workflow.extend(city_conn, event_id, cell["leader"], 24, "再延", now=T0)


def test_concurrent_transitions_exactly_one_wins(city_engine, cell):
    with city_engine.begin() as conn:
        event_id = report(conn, cell)
    outcomes = []
    barrier = threading.Barrier(2)

    def attempt(to):
        try:
            with city_engine.begin() as conn:
                barrier.wait()
                workflow.transition(conn, event_id, to, ADMIN, "并发", now=T0)
                conn.execute(text("SELECT pg_sleep(0.2)"))
            outcomes.append(("ok", to))
        except Conflict as exc:
            outcomes.append((exc.status, to))

    try:
        threads = [threading.Thread(target=attempt, args=(to,)) for to in ("accepted", "rejected")]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(o[0] for o in outcomes if o[0] == "ok") == ["ok"] and 409 in [o[0] for o in outcomes]
        with city_engine.connect() as conn:
            assert len(logs(conn, event_id)) == 2
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("DELETE FROM event_log WHERE event_id = :id"), {"id": event_id})
            conn.execute(text("DELETE FROM event WHERE id = :id"), {"id": event_id})


def test_concurrent_ticks_handle_each_event_once(city_engine, cell):
    with city_engine.begin() as conn:
        ids = [report(conn, cell, category="safety_hazard") for _ in range(20)]
    late = T0 + timedelta(hours=2)
    results, errors = [], []

    def run():
        try:
            with city_engine.begin() as conn:
                results.append(workflow.tick(conn, late, only=ids))
        except Exception as exc:  # reported below: a thread's exception would otherwise only be a warning
            errors.append(repr(exc))

    try:
        threads = [threading.Thread(target=run) for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        with city_engine.connect() as conn:
            escalations = conn.execute(text(
                "SELECT count(*) FROM event_log WHERE event_id = ANY(:ids) AND to_status = 'escalated'"),
                {"ids": ids}).scalar_one()
        assert errors == []
        assert escalations == 20 and sum(r.escalated for r in results) == 20
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("DELETE FROM event_log WHERE event_id = ANY(:ids)"), {"ids": ids})
            conn.execute(text("DELETE FROM idempotency_key WHERE event_id = ANY(:ids)"), {"ids": ids})
            conn.execute(text("UPDATE event SET possible_duplicate_of = NULL WHERE possible_duplicate_of = ANY(:ids)"),
                         {"ids": ids})
            conn.execute(text("DELETE FROM event WHERE id = ANY(:ids)"), {"ids": ids})


def test_every_change_notifies_with_id_and_state(city_engine, cell):
    import psycopg

    url = city_engine.url.render_as_string(hide_password=False).replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN minqing_events")
        with city_engine.begin() as conn:
            event_id = report(conn, cell)
            workflow.transition(conn, event_id, "accepted", cell["worker"], now=T0)
        payloads = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=2)]
    try:
        assert [(p["op"], p["id"], p["status"]) for p in payloads] == [("insert", event_id, "reported"),
                                                                       ("update", event_id, "accepted")]
        assert payloads[0]["level"] == "grid" and abs(payloads[0]["lon"] - cell["lon"]) < 1e-5
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("DELETE FROM event_log WHERE event_id = :id"), {"id": event_id})
            conn.execute(text("DELETE FROM event WHERE id = :id"), {"id": event_id})


def test_system_actor_sees_everything():
    assert SYSTEM.sees_everything


def test_departments_act_only_on_cases_sent_to_them(city_conn, cell):
    event_id = report(city_conn, cell)
    env = city_conn.execute(text("SELECT id FROM department WHERE code = 'environment'")).scalar_one()
    handler = Actor("dept_environment", "department", ("990101",), department_id=env)
    with pytest.raises(Forbidden):  # the category's default department, but nobody sent it the case
        workflow.extend(city_conn, event_id, handler, 24, "需要时间", now=T0)
    workflow.transition(city_conn, event_id, "accepted", cell["worker"], now=T0)
    workflow.transition(city_conn, event_id, "dispatched", cell["worker"], routing="grid", now=T0)
    with pytest.raises(Forbidden):
        workflow.transition(city_conn, event_id, "in_progress", handler, now=T0)


def test_a_repeated_escalation_does_not_climb_twice(city_conn, cell):
    event_id = report(city_conn, cell)
    commander = Actor("commander", "commander", ("990101",))
    workflow.transition(city_conn, event_id, "escalated", commander, now=T0)
    with pytest.raises(Conflict, match="from"):
        workflow.transition(city_conn, event_id, "escalated", commander, now=T0)
    workflow.transition(city_conn, event_id, "escalated", commander, expect="escalated", now=T0)
    assert state(city_conn, event_id)["level"] == "street"


def test_tick_flags_unverified_cases_and_leaves_unplaced_ones_at_the_grid(city_conn, cell):
    resolved = report(city_conn, cell)
    for to, params in (("accepted", {}), ("dispatched", {"routing": "grid"}), ("in_progress", {}),
                       ("resolved", {})):
        workflow.transition(city_conn, resolved, to, cell["worker"], now=T0, **params)
    outside = submit(city_conn, NewReport("safety_hazard", "城外隐患", 120.0, 30.0), actor=ADMIN, now=T0).id
    later = T0 + timedelta(hours=49)
    workflow.tick(city_conn, later, only=[resolved, outside])
    s = state(city_conn, resolved)
    assert (s["status"], s["overdue"]) == ("resolved", True)  # the verify stage's policy flags, never escalates
    s = state(city_conn, outside)
    assert (s["status"], s["level"], s["overdue"]) == ("reported", "grid", True)
