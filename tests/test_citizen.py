"""The citizens' QR channel: signed report links, the report form (also in a real Chromium, network closed),
tracking, verification and rating by the reporter, the rate limit, and the reporter's contact kept from staff."""
from __future__ import annotations

import io
import re
import threading
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest
from PIL import Image
from sqlalchemy import text

from data import qrcodes, workflow
from data.actors import Actor
from mapserver import ratelimit
from tests.conftest import offline_page
from tests.test_reporter_contact import stored_reporter

PHONE, NAME = "13912345678", "李阿姨"
ADMIN = Actor("admin", "admin", ())


@pytest.fixture(scope="module")
def app(city_engine, tmp_path_factory):
    """The app with photos in a temporary folder and small limits, so too-big uploads are cheap to send."""
    from data.settings import Settings
    from mapserver import create_app

    url = city_engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, media_dir=str(tmp_path_factory.mktemp("media")), max_photo_bytes=200_000)
    return create_app(settings, {"TESTING": True, "MINQING_DEMO_LOGIN": True, "MINQING_VERSION_TTL": 0, "MAX_CONTENT_LENGTH": 1_000_000})


@pytest.fixture(scope="module", autouse=True)
def our_rows(city_engine):
    """Other modules share the tiny city: delete every event this module files, and its rate-limit counts."""
    with city_engine.connect() as conn:
        before = conn.execute(text("SELECT COALESCE(max(id), 0) FROM event")).scalar_one()
    yield
    with city_engine.begin() as conn:
        ids = list(conn.execute(text("SELECT id FROM event WHERE id > :b AND source = 'citizen_qr'"),
                                {"b": before}).scalars())
        conn.execute(text("UPDATE event SET possible_duplicate_of = NULL WHERE possible_duplicate_of = ANY(:ids)"),
                     {"ids": ids})
        conn.execute(text("UPDATE event SET merged_into = NULL WHERE merged_into = ANY(:ids)"), {"ids": ids})
        conn.execute(text("DELETE FROM event_log WHERE event_id = ANY(:ids)"), {"ids": ids})
        conn.execute(text("DELETE FROM event WHERE id = ANY(:ids)"), {"ids": ids})  # photos and keys cascade
        conn.execute(text("DELETE FROM rate_limit WHERE bucket LIKE 'qr:%' OR bucket LIKE 'test:%'"))


@pytest.fixture(scope="module")
def cells(city_engine):
    """Current cells with a point inside each, as (code, name, lon, lat)."""
    with city_engine.connect() as conn:
        return conn.execute(text(
            "SELECT code, name, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid "
            "WHERE level = 'cell' AND valid_to IS NULL ORDER BY code")).all()


def sig(app, code: str) -> str:
    return qrcodes.sign(app.extensions["minqing.settings"].qr_secret, code)


def png(size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 60, 60)).save(out, "PNG")
    return out.getvalue()


_address = iter(range(1, 250))


def new_client(app):
    """A client from an address of its own, so each test starts with an empty rate-limit bucket."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.0.5.{next(_address)}"
    return client


def report(client, app, code, **fields):
    form = {"category": "noise", "description": "楼上每晚十一点后装修，电钻声很大。", "phone": PHONE, "name": NAME,
            **fields}
    return client.post(f"/report/{code}?sig={sig(app, code)}", data=form, content_type="multipart/form-data")


def tracking_no(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return re.fullmatch(r"/track/(MQ[0-9A-Z]{10})\?new=1", response.headers["Location"]).group(1)


def event(city_engine, number: str):
    with city_engine.connect() as conn:
        return conn.execute(text(
            "SELECT e.id, e.source, e.status, e.category, g.code AS grid, "
            "ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, e.satisfaction, "
            "(SELECT count(*) FROM event_photo p WHERE p.event_id = e.id) AS photos "
            "FROM event e LEFT JOIN grid g ON g.id = e.grid_id WHERE e.tracking_no = :n"), {"n": number}).first()


def resolve(city_engine, number: str) -> None:
    """Staff take the case to `resolved` through the lifecycle, as a handler would."""
    with city_engine.begin() as conn:
        event_id, status = conn.execute(text("SELECT id, status FROM event WHERE tracking_no = :n"),
                                        {"n": number}).one()
        path = {"reported": ["accepted", "dispatched", "in_progress"], "in_progress": []}[status]
        for to in path:
            workflow.transition(conn, event_id, to, ADMIN, routing="grid" if to == "dispatched" else None)
        workflow.transition(conn, event_id, "resolved", ADMIN, "已上门协调，装修改在白天进行")


# --- the link and the form ---------------------------------------------------------------------------------------

def test_the_form_is_a_chinese_mobile_page_on_local_assets(app, cells):
    code, name = cells[0][:2]
    response = new_client(app).get(f"/report/{code}?sig={sig(app, code)}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert '<html lang="zh-CN">' in page and 'name="viewport"' in page
    assert name in page and "噪音扰民" in page and "联系方式仅用于回访，不会向网格工作人员公开" in page
    assert 'accept="image/*"' in page and 'type="file"' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from another host
    assert "/assets/bootstrap/dist/css/bootstrap.min.css" in page


@pytest.mark.parametrize("query", ["", "?sig=", "?sig=AAAAAAAAAAAAAAAAAAAAAA", "?sig=other"])
def test_a_forged_or_missing_signature_is_403_in_chinese_and_english(app, cells, query):
    code = cells[0][0]
    client = new_client(app)
    for response in (client.get(f"/report/{code}{query}"),
                     client.post(f"/report/{code}{query}", data={"category": "noise", "description": "x"})):
        page = response.get_data(as_text=True)
        assert response.status_code == 403 and response.mimetype == "text/html"
        assert "二维码无效" in page and "QR code is not valid" in page


def test_another_grids_signature_is_refused(app, cells):
    (one, *_), (other, *_) = cells[:2]
    assert new_client(app).get(f"/report/{one}?sig={sig(app, other)}").status_code == 403


def test_a_grid_that_is_not_current_is_404(app):
    response = new_client(app).get(f"/report/990101.001.009.009?sig={sig(app, '990101.001.009.009')}")
    assert response.status_code == 404 and "该网格已调整或不存在" in response.get_data(as_text=True)


# --- filing --------------------------------------------------------------------------------------------------------

def test_a_report_without_location_lands_in_the_grid_of_the_code(app, city_engine, cells):
    code = cells[1][0]
    number = tracking_no(report(new_client(app), app, code))
    row = event(city_engine, number)
    assert (row.source, row.status, row.category, row.grid) == ("citizen_qr", "reported", "noise", code)
    with city_engine.connect() as conn:
        assert stored_reporter(conn, row.id) == (NAME, PHONE)


def test_a_shared_wechat_location_is_converted_to_wgs84(app, city_engine, cells):
    code, _, lon, lat = cells[2]
    from data import crs

    (glon,), (glat,) = crs.from_wgs84([lon], [lat], "gcj02")
    number = tracking_no(report(new_client(app), app, code, lon=f"{glon:.7f}", lat=f"{glat:.7f}", crs="gcj02"))
    row = event(city_engine, number)
    assert row.grid == code
    assert abs(row.lon - lon) < 2e-6 and abs(row.lat - lat) < 2e-6  # well under a metre


@pytest.mark.parametrize("fields,field_message", [
    ({"description": "  "}, "请填写问题描述"),
    ({"description": "长" * 1001}, "不超过 1000 字"),
    ({"category": ""}, "请选择问题类别"),
    ({"category": "bogus"}, "请选择列表中的问题类别"),
    ({"phone": "call me"}, "联系电话格式不正确"),
    ({"lon": "103.7"}, "位置信息不完整"),
    ({"lon": "36.05", "lat": "103.7"}, "位置信息无效"),  # swapped
    ({"lon": "103.7", "lat": "36.05", "crs": "epsg:3857"}, "位置信息不完整"),
])
def test_bad_input_shows_the_form_again_with_a_chinese_reason(app, city_engine, cells, fields, field_message):
    code = cells[0][0]
    response = report(new_client(app), app, code, **fields)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and field_message in page
    assert 'id="report-form"' in page and NAME in page  # what was typed is kept


def test_photos_are_stored_and_bad_ones_are_413_or_415(app, city_engine, cells):
    code = cells[3][0]
    client = new_client(app)
    number = tracking_no(report(client, app, code, photo=(io.BytesIO(png()), "scene.png")))
    assert event(city_engine, number).photos == 1
    with city_engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM event")).scalar_one()
    noise = bytes(range(256)) * 1000  # 256 kB: over the 200 kB photo limit, under the 1 MB request limit
    too_big = report(client, app, code, photo=(io.BytesIO(b"\x89PNG\r\n\x1a\n" + noise), "big.png"))
    assert too_big.status_code == 413 and "照片太大" in too_big.get_data(as_text=True)
    not_image = report(client, app, code, photo=(io.BytesIO(b"%PDF-1.4 not a photo"), "scan.pdf"))
    assert not_image.status_code == 415 and "JPEG、PNG 或 WebP" in not_image.get_data(as_text=True)
    whole_request = report(new_client(app), app, code, photo=(io.BytesIO(noise * 5), "huge.png"))
    assert whole_request.status_code == 413 and "照片太大" in whole_request.get_data(as_text=True)
    with city_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event")).scalar_one() == before  # nothing half-filed


def test_a_double_tap_files_one_report(app, city_engine, cells):
    client, code = new_client(app), cells[4][0]
    first = tracking_no(report(client, app, code, token="form-token-1"))
    assert tracking_no(report(client, app, code, token="form-token-1")) == first
    assert report(client, app, code, token="form-token-1", description="另一件事").status_code == 422


# --- rate limit ----------------------------------------------------------------------------------------------------

def test_the_sixth_report_in_ten_minutes_from_one_address_and_grid_is_429(app, cells):
    client, code, other = new_client(app), cells[5][0], cells[6][0]
    app.config["MINQING_QR_REPORT_LIMIT"] = 2
    try:
        assert [report(client, app, code).status_code for _ in range(2)] == [303, 303]
        refused = report(client, app, code)
        assert refused.status_code == 429 and "提交过于频繁" in refused.get_data(as_text=True)
        assert 0 < int(refused.headers["Retry-After"]) <= 600
        assert report(client, app, other).status_code == 303  # another grid
        assert report(new_client(app), app, code).status_code == 303  # another address
    finally:
        del app.config["MINQING_QR_REPORT_LIMIT"]


def test_the_window_starts_again_and_racing_requests_count_exactly(city_engine):
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
    window = timedelta(minutes=10)
    with city_engine.begin() as conn:
        assert [ratelimit.hit(conn, "test:w", 2, window, t0 + timedelta(minutes=m)) for m in (0, 1, 2)] \
            == [None, None, 480]
        assert ratelimit.hit(conn, "test:w", 2, window, t0 + timedelta(minutes=10)) is None
    results = []

    def one():
        with city_engine.begin() as conn:
            results.append(ratelimit.hit(conn, "test:race", 5, window))

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(None) == 5
    with city_engine.begin() as conn:
        assert ratelimit.purge(conn, timedelta(0), t0 + timedelta(days=365)) >= 2


# --- tracking, verification, rating --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def filed(app, cells):
    return tracking_no(report(new_client(app), app, cells[7][0], category="environment",
                              description="小区东门垃圾桶满溢三天没人清理。"))


def test_the_tracking_page_shows_the_number_and_progress_in_beijing_time(app, city_engine, filed):
    page = new_client(app).get(f"/track/{filed}?new=1").get_data(as_text=True)
    assert f'id="tracking-no">{filed}<' in page and "提交成功" in page and "已上报" in page
    case = new_client(app).get(f"/track/{filed}.json").get_json()
    assert case["tracking_no"] == filed and case["status"] == "reported" and case["status_label"] == "已上报"
    assert case["reported_at"].endswith("+08:00") and case["due_at"].endswith("+08:00")
    assert [s["label"] for s in case["timeline"]] == ["已上报"]
    assert new_client(app).get(f"/track/{filed}", headers={"Accept": "application/json"}).get_json() == case
    assert new_client(app).get(f"/track?number={filed.lower()}").headers["Location"] == f"/track/{filed}"


def test_the_json_matches_the_openapi_document(app, filed):
    document = new_client(app).get("/openapi.json").get_json()
    for path, url, status in (("/track/{number}.json", f"/track/{filed}.json", 200),
                              ("/track/{number}.json", "/track/MQ0000000000.json", 404)):
        response = new_client(app).get(url)
        assert response.status_code == status
        schema = document["paths"][path]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]
        jsonschema.validate(response.get_json(), {**schema, "components": document["components"]})


def test_an_unknown_number_is_404_with_a_form_to_try_again(app):
    response = new_client(app).get("/track/MQ2222222222")
    page = response.get_data(as_text=True)
    assert response.status_code == 404 and "没有找到这个查询编号" in page and 'name="number"' in page
    assert new_client(app).post("/track/MQ2222222222/verify", data={"passed": "1"}).status_code == 404
    assert new_client(app).get("/track/MQ2222222222.json").get_json()["error"]["status"] == 404


def test_the_reporter_verifies_and_rates_but_never_sees_who_handled_it(app, city_engine, filed):
    client = new_client(app)
    assert client.post(f"/track/{filed}/verify", data={"passed": "1"}).status_code == 409  # not resolved yet
    resolve(city_engine, filed)
    page = client.get(f"/track/{filed}").get_data(as_text=True)
    assert "问题解决了吗" in page and "已上门协调，装修改在白天进行" in page
    refused = client.post(f"/track/{filed}/verify", data={"passed": "0", "note": " "})
    assert refused.status_code == 400 and "请说明哪些问题还没有解决" in refused.get_data(as_text=True)
    assert client.post(f"/track/{filed}/verify", data={"passed": "0", "note": "晚上还在装修"}).status_code == 303
    case = client.get(f"/track/{filed}.json").get_json()
    assert case["status"] == "in_progress" and case["timeline"][-1]["note"] == "晚上还在装修"

    resolve(city_engine, filed)
    assert client.post(f"/track/{filed}/verify", data={"passed": "1"}).headers["Location"] == f"/track/{filed}"
    assert client.post(f"/track/{filed}/rating", data={"score": "6"}).status_code == 400
    assert client.post(f"/track/{filed}/rating", data={"score": "4"}).status_code == 303
    assert event(city_engine, filed).satisfaction == 4
    again = client.post(f"/track/{filed}/rating", data={"score": "5"})
    assert again.status_code == 409 and event(city_engine, filed).satisfaction == 4
    page = client.get(f"/track/{filed}").get_data(as_text=True)
    case = client.get(f"/track/{filed}.json").get_json()
    assert case["status"] == "verified" and not case["can_rate"] and "★★★★☆" in page
    for secret in ("admin", PHONE, NAME):  # neither the handler's account nor the contact
        assert secret not in page and secret not in str(case)


def test_staff_apis_never_show_the_reporters_contact(app, city_engine, filed):
    with city_engine.connect() as conn:
        event_id = conn.execute(text("SELECT id FROM event WHERE tracking_no = :n"), {"n": filed}).scalar_one()
    client = new_client(app)
    for user in ("commander", "admin", "leader1", "worker1", "analyst"):
        for url in ("/api/events?source=citizen_qr&limit=500", "/api/events?q=垃圾桶&limit=50",
                    "/api/events/export?format=csv&source=citizen_qr",
                    "/api/events/export?format=geojson&source=citizen_qr"):
            body = client.get(url, headers={"X-Demo-User": user}).get_data(as_text=True)
            assert PHONE not in body and NAME not in body, (user, url)
    for user in ("commander", "leader1", "worker1", "analyst"):  # the case file: admins alone see who to call back
        response = client.get(f"/api/events/{event_id}", headers={"X-Demo-User": user})
        assert response.status_code in (200, 404) and (user != "commander" or response.status_code == 200)
        assert PHONE not in response.get_data(as_text=True) and NAME not in response.get_data(as_text=True), user
    response = client.get("/api/events?source=citizen_qr&limit=500", headers={"X-Demo-User": "admin"})
    assert event_id in [f["id"] for f in response.get_json()["features"]]  # the event is there, its contact not


# --- in a real browser -----------------------------------------------------------------------------------------------

@pytest.fixture
def phone(browser, cells):
    code, _, lon, lat = cells[8]
    page = offline_page(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                        permissions=["geolocation"], geolocation={"longitude": lon, "latitude": lat, "accuracy": 15})
    page.cell = (code, lon, lat)
    yield page
    page.context.close()


def test_a_citizen_reports_from_a_phone_and_follows_the_case(phone, server, app, city_engine, tmp_path):
    page = phone
    code, lon, lat = page.cell
    photo = tmp_path / "scene.png"
    photo.write_bytes(png((120, 90)))
    page.goto(f"{server}/report/{code}?sig={sig(app, code)}")
    page.select_option("#category", label="安全隐患")
    page.fill("#description", "3号楼楼道堆放电动车电池，存在火灾隐患。")
    assert page.text_content("#description-count") == str(len("3号楼楼道堆放电动车电池，存在火灾隐患。"))
    page.click("#share-location")
    page.wait_for_function("document.getElementById('lon').value !== ''")
    assert "已获取您的位置" in page.text_content("#location-note")
    page.set_input_files("#photo", str(photo))
    page.fill("#phone", PHONE)
    page.click("#submit")
    page.wait_for_url(re.compile(r"/track/MQ[0-9A-Z]{10}\?new=1$"))
    number = page.text_content("#tracking-no").strip()
    assert re.fullmatch(r"MQ[0-9A-Z]{10}", number) and number in page.url
    assert page.locator("#submitted").is_visible() and page.text_content("#status") == "已上报"

    row = event(city_engine, number)
    assert (row.category, row.grid, row.photos) == ("safety_hazard", code, 1)
    with city_engine.connect() as conn:
        assert stored_reporter(conn, row.id)[1] == PHONE
    assert abs(row.lon - lon) < 1e-5 and abs(row.lat - lat) < 1e-5

    resolve(city_engine, number)
    page.reload()
    page.fill("#verify-note", "电池还在楼道里")
    page.click("#verify-fail")
    page.wait_for_function("document.getElementById('status').textContent === '处置中'")
    assert "电池还在楼道里" in page.text_content("#timeline")

    resolve(city_engine, number)
    page.reload()
    page.click("#verify-pass")
    page.wait_for_function("document.getElementById('status').textContent === '已核查'")
    page.click("label[for=score-5]")
    page.click("#rate-submit")
    page.wait_for_selector("#satisfaction")
    assert page.text_content("#satisfaction") == "★★★★★" and event(city_engine, number).satisfaction == 5
    assert page.left_the_machine == [] and page.broken == []
