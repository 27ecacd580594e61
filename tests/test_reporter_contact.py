"""Citizen reporters' names and contacts: sealed at rest, masked in the case file, revealed only with a logged
purpose to the staff who call back; purged, rotated and migrated like every other sealed value."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from data import intake, migrate, pii, pii_store, retention
from data.actors import Actor
from data.db import make_engine
from data.errors import ConfigError
from data.provision import fresh_database
from data.settings import Settings
from tests.conftest import db_name

FIELDS = ("reporter_name", "reporter_contact")


@pytest.fixture(scope="module")
def keys(city_engine):
    return pii.load(Settings.from_env().pii_keys)


def set_reporter(conn, keys, event_id: int, name: str | None, contact: str | None) -> None:
    """What intake stores, written onto an existing event."""
    values = dict(zip(FIELDS, (name, contact)))
    conn.execute(text("UPDATE event SET " + ", ".join(f"{f}_sealed = :{f}_s, {f}_masked = :{f}_m" for f in FIELDS)
                      + " WHERE id = :id"),
                 {"id": event_id, **{f"{f}_s": None if v is None else pii.seal(keys, v, pii.context("event", f, event_id))
                                     for f, v in values.items()},
                  **{f"{f}_m": pii.MASKS[f](v) for f, v in values.items()}})


def stored_reporter(conn, event_id: int) -> tuple[str | None, str | None]:
    """The reporter's (name, contact) as stored, opened with the key file; the masked columns checked against them."""
    keys = pii.load(Settings.from_env().pii_keys)
    row = conn.execute(text("SELECT " + ", ".join(f"{f}_sealed, {f}_masked" for f in FIELDS) + " FROM event "
                            "WHERE id = :id"), {"id": event_id}).one()
    clear = tuple(None if sealed is None else pii.unseal(keys, sealed, pii.context("event", f, event_id))
                  for f, sealed in zip(FIELDS, row[0::2]))
    assert list(row[1::2]) == [pii.MASKS[f](v) for f, v in zip(FIELDS, clear)]
    return clear


def audit_rows(conn, marker: str) -> list[dict]:
    return [dict(r) for r in conn.execute(text(
        "SELECT username, role, action, object_type, object_id, fields, purpose FROM pii_audit.access "
        "WHERE purpose LIKE :m ORDER BY id"), {"m": f"%{marker}%"}).mappings()]


@pytest.fixture
def called_back(city_engine, keys):
    """A case in worker1's cell dispatched to a department, with a reporter; the reporter is removed afterwards."""
    name, contact = "钱" + uuid.uuid4().hex[:3], "139" + str(uuid.uuid4().int)[:8]
    with city_engine.begin() as conn:
        event, department = conn.execute(text(
            "SELECT e.id, d.code FROM event e JOIN grid g ON g.id = e.grid_id JOIN department d ON d.id = e.department_id "
            "JOIN app_user u ON u.username = 'worker1' AND g.path <@ ANY (u.scope) "
            "JOIN app_user du ON du.username = 'dept_' || d.code ORDER BY e.id LIMIT 1")).one()
        set_reporter(conn, keys, event, name, contact)
    yield event, f"dept_{department}", name, contact
    with city_engine.begin() as conn:
        set_reporter(conn, keys, event, None, None)


# ---------------------------------------------------------------- at rest


def test_masks():
    assert pii.mask_contact("13812345678") == "138****5678"
    assert pii.mask_contact("zhang.san@example.com") == "z***@example.com"
    assert pii.mask_contact("0931-8888888") == "********8888"
    assert pii.mask_contact("a@b.cn; 13812345678") == "a***@b.cn; 138****5678"
    assert pii.mask_contact("12345") == "****"
    assert (pii.mask_name("张三"), pii.mask_name("欧阳娜娜"), pii.mask_name(None)) == ("张*", "欧*", None)


def test_no_clear_column_and_intake_seals_what_it_stores(city_conn, keys):
    assert not set(FIELDS) & set(city_conn.execute(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'event'")).scalars())
    code = city_conn.execute(text("SELECT code FROM grid WHERE valid_to IS NULL AND level = "
                                  "(SELECT max(level) FROM grid) ORDER BY code LIMIT 1")).scalar_one()
    report = intake.NewReport(category="noise", description="楼下夜间施工", source="citizen_qr", grid_code=code,
                              reporter_name="张三", reporter_contact="13812345678")
    done = intake.submit(city_conn, report, actor=Actor("citizen", "citizen"), keys=keys)
    row = city_conn.execute(text("SELECT * FROM event WHERE id = :id"), {"id": done.id}).mappings().one()
    assert b"13812345678" not in bytes(row["reporter_contact_sealed"]) and "张三".encode() not in bytes(
        row["reporter_name_sealed"])
    assert (row["reporter_name_masked"], row["reporter_contact_masked"]) == ("张*", "138****5678")
    assert pii.unseal(keys, row["reporter_contact_sealed"], pii.context("event", "reporter_contact", done.id)) \
        == "13812345678"
    with pytest.raises(pii.Tampered):  # bound to its row
        pii.unseal(keys, row["reporter_contact_sealed"], pii.context("event", "reporter_contact", done.id + 1))
    anonymous = intake.submit(city_conn, intake.NewReport(category="noise", description="无名", source="citizen_qr",
                                                          grid_code=code), actor=Actor("citizen", "citizen"))
    assert city_conn.execute(text("SELECT reporter_contact_sealed, reporter_contact_masked FROM event WHERE id = :id"),
                             {"id": anonymous.id}).one() == (None, None)
    with pytest.raises(ConfigError, match="keys"):  # never stored in clear for want of a key
        intake.submit(city_conn, report, actor=Actor("citizen", "citizen"))


# ---------------------------------------------------------------- display and reveal


@pytest.mark.parametrize("user, masked", [("admin", True), ("leader1", True), ("worker1", True), ("commander", False),
                                          ("analyst", False), ("dept", False)])
def test_the_case_file_shows_the_reporter_masked_and_only_to_who_may_call_back(client, called_back, user, masked):
    event, department, name, contact = called_back
    response = client.get(f"/api/events/{event}", headers={"X-Demo-User": department if user == "dept" else user})
    assert response.status_code == 200
    body, props = response.get_data(as_text=True), response.get_json()["properties"]
    assert name not in body and contact not in body
    if masked:
        assert (props["reporter_name"], props["reporter_contact"]) == (name[0] + "*", contact[:3] + "****" + contact[-4:])
    else:
        assert "reporter_name" not in props and "reporter_contact" not in props


@pytest.mark.parametrize("user, status", [("worker1", 200), ("leader1", 200), ("admin", 200), ("commander", 403),
                                          ("analyst", 403), ("dept", 403), ("worker3", 404)])
def test_reveal_per_role_and_every_reveal_is_logged(client, city_engine, called_back, user, status):
    event, department, name, contact = called_back
    user = department if user == "dept" else user
    marker = uuid.uuid4().hex
    response = client.post(f"/api/events/{event}/reveal-contact", headers={"X-Demo-User": user},
                           json={"purpose": f"call-back after closing {marker}"})
    assert response.status_code == status, response.get_json()
    with city_engine.connect() as conn:
        logged = audit_rows(conn, marker)
    if status == 200:
        assert response.get_json() == {"id": event, "reporter_name": name, "reporter_contact": contact}
        assert response.headers["Cache-Control"] == "no-store"
        assert [(r["username"], r["action"], r["object_type"], r["object_id"], r["fields"]) for r in logged] == [
            (user, "reveal", "event", str(event), list(FIELDS))]
    else:
        assert logged == [] and contact not in response.get_data(as_text=True)


@pytest.mark.parametrize("body, field", [({}, "purpose"), ({"purpose": " "}, "purpose"),
                                         ({"purpose": "call back", "fields": ["x"]}, "fields")])
def test_a_reveal_without_a_purpose_or_with_other_fields_is_a_400_and_logs_nothing(client, city_engine, called_back,
                                                                                   body, field):
    with city_engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM pii_audit.access")).scalar_one()
    response = client.post(f"/api/events/{called_back[0]}/reveal-contact", headers={"X-Demo-User": "worker1"},
                           json=body)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == field
    with city_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pii_audit.access")).scalar_one() == before


def test_the_reveal_is_in_the_openapi_document(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/api/events/{event_id}/reveal-contact"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["required"] == ["purpose"]


# ---------------------------------------------------------------- purge, rotation, migration


def test_purge_forgets_the_sealed_and_masked_reporter(city_conn, keys):
    from datetime import timedelta

    old, closed_at = city_conn.execute(text("SELECT id, coalesce(closed_at, updated_at) FROM event "
                                            "WHERE status = 'closed' ORDER BY id LIMIT 1")).one()
    now = closed_at + timedelta(days=200)
    set_reporter(city_conn, keys, old, "钱七", "13900000009")
    assert retention.purge_contacts(city_conn, 180, now) >= 1
    assert city_conn.execute(text(
        "SELECT reporter_name_sealed, reporter_name_masked, reporter_contact_sealed, reporter_contact_masked "
        "FROM event WHERE id = :id"), {"id": old}).one() == (None, None, None, None)


def test_the_server_ticker_purges_past_retention_without_a_cron_job(city_engine, keys):
    from mapserver import ticker

    with city_engine.begin() as conn:  # a case closed in 2001: past any retention of 10 years
        old = conn.execute(text(
            "INSERT INTO event (title, category, source, status, reported_at, closed_at, geom) "
            "SELECT 'old case', category, source, 'closed', '2001-01-01', '2001-01-02', geom FROM event "
            "ORDER BY id LIMIT 1 RETURNING id")).scalar_one()
        set_reporter(conn, keys, old, "周九", "13900000010")
    try:
        assert ticker.purge_once(city_engine, 3650) == 1
        with city_engine.connect() as conn:
            assert conn.execute(text(
                "SELECT reporter_name_sealed, reporter_contact_sealed, reporter_contact_masked FROM event "
                "WHERE id = :id"), {"id": old}).one() == (None, None, None)
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("DELETE FROM event WHERE id = :id"), {"id": old})


def test_rotation_reseals_reporters_and_retire_counts_them(city_conn, keys):
    event = city_conn.execute(text("SELECT min(id) FROM event")).scalar_one()
    set_reporter(city_conn, keys, event, "孙八", "sun@example.com")
    assert pii_store.key_ids_in_use(city_conn)[keys.active] >= 2
    rotated = keys.rotated()
    assert pii_store.reseal(city_conn, rotated) >= 2
    sealed = city_conn.execute(text("SELECT reporter_contact_sealed FROM event WHERE id = :id"),
                               {"id": event}).scalar_one()
    assert pii.key_id(bytes(sealed)) == rotated.active
    assert pii.unseal(rotated.retired([keys.active]), sealed, pii.context("event", "reporter_contact", event)) \
        == "sun@example.com"


def test_migration_seals_clear_reporters_and_downgrade_opens_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MINQING_PII_KEYS", str(tmp_path / "keys.json"))
    engine = make_engine(fresh_database(db_name("contact_migration")))
    try:
        migrate.upgrade(engine, "0012_session_epoch")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO event_category (code, name, name_en) VALUES ('noise', '噪音', 'Noise')"))
            conn.execute(text(
                "INSERT INTO event (id, ref, title, description, category, source, reported_at, geom, reporter_name, "
                "reporter_contact) VALUES (5, 'E00000005', '噪音', '夜间施工', 'noise', 'citizen_qr', now(), "
                "ST_SetSRID(ST_MakePoint(103.8, 36.0), 4326), '周五', '13700000005')"))
        migrate.upgrade(engine, "0013_sealed_contact")
        keys = pii.load(tmp_path / "keys.json")
        with engine.connect() as conn:
            row = conn.execute(text("SELECT * FROM event WHERE id = 5")).mappings().one()
        assert "reporter_contact" not in row and row["reporter_contact_masked"] == "137****0005"
        assert pii.unseal(keys, row["reporter_name_sealed"], pii.context("event", "reporter_name", 5)) == "周五"
        migrate.downgrade(engine, "0012_session_epoch")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT reporter_name, reporter_contact FROM event WHERE id = 5")).one() == (
                "周五", "13700000005")
    finally:
        engine.dispose()
