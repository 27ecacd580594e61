"""`POST /api/events` and the case-file routes over HTTP: phones' coordinates, retries, photos, bad input
that changes nothing, transitions with their refusals."""
from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import text

from data import crs as coordinates

WORKER = {"X-Demo-User": "worker1"}


@pytest.fixture(scope="module")
def spot(city_engine):
    """worker1's cell and a point inside it."""
    with city_engine.connect() as conn:
        code, lon, lat = conn.execute(text(
            "SELECT g.code, ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)) FROM app_user u "
            "JOIN grid g ON g.code = (u.scope::text[])[1] AND g.valid_to IS NULL WHERE u.username = 'worker1'")).one()
    return {"code": code, "lon": lon, "lat": lat}


def snapshot(city_engine) -> tuple:
    with city_engine.connect() as conn:
        return conn.execute(text("SELECT (SELECT count(*) FROM event), (SELECT count(*) FROM event_log), "
                                 "(SELECT count(*) FROM event_photo), (SELECT count(*) FROM idempotency_key)")).one()


def jpeg(size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def test_a_phone_report_in_gcj02_lands_in_the_grid_that_contains_it(client, spot, own_events):
    (glon,), (glat,) = coordinates.from_wgs84([spot["lon"]], [spot["lat"]], "gcj02")
    r = client.post("/api/events", headers=WORKER, json={"category": "noise", "description": "夜间施工噪音",
                                                         "lon": glon, "lat": glat, "crs": "gcj02"})
    assert r.status_code == 201, r.get_json()
    props = r.get_json()["properties"]
    assert props["grid"] == spot["code"] and props["status"] == "reported"
    lon, lat = r.get_json()["geometry"]["coordinates"]
    assert abs(lon - spot["lon"]) < 1e-6 and abs(lat - spot["lat"]) < 1e-6  # stored as WGS 84
    assert r.headers["Location"].endswith(f"/api/events/{props['id']}")
    assert props["stage_due_at"] and props["outside_grid"] is False
    case = client.get(r.headers["Location"], headers=WORKER).get_json()["properties"]
    assert case["history"][0]["to_status"] == "reported" and case["grid"] == spot["code"]
    assert case["reporter_contact"] is None and "tracking_no" not in case  # a worker's own report has no reporter


def test_a_retry_with_the_same_key_returns_the_first_event(client, spot, own_events, city_engine):
    body = {"category": "environment", "description": "垃圾桶满溢", "lon": spot["lon"], "lat": spot["lat"]}
    first = client.post("/api/events", headers={**WORKER, "Idempotency-Key": "phone-1-0001"}, json=body)
    again = client.post("/api/events", headers={**WORKER, "Idempotency-Key": "phone-1-0001"}, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    before = snapshot(city_engine)
    other = client.post("/api/events", headers={**WORKER, "Idempotency-Key": "phone-1-0001"},
                        json={**body, "description": "别的事"})
    assert other.status_code == 422 and other.get_json()["error"]["field"] == "Idempotency-Key"
    assert snapshot(city_engine) == before


@pytest.mark.parametrize("change,status,field", [
    ({"category": "bogus"}, 400, "category"),
    ({"lon": 200}, 400, "location"),
    ({"lat": 103.7, "lon": 36.1}, 400, "location"),  # swapped
    ({"description": ""}, 400, "description"),
    ({"lon": "east"}, 400, "location"),
    ({"crs": "gcj02", "lon": 36.06, "lat": 103.75}, 400, "location"),
    ({"priority": 9}, 400, "priority"),
])
def test_bad_reports_are_refused_and_change_nothing(client, spot, own_events, city_engine, change, status, field):
    before = snapshot(city_engine)
    body = {"category": "noise", "description": "噪音", "lon": spot["lon"], "lat": spot["lat"], **change}
    r = client.post("/api/events", headers=WORKER, json=body)
    assert r.status_code == status and r.get_json()["error"]["field"] == field, r.get_json()
    assert snapshot(city_engine) == before


def test_outsiders_learn_nothing_about_a_case(client, spot, own_events):
    made = client.post("/api/events", headers=WORKER, json={"category": "noise", "description": "噪音",
                                                            "lon": spot["lon"], "lat": spot["lat"]}).get_json()
    url = f"/api/events/{made['id']}"
    for headers in ({"X-Demo-User": "worker2"}, {"X-Demo-User": "worker2", "If-Match": '"999"'}):
        r = client.post(url + "/transitions", headers=headers, json={"to": "closed"})
        assert r.status_code == 404 and "allowed" not in r.get_json()["error"]


def test_unknown_callers_are_refused_and_change_nothing(client, spot, city_engine):
    before = snapshot(city_engine)
    r = client.post("/api/events", headers={"X-Demo-User": "nobody-here"}, json={})
    assert r.status_code == 401
    assert snapshot(city_engine) == before


def test_a_report_outside_every_grid_is_kept_and_flagged(client, own_events):
    r = client.post("/api/events", headers={"X-Demo-User": "admin"},
                    json={"category": "noise", "description": "城外", "lon": 104.9, "lat": 36.9})
    assert r.status_code == 201
    props = r.get_json()["properties"]
    assert props["outside_grid"] is True and props["grid"] is None


def test_photos_are_checked_stored_and_served_only_to_staff_in_scope(client, spot, own_events, city_engine,
                                                                      tmp_path, app):
    app.extensions["minqing.settings"] = app.extensions["minqing.settings"].__class__(
        **{**app.extensions["minqing.settings"].__dict__, "media_dir": str(tmp_path), "max_photo_bytes": 200_000})
    form = {"category": "safety_hazard", "description": "消防通道堵塞", "lon": str(spot["lon"]),
            "lat": str(spot["lat"])}
    ok = client.post("/api/events", headers=WORKER, content_type="multipart/form-data",
                     data={**form, "photos": [(io.BytesIO(jpeg()), "a.jpg")]})
    assert ok.status_code == 201, ok.get_json()
    url = ok.get_json()["properties"]["photos"][0]
    served = client.get(url, headers=WORKER)
    assert served.status_code == 200 and served.mimetype == "image/jpeg" and served.data == jpeg()
    assert client.get(url, headers={"X-Demo-User": "worker2"}).status_code == 404
    before = snapshot(city_engine)
    fake = client.post("/api/events", headers=WORKER, content_type="multipart/form-data",
                       data={**form, "photos": [(io.BytesIO(b"MZ\x90\x00 not an image"), "x.jpg")]})
    big = client.post("/api/events", headers=WORKER, content_type="multipart/form-data",
                      data={**form, "photos": [(io.BytesIO(b"\xff\xd8\xff" + b"0" * 300_000), "big.jpg")]})
    assert (fake.status_code, big.status_code) == (415, 413)
    assert snapshot(city_engine) == before


def test_transitions_over_http(client, spot, own_events, city_engine):
    made = client.post("/api/events", headers=WORKER, json={"category": "noise", "description": "广场舞噪音",
                                                            "lon": spot["lon"], "lat": spot["lat"]}).get_json()
    url = f"/api/events/{made['id']}"
    case = client.get(url, headers=WORKER)
    assert case.status_code == 200 and "accepted" in case.get_json()["properties"]["allowed"]
    etag = case.headers["ETag"]
    done = client.post(url + "/transitions", headers={**WORKER, "If-Match": etag}, json={"to": "accepted"})
    assert done.status_code == 200 and done.get_json()["properties"]["status"] == "accepted"
    stale = client.post(url + "/transitions", headers={**WORKER, "If-Match": etag},
                        json={"to": "dispatched", "routing": "grid"})
    assert stale.status_code == 412
    wrong = client.post(url + "/transitions", headers=WORKER, json={"to": "closed"})
    body = wrong.get_json()["error"]
    assert wrong.status_code == 409 and body["allowed"] == ["dispatched", "escalated", "returned"]
    no_reason = client.post(url + "/transitions", headers={"X-Demo-User": "leader1"},
                            json={"to": "returned"})
    assert no_reason.status_code in (400, 409)
    odd = client.post(url + "/transitions", headers=WORKER,
                      json={"to": "dispatched", "routing": "department", "departments": 5})
    assert odd.status_code == 400 and odd.get_json()["error"]["field"] == "departments"
    for to in ("dispatched", "in_progress", "resolved"):
        r = client.post(url + "/transitions", headers=WORKER, json={"to": to, "routing": "grid"})
        assert r.status_code == 200, r.get_json()
    assert client.post(url + "/verify", headers=WORKER, json={"passed": "yes"}).status_code == 400
    assert client.post(url + "/verify", headers=WORKER, json={"passed": True}).status_code == 200
    # the worker reported it: no reporter's rating to record (staff record call-backs for hotline/Open311 only)
    assert client.post(url + "/rating", headers=WORKER, json={"score": 4}).status_code == 403
    assert client.post(url + "/supervise", headers=WORKER, json={}).status_code == 403
    history = client.get(url, headers=WORKER).get_json()["properties"]["history"]
    assert [h["to_status"] for h in history if h["action"] == "transition"] == [
        "reported", "accepted", "dispatched", "in_progress", "resolved", "verified"]


def test_routing_table_is_editable_by_admins_only(client, city_engine):
    assert client.put("/api/routing/noise", headers=WORKER, json={"department": "urban_management"}).status_code == 403
    assert client.put("/api/routing/bogus", headers={"X-Demo-User": "admin"},
                      json={"department": "fire"}).status_code == 404
    try:
        r = client.put("/api/routing/noise", headers={"X-Demo-User": "admin"}, json={"department": "urban_management"})
        row = next(c for c in r.get_json()["categories"] if c["code"] == "noise")
        assert row["department"] == "urban_management"
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("UPDATE event_category SET department_id = (SELECT id FROM department "
                              "WHERE code = 'environment') WHERE code = 'noise'"))


def test_department_statistics(client):
    rows = client.get("/api/stats/departments").get_json()["departments"]
    assert {r["code"] for r in rows} >= {"fire", "judicial", "public_security"}


def test_a_department_handles_what_it_is_sent_and_the_grid_rates_it(client, spot, own_events):
    made = client.post("/api/events", headers=WORKER, json={"category": "illegal_construction",
                                                            "description": "楼顶私搭彩钢房", "lon": spot["lon"],
                                                            "lat": spot["lat"]}).get_json()
    url = f"/api/events/{made['id']}"
    dept = {"X-Demo-User": "dept_urban_management"}
    assert client.post(url + "/transitions", headers=WORKER, json={"to": "accepted"}).status_code == 200
    r = client.post(url + "/transitions", headers=WORKER, json={"to": "dispatched", "routing": "department"})
    assert r.get_json()["properties"]["department"] == "urban_management"
    assert client.post(url + "/transitions", headers={"X-Demo-User": "dept_fire"},  # not its case: not there
                       json={"to": "in_progress"}).status_code == 404
    for to in ("in_progress", "resolved"):
        assert client.post(url + "/transitions", headers=dept, json={"to": to}).status_code == 200
    before = {d["code"]: d for d in client.get("/api/stats/departments").get_json()["departments"]}
    assert client.post(url + "/department-rating", headers=WORKER, json={"score": 2, "note": "拖延"}).status_code == 200
    after = {d["code"]: d for d in client.get("/api/stats/departments").get_json()["departments"]}
    assert after["urban_management"]["grid_ratings"] == before["urban_management"]["grid_ratings"] + 1
    assert after["urban_management"]["handled"] == before["urban_management"]["handled"]  # it was counted already


def test_the_server_ticks_alone_across_workers(city_engine):
    from mapserver import ticker

    with city_engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ticker.TICK_LOCK})
        try:
            assert ticker.tick_once(city_engine) is None  # another worker is ticking: this one skips
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ticker.TICK_LOCK})
