"""Open311 GeoReport v2: every endpoint and every field of the spec, in JSON and XML, on the tiny city."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest
from click.testing import CliRunner
from defusedxml import ElementTree as SafeET
from sqlalchemy import text

from types import SimpleNamespace

from data.errors import Refused
from data.open311_codec import (BEIJING, encode, errors, parse_w3c, reporter_name, service_request, w3c,
                                window)
from data.vocab import EVENT_STATUSES, OPEN_STATUSES
from mapserver.cli import cli
from mapserver.open311 import OPENAPI_PATHS
from tests.test_reporter_contact import stored_reporter

V2 = "/open311/v2"
FORMATS = ("json", "xml")
# the fields of each response, as the spec lists them
DISCOVERY_FIELDS = ("changeset", "contact", "key_service", "endpoints")
ENDPOINT_FIELDS = ("specification", "url", "changeset", "type", "formats")
SERVICE_FIELDS = ("service_code", "service_name", "description", "metadata", "type", "keywords", "group")
DEFINITION_FIELDS = ("service_code", "attributes")
REQUEST_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url")
CREATED_FIELDS = ("service_request_id", "token", "service_notice", "account_id")
TOKEN_FIELDS = ("service_request_id", "token")
ERROR_FIELDS = ("code", "description")
EXTENDED_FIELDS = ("grid_code", "stage", "level", "deadline", "department")
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
HOUSE = ("H0000001", "培黎小区1号楼", 103.7573508, 36.0593305)


# --- the codec, without a database ------------------------------------------------------------------

def test_one_tree_two_spellings():
    document = [{"service_code": "a<b>&'\"", "metadata": False, "group": None, "n": 1.5,
                 "formats": ["text/xml", "application/json"]}]
    body = encode("services", document, "xml")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = SafeET.fromstring(body)
    service = root.find("service")
    assert root.tag == "services" and service.findtext("service_code") == "a<b>&'\""
    assert service.findtext("metadata") == "false" and service.find("group").text is None
    assert [f.text for f in service.find("formats")] == ["text/xml", "application/json"]
    assert service.findtext("n") == "1.5"
    assert encode("services", document, "json").decode() == (
        '[{"service_code":"a<b>&\'\\"","metadata":false,"group":null,"n":1.5,'
        '"formats":["text/xml","application/json"]}]')


def test_xml_drops_what_xml_cannot_carry_and_keeps_chinese():
    body = encode("errors", errors(400, "坏\x0b输入\x01"), "xml")
    assert SafeET.fromstring(body).find("error").findtext("description") == "坏输入"
    assert "坏".encode() in body  # UTF-8, not character references


def test_w3c_datetimes_carry_an_offset():
    moment = datetime(2026, 1, 1, 0, 0, 30, 123456, tzinfo=timezone.utc)
    assert w3c(moment) == "2026-01-01T08:00:30+08:00" and w3c(None) is None
    assert parse_w3c("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_w3c("2026-01-01") == datetime(2026, 1, 1, tzinfo=BEIJING)
    with pytest.raises(ValueError):
        parse_w3c("yesterday")


def test_the_public_sees_no_text_no_media_no_address_and_a_rounded_place():
    row = SimpleNamespace(ref="E00000042", status="suspended", category="noise", service_name="噪音扰民",
                          text="楼上装修", agency="生态环境局", reported_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                          updated_at=datetime(2026, 1, 2, tzinfo=timezone.utc), due_at=None, address="培黎小区1号楼",
                          lat=36.05933051, lon=103.75735081, media_url="https://example.org/1.jpg",
                          grid_code="620102.001.001.01", level="community", department="environment")
    public = service_request(row, trusted=False, extensions=False)
    trusted = service_request(row, trusted=True, extensions=True)
    assert public["description"] is public["media_url"] is public["address"] is None
    assert (public["lat"], public["long"]) == (36.059, 103.757)
    assert (trusted["lat"], trusted["long"]) == (36.0593305, 103.7573508)
    assert (public["status"], public["status_notes"], public["expected_datetime"]) == ("open", "挂账 / suspended", None)
    assert trusted["extended_attributes"] == {"grid_code": "620102.001.001.01", "stage": "suspended",
                                              "level": "community", "deadline": None, "department": "environment"}
    assert service_request(SimpleNamespace(**{**vars(row), "status": "rejected"}), trusted=False,
                           extensions=False)["status"] == "closed"


def test_the_window_is_the_latest_90_days_and_never_longer():
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    day = timedelta(days=1)
    assert window(None, None, now) == (now - 90 * day, now)
    assert window(now - 10 * day, None, now) == (now - 10 * day, now + 80 * day)
    assert window(None, now - 10 * day, now) == (now - 100 * day, now - 10 * day)
    for start, end in ((now - 91 * day, now), (now, now - day)):
        with pytest.raises(Refused):
            window(start, end, now)


@pytest.mark.parametrize("first,last,name", [("三", "张", "张三"), ("John", "Smith", "John Smith"),
                                             ("", "", None), (" Ann ", "", "Ann")])
def test_names_keep_their_own_order(first, last, name):
    assert reporter_name(first, last) == name


# --- helpers -------------------------------------------------------------------------------------

def items(response, fmt: str, root: str, item: str) -> list[dict]:
    """The response as a list of dicts whatever its format (XML text as strings, nested elements as elements)."""
    if fmt == "json":
        assert response.content_type == "application/json; charset=utf-8"
        return response.get_json()
    assert response.content_type == "text/xml; charset=utf-8"
    assert response.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    tree = SafeET.fromstring(response.data)
    assert tree.tag == root
    return [{child.tag: (child if len(child) else child.text) for child in element} for element in tree.findall(item)]


def refused(response, fmt: str, status: int) -> str:
    assert response.status_code == status, response.data
    [error] = items(response, fmt, "errors", "error")
    assert set(error) == set(ERROR_FIELDS) and int(error["code"]) == status and error["description"]
    return error["description"]


def has_fields(item: dict, fields) -> None:
    assert set(fields) <= set(item), set(fields) - set(item)


@pytest.fixture(scope="module")
def runner_env(city_engine):
    return {"DATABASE_URL": city_engine.url.render_as_string(hide_password=False)}


@pytest.fixture(scope="module")
def api_key(city_engine, runner_env):
    name = f"test-{uuid.uuid4().hex[:8]}"
    result = CliRunner().invoke(cli, ["open311", "key", "create", name], env=runner_env)
    assert result.exit_code == 0, result.output
    yield result.stdout.strip()
    with city_engine.begin() as conn:
        conn.execute(text("DELETE FROM api_key WHERE name = :n"), {"n": name})


@pytest.fixture(scope="module")
def created(city_engine):
    """Refs of the events POSTed here, deleted afterwards so the tiny city stays as other tests expect."""
    refs: list[str] = []
    yield refs
    with city_engine.begin() as conn:
        ids = conn.execute(text("SELECT id FROM event WHERE ref = ANY(:r)"), {"r": refs}).scalars().all()
        conn.execute(text("UPDATE event SET possible_duplicate_of = NULL WHERE possible_duplicate_of = ANY(:i)"),
                     {"i": ids})
        conn.execute(text("DELETE FROM event_log WHERE event_id = ANY(:i)"), {"i": ids})
        conn.execute(text("DELETE FROM event WHERE id = ANY(:i)"), {"i": ids})


def post(client, created, fmt="json", headers=None, **form):
    response = client.post(f"{V2}/requests.{fmt}", data=form, headers=headers or {})
    if response.status_code == 200:
        for item in items(response, fmt, "service_requests", "request"):
            created.append(item["service_request_id"])
    return response


def report(api_key, **extra) -> dict:
    return {"api_key": api_key, "service_code": "environment", "lat": "36.0601", "long": "103.7601",
            "description": "垃圾桶满了 overflowing bins", **extra}


def in_window(city_engine, start, end, where="TRUE", **params) -> list[str]:
    with city_engine.connect() as conn:
        return conn.execute(text(f"SELECT ref FROM event WHERE reported_at BETWEEN :s AND :e AND {where} "
                                 "ORDER BY reported_at DESC, id DESC"),
                            {"s": start, "e": end, **params}).scalars().all()


# --- discovery and services ------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery(client, fmt):
    response = client.get(f"{V2}/discovery.{fmt}")
    assert response.status_code == 200
    if fmt == "json":
        document = response.get_json()
        [endpoint] = document["endpoints"]
        formats = endpoint["formats"]
    else:
        document = {child.tag: child for child in SafeET.fromstring(response.data)}
        endpoint = {child.tag: child for child in document["endpoints"].find("endpoint")}
        formats = [f.text for f in endpoint["formats"].findall("format")]
    has_fields(document, DISCOVERY_FIELDS)
    has_fields(endpoint, ENDPOINT_FIELDS)
    assert set(formats) == {"text/xml", "application/json"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_are_the_event_categories_grouped_by_department(client, city_engine, fmt):
    listed = items(client.get(f"{V2}/services.{fmt}"), fmt, "services", "service")
    with city_engine.connect() as conn:
        expected = dict(conn.execute(text("SELECT c.code, d.name FROM event_category c "
                                          "JOIN department d ON d.id = c.department_id")).all())
    assert {s["service_code"]: s["group"] for s in listed} == expected
    for service in listed:
        has_fields(service, SERVICE_FIELDS)
        assert str(service["metadata"]).lower() == "false" and service["type"] == "realtime"
        assert re.search(r"[\u4e00-\u9fff]", service["service_name"]) and re.search("[a-z]", service["keywords"])


def test_no_extension_means_json(client):
    assert client.get(f"{V2}/services").get_json() == client.get(f"{V2}/services.json").get_json()


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_definition(client, fmt):
    response = client.get(f"{V2}/services/noise.{fmt}")
    if fmt == "json":
        assert response.get_json() == {"service_code": "noise", "attributes": []}
    else:
        tree = SafeET.fromstring(response.data)
        assert tree.tag == "service_definition" and [c.tag for c in tree] == list(DEFINITION_FIELDS)
    assert "bogus" in refused(client.get(f"{V2}/services/bogus.{fmt}"), fmt, 404)


@pytest.mark.parametrize("url", ["/services.csv", "/requests.html", "/requests/E00000001.yaml", "/tokens/MQ1.txt"])
def test_an_unknown_format_is_404_in_the_spec_format(client, url):
    assert "format" in refused(client.get(V2 + url), "json", 404)


# --- reading requests ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_requests_default_to_the_latest_90_days_newest_first(client, city_engine, fmt):
    now = datetime.now(timezone.utc)
    listed = items(client.get(f"{V2}/requests.{fmt}"), fmt, "service_requests", "request")
    expected = in_window(city_engine, now - timedelta(days=90), now)
    assert [r["service_request_id"] for r in listed] == expected[:1000]
    with city_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event WHERE reported_at < :s"),
                            {"s": now - timedelta(days=91)}).scalar() > 0  # older events exist, and are left out
    for item in listed:
        has_fields(item, REQUEST_FIELDS)
        assert W3C.match(item["requested_datetime"]) and W3C.match(item["updated_datetime"])
        assert parse_w3c(item["requested_datetime"]) >= now - timedelta(days=90, seconds=1)
        assert parse_w3c(item["updated_datetime"]) >= parse_w3c(item["requested_datetime"])
        assert "extended_attributes" not in item


@pytest.mark.parametrize("fmt", FORMATS)
def test_status_is_open_or_closed_and_notes_name_our_stage(client, city_engine, fmt):
    listed = items(client.get(f"{V2}/requests.{fmt}?start_date=2026-01-01T00:00:00%2B08:00"),
                   fmt, "service_requests", "request")
    with city_engine.connect() as conn:
        status = dict(conn.execute(text("SELECT ref, status FROM event WHERE ref = ANY(:r)"),
                                   {"r": [r["service_request_id"] for r in listed]}).all())
    assert {status[r["service_request_id"]] for r in listed} >= {"closed", "rejected"}
    for item in listed:
        ours = status[item["service_request_id"]]
        assert item["status"] == ("open" if ours in OPEN_STATUSES else "closed")
        assert item["status_notes"] == " / ".join(EVENT_STATUSES[ours])
    assert OPEN_STATUSES == frozenset(EVENT_STATUSES) - {"resolved", "verified", "closed", "rejected"}


def test_status_and_service_code_filters(client, city_engine):
    start, end = "2026-08-10T00:00:00Z", "2026-11-01T00:00:00Z"
    window = f"start_date={start}&end_date={end}"
    opened = client.get(f"{V2}/requests.json?{window}&status=open").get_json()
    closed = client.get(f"{V2}/requests.json?{window}&status=closed").get_json()
    both = client.get(f"{V2}/requests.json?{window}&status=open,closed").get_json()
    assert {r["status"] for r in opened} == {"open"} and {r["status"] for r in closed} == {"closed"}
    assert len(opened) + len(closed) == len(both) == len(in_window(city_engine, parse_w3c(start), parse_w3c(end)))
    picked = client.get(f"{V2}/requests.json?{window}&service_code=noise,heating").get_json()
    assert {r["service_code"] for r in picked} == {"noise", "heating"}
    assert len(picked) == len(in_window(city_engine, parse_w3c(start), parse_w3c(end),
                                        "category IN ('noise', 'heating')"))


@pytest.mark.parametrize("query,field", [
    ("status=pending", "status"), ("service_code=bogus", "service_code"), ("start_date=last+week", "start_date"),
    ("start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", "90 days"),
    ("start_date=2026-03-01T00:00:00Z&end_date=2026-02-01T00:00:00Z", "after"),
])
@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_filters_are_400(client, fmt, query, field):
    assert field in refused(client.get(f"{V2}/requests.{fmt}?{query}"), fmt, 400)


def test_dates_are_w3c_with_offsets(client, city_engine):
    utc = client.get(f"{V2}/requests.json?start_date=2026-06-01T00:00:00Z&end_date=2026-06-20T00:00:00Z").get_json()
    beijing = client.get(f"{V2}/requests.json?start_date=2026-06-01T08:00:00%2B08:00"
                         "&end_date=2026-06-20T08:00:00%2B08:00").get_json()
    only_start = client.get(f"{V2}/requests.json?start_date=2026-06-01T00:00:00Z").get_json()
    assert utc == beijing and utc
    expected = in_window(city_engine, datetime(2026, 6, 1, tzinfo=timezone.utc),
                         datetime(2026, 8, 30, tzinfo=timezone.utc))
    assert [r["service_request_id"] for r in only_start] == expected  # start + 90 days


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_request_ids_override_every_other_argument(client, fmt):
    url = f"{V2}/requests.{fmt}?service_request_id=E00000001,E00000002&status=open&service_code=noise"
    listed = items(client.get(url), fmt, "service_requests", "request")
    assert sorted(r["service_request_id"] for r in listed) == ["E00000001", "E00000002"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_request(client, city_engine, fmt):
    [item] = items(client.get(f"{V2}/requests/E00000003.{fmt}"), fmt, "service_requests", "request")
    has_fields(item, REQUEST_FIELDS)
    with city_engine.connect() as conn:
        row = conn.execute(text("SELECT e.category, d.name, e.due_at FROM event e JOIN department d "
                                "ON d.id = e.department_id WHERE ref = 'E00000003'")).one()
    assert (item["service_code"], item["agency_responsible"]) == tuple(row[:2])
    assert parse_w3c(item["expected_datetime"]) == row.due_at.replace(microsecond=0)
    assert "E00009999" in refused(client.get(f"{V2}/requests/E00009999.{fmt}"), fmt, 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_extensions_carry_our_stage_level_grid_deadline_department(client, city_engine, fmt):
    [item] = items(client.get(f"{V2}/requests/E00000003.{fmt}?extensions=true"), fmt, "service_requests", "request")
    extended = item["extended_attributes"]
    if fmt == "xml":
        extended = {child.tag: child.text for child in extended}
    assert set(extended) == set(EXTENDED_FIELDS)
    with city_engine.connect() as conn:
        row = conn.execute(text("SELECT e.status, e.level, g.code, d.code FROM event e LEFT JOIN grid g "
                                "ON g.id = e.grid_id JOIN department d ON d.id = e.department_id "
                                "WHERE ref = 'E00000003'")).one()
    assert (extended["stage"], extended["level"], extended["grid_code"], extended["department"]) == tuple(row)
    assert W3C.match(extended["deadline"])


# --- privacy ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_a_wrong_api_key_is_403_even_where_none_is_needed(client, fmt):
    assert "api_key" in refused(client.get(f"{V2}/requests.{fmt}?api_key=nope"), fmt, 403)


def test_without_a_key_no_text_no_media_no_address_and_rounded_places(client, created, api_key):
    ref = post(client, created, **report(api_key, media_url="https://example.org/p.jpg",
                                         address_string="南门外 by the bins")).get_json()[0]["service_request_id"]
    [public] = client.get(f"{V2}/requests/{ref}.json").get_json()
    [trusted] = client.get(f"{V2}/requests/{ref}.json?api_key={api_key}").get_json()
    assert public["description"] is public["media_url"] is public["address"] is None
    assert (public["lat"], public["long"]) == (36.06, 103.76)
    assert trusted["description"].startswith("垃圾桶满了") and trusted["media_url"] == "https://example.org/p.jpg"
    assert trusted["address"] == "南门外 by the bins" and (trusted["lat"], trusted["long"]) == (36.0601, 103.7601)
    assert all(len(str(v).split(".")[-1]) <= 3 for r in client.get(f"{V2}/requests.json").get_json()
               for v in (r["lat"], r["long"]))


@pytest.fixture(scope="module")
def other_key(city_engine, runner_env):
    name = f"other-{uuid.uuid4().hex[:8]}"
    result = CliRunner().invoke(cli, ["open311", "key", "create", name], env=runner_env)
    assert result.exit_code == 0, result.output
    yield result.stdout.strip()
    with city_engine.begin() as conn:
        conn.execute(text("DELETE FROM api_key WHERE name = :n"), {"n": name})


def test_a_key_shows_only_its_own_applications_requests_in_full(client, created, api_key, other_key):
    ref = post(client, created, **report(api_key, media_url="https://example.org/q.jpg",
                                         address_string="北门 by the gate")).get_json()[0]["service_request_id"]
    [public] = client.get(f"{V2}/requests/{ref}.json").get_json()
    [stranger] = client.get(f"{V2}/requests/{ref}.json?api_key={other_key}").get_json()
    assert stranger == public and stranger["address"] is None and stranger["lat"] == 36.06
    listed = client.get(f"{V2}/requests.json?api_key={other_key}").get_json()
    assert listed and all(r["description"] is r["address"] is r["media_url"] is None for r in listed)
    assert all(len(str(v).split(".")[-1]) <= 3 for r in listed for v in (r["lat"], r["long"]))
    own = {r["service_request_id"]: r for r in client.get(f"{V2}/requests.json?api_key={api_key}").get_json()}
    assert own[ref]["address"] == "北门 by the gate"
    assert all(r["address"] is None for key, r in own.items() if key not in created)  # the seed's events


def test_the_reporters_name_and_contact_are_never_returned(client, created, api_key):
    marker = uuid.uuid4().hex[:10]
    token = post(client, created, **report(api_key, first_name=f"Ann{marker}", last_name="Lee",
                                           email=f"{marker}@example.org", phone="13800138000")).get_json()[0]["token"]
    ref = client.get(f"{V2}/tokens/{token}.json").get_json()[0]["service_request_id"]
    for fmt in FORMATS:
        for url in (f"/requests/{ref}.{fmt}?extensions=true&api_key={api_key}",
                    f"/requests.{fmt}?extensions=true&api_key={api_key}", f"/tokens/{token}.{fmt}"):
            body = client.get(V2 + url).data.decode()
            assert ref in body and marker not in body and "13800138000" not in body


# --- creating requests -----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_post_creates_an_open311_event(client, city_engine, created, api_key, fmt):
    response = post(client, created, fmt, **report(api_key, first_name="三", last_name="张", email="z@example.org",
                                                   phone="13900000000", account_id="acct-7", device_id="phone-1",
                                                   **{"attribute[WHISPAWN]": "x"}))
    assert response.status_code == 200, response.data
    [answer] = items(response, fmt, "service_requests", "request")
    has_fields(answer, CREATED_FIELDS)
    assert re.fullmatch(r"E\d+", answer["service_request_id"]) and re.fullmatch(r"MQ[0-9A-Z]{10}", answer["token"])
    assert answer["token"] in answer["service_notice"] and answer["account_id"] == "acct-7"
    with city_engine.connect() as conn:
        row = conn.execute(text("SELECT source, status, id, tracking_no, category, "
                                "round(ST_X(geom)::numeric, 4) FROM event WHERE ref = :r"),
                           {"r": answer["service_request_id"]}).one()
        actor = conn.execute(text("SELECT l.actor FROM event_log l JOIN event e ON e.id = l.event_id "
                                  "WHERE e.ref = :r"), {"r": answer["service_request_id"]}).scalar()
        reporter = stored_reporter(conn, row[2])
    assert row[:2] + reporter + row[3:5] == ("open311", "reported", "张三", "z@example.org; 13900000000",
                                             answer["token"], "environment")
    assert float(row[5]) == 103.7601 and actor.startswith("open311:test-")
    [item] = items(client.get(f"{V2}/requests/{answer['service_request_id']}.{fmt}"), fmt, "service_requests",
                   "request")
    assert (item["status"], item["status_notes"]) == ("open", "已上报 / reported")


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_without_a_valid_key_is_403(client, created, api_key, fmt):
    assert "api_key" in refused(post(client, created, fmt, **report("")), fmt, 403)
    assert "api_key" in refused(post(client, created, fmt, **report("not-a-key")), fmt, 403)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("change,status,field", [
    ({"service_code": "pothole"}, 404, "service_code"),
    ({"service_code": ""}, 400, "service_code"),
    ({"lat": "", "long": ""}, 400, "location"),
    ({"long": ""}, 400, "lat and long"),
    ({"lat": "103.76", "long": "36.06"}, 400, "swapped"), ({"lat": "36", "long": "190"}, 400, "range"),
    ({"lat": "north"}, 400, "number"),
    ({"lat": "", "long": "", "address_string": "火星基地1号"}, 400, "address_string"),
    ({"lat": "", "long": "", "address_id": "H9999999"}, 400, "address_id"),
    ({"description": ""}, 400, "description"),
    ({"description": "x" * 4001}, 400, "4000"),
    ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
])
def test_bad_posts_say_why_in_the_spec_format(client, created, api_key, fmt, change, status, field):
    assert field in refused(post(client, created, fmt, **report(api_key, **change)), fmt, status)


def test_an_address_string_or_id_places_the_report_at_that_house(client, city_engine, created, api_key):
    ref, address, lon, lat = HOUSE
    typed = f"兰州市城关区 {address} 3单元"
    for form, kept in ((dict(address_string=typed), typed), (dict(address_id=ref), address)):
        response = post(client, created, **report(api_key, lat="", long="", **form))
        assert response.status_code == 200, response.data
        [item] = client.get(f"{V2}/requests/{response.get_json()[0]['service_request_id']}.json"
                            f"?api_key={api_key}").get_json()
        assert (item["long"], item["lat"], item["address"]) == (round(lon, 7), round(lat, 7), kept)


def test_a_retried_post_returns_the_first_request(client, created, api_key):
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    first = post(client, created, headers=headers, **report(api_key)).get_json()
    again = post(client, created, headers=headers, **report(api_key)).get_json()
    assert first == again
    assert "Idempotency-Key" in refused(post(client, created, headers=headers,
                                             **report(api_key, description="another")), "json", 422)


@pytest.mark.parametrize("fmt", FORMATS)
def test_tokens_resolve_to_the_request_every_time(client, created, api_key, fmt):
    answer = post(client, created, **report(api_key)).get_json()[0]
    for _ in range(2):
        [item] = items(client.get(f"{V2}/tokens/{answer['token']}.{fmt}"), fmt, "service_requests", "request")
        assert item == {"service_request_id": answer["service_request_id"], "token": answer["token"]}
    assert "token" in refused(client.get(f"{V2}/tokens/MQAAAAAAAAAA.{fmt}"), fmt, 404)


def test_xml_escapes_what_citizens_type(client, created, api_key):
    said = "<b>水管 & \"破了\"</b>\x0b"
    ref = post(client, created, **report(api_key, description=said)).get_json()[0]["service_request_id"]
    tree = SafeET.fromstring(client.get(f"{V2}/requests/{ref}.xml?api_key={api_key}").data)
    assert tree.find("request").findtext("description") == said.replace("\x0b", "")


# --- API keys --------------------------------------------------------------------------------------

def test_keys_are_shown_once_stored_hashed_and_revocable(client, city_engine, created, runner_env):
    runner, name = CliRunner(), f"app-{uuid.uuid4().hex[:8]}"
    try:
        key = runner.invoke(cli, ["open311", "key", "create", name], env=runner_env).stdout.strip()
        assert len(key) >= 40
        listing = runner.invoke(cli, ["open311", "key", "list"], env=runner_env).output
        assert f"{name}\t" in listing and "active" in listing and key not in listing
        with city_engine.connect() as conn:
            assert key not in str(conn.execute(text("SELECT * FROM api_key WHERE name = :n"), {"n": name}).one())
        again = runner.invoke(cli, ["open311", "key", "create", name], env=runner_env)
        assert again.exit_code == 1 and "revoke" in again.output
        assert post(client, created, **report(key)).status_code == 200
        assert runner.invoke(cli, ["open311", "key", "revoke", name], env=runner_env).exit_code == 0
        assert f"{name}\t" in runner.invoke(cli, ["open311", "key", "list"], env=runner_env).output
        assert refused(post(client, created, **report(key)), "json", 403)
        renewed = runner.invoke(cli, ["open311", "key", "create", name], env=runner_env).stdout.strip()
        assert renewed != key and post(client, created, **report(renewed)).status_code == 200
        assert runner.invoke(cli, ["open311", "key", "revoke", "nobody-here"], env=runner_env).exit_code == 1
        assert runner.invoke(cli, ["open311", "key", "create", "bad name!"], env=runner_env).exit_code == 2
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("DELETE FROM api_key WHERE name = :n"), {"n": name})


# --- the OpenAPI document --------------------------------------------------------------------------

@pytest.mark.parametrize("path,url,status", [
    ("/discovery{fmt}", "/discovery.json", 200), ("/services{fmt}", "/services", 200),
    ("/services/{service_code}{fmt}", "/services/noise.json", 200),
    ("/services/{service_code}{fmt}", "/services/nope.json", 404),
    ("/requests{fmt}", "/requests.json?extensions=true", 200), ("/requests{fmt}", "/requests.json?status=x", 400),
    ("/requests/{service_request_id}{fmt}", "/requests/E00000001.json?extensions=true", 200),
    ("/tokens/{token}{fmt}", "/tokens/MQAAAAAAAAAA.json", 404),
])
def test_json_answers_match_the_openapi_document(client, path, url, status):
    response = client.get(V2 + url)
    assert response.status_code == status
    schema = OPENAPI_PATHS[V2 + path]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(response.get_json(), schema)


def test_post_answers_match_the_openapi_document(client, created, api_key):
    responses = OPENAPI_PATHS[f"{V2}/requests{{fmt}}"]["post"]["responses"]
    for form, status in ((report(api_key), 200), (report(""), 403)):
        response = post(client, created, **form)
        assert response.status_code == status
        jsonschema.validate(response.get_json(), responses[str(status)]["content"]["application/json"]["schema"])


@pytest.mark.parametrize("command", [[], ["key"], ["key", "create"], ["key", "revoke"], ["key", "list"]])
def test_every_key_command_has_help(command):
    result = CliRunner().invoke(cli, ["open311", *command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
