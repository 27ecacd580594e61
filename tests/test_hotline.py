"""12345 hotline import: category mapping, locating, encodings, re-import, rejects and the CLI's exit codes."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from data import crs as coordinates
from data.errors import LoadError
from data.hotline_categories import CategoryMap
from data.loaders.hotline import (BEIJING, AddressBook, import_file, parse_order, parse_time, read_orders,
                                  resolve_columns)
from mapserver.cli import cli
from tests.conftest import DEMO_AS_OF
from tests.test_reporter_contact import stored_reporter

NOW = DEMO_AS_OF
CATEGORIES = {"noise": ("噪音扰民", "noise"), "illegal_construction": ("违章建筑", "illegal construction"),
              "dispute": ("矛盾纠纷", "dispute"), "property": ("物业管理", "property management")}
KEYWORDS = {"噪音": "noise", "违建": "illegal_construction", "违章建筑": "illegal_construction",
            "纠纷": "dispute", "物业": "property", "建设": "dispute"}
HEADER_ZH = ["工单编号", "来电时间", "诉求类别", "事发地址", "经度", "纬度", "坐标系", "诉求内容", "来电人", "联系电话"]


def _csv(path, header, rows, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ---- mapping and parsing (no database) ----

@pytest.mark.parametrize("value, expected", [
    ("noise", "noise"), ("噪音扰民", "noise"), ("Illegal Construction", "illegal_construction"),
    ("城乡建设/违章建筑/私搭乱建", "illegal_construction"),  # 违章建筑 (4) beats 建设 (2)
    ("物业纠纷", "property"),  # equal lengths: the first in the text wins
    ("邻里 纠纷", "dispute"), ("ｎｏｉｓｅ", "noise"), ("咨询", None), ("", None),
])
def test_category_text_maps_by_name_then_longest_keyword(value, expected):
    assert CategoryMap.build(KEYWORDS, CATEGORIES).match(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("2026-10-28 08:30:00", datetime(2026, 10, 28, 8, 30, tzinfo=BEIJING)),
    ("2026/10/8 8:05", datetime(2026, 10, 8, 8, 5, tzinfo=BEIJING)),
    ("2026年10月28日 08时30分", datetime(2026, 10, 28, 8, 30, tzinfo=BEIJING)),
    ("2026-10-28T00:30:00Z", datetime(2026, 10, 28, 8, 30, tzinfo=BEIJING)),
    ("2026-10-28T08:30:00.5+08:00", datetime(2026, 10, 28, 8, 30, 0, 500000, tzinfo=BEIJING)),
    ("2026-10-28", datetime(2026, 10, 28, tzinfo=BEIJING)),
    ("1793147400", datetime(2026, 10, 28, 8, 30, tzinfo=BEIJING)),
])
def test_times_without_offset_are_beijing_time(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize("value", ["昨天", "2026-13-01 08:00", "2026-02-30", "28/10/2026 08:30"])
def test_bad_times_say_why(value):
    with pytest.raises(ValueError, match="time"):
        parse_time(value)


def test_columns_in_chinese_or_english_and_missing_ones_named():
    columns = resolve_columns(["工单编号", "受理时间", "Category", "内容", "address"])
    assert columns["time"] == ["受理时间"] and columns["category"] == ["Category"] and columns["lon"] == []
    with pytest.raises(LoadError, match=r"time \(来电时间 or 受理时间.*address"):
        resolve_columns(["external_id", "category", "content", "lon"])


BOOK = AddressBook({"五泉嘉园4号楼": (103.1, 36.1), "五泉嘉园14号楼": (103.2, 36.2), "金城里5号": None},
                   {"五泉嘉园": (103.3, 36.3), "金城里": (103.4, 36.4)})


@pytest.mark.parametrize("address, expected", [
    ("五泉嘉园4号楼", (103.1, 36.1)),
    ("甘肃省兰州市城关区五泉街道五泉嘉园14号楼2单元301室", (103.2, 36.2)),
    ("五泉嘉园 4 号楼东侧", (103.1, 36.1)),
    ("五泉嘉园99号楼", (103.3, 36.3)),  # no such house: the compound's central house
])
def test_address_finds_the_longest_house_then_compound(address, expected):
    assert BOOK.find(address) == expected


@pytest.mark.parametrize("address, reason", [("金城里5号", "several houses"), ("东方红广场", "not found")])
def test_address_not_guessed(address, reason):
    with pytest.raises(ValueError, match=reason):
        BOOK.find(address)


def _parse(**cells):
    row = {"工单编号": "GD1", "来电时间": "2026-10-28 08:30", "诉求类别": "噪音", "诉求内容": "楼上装修",
           "经度": "103.1", "纬度": "36.1", **cells}
    columns = resolve_columns([*row, "事发地址", "坐标系"])
    return parse_order(row, columns, crs="wgs84", now=NOW, categories=CategoryMap.build(KEYWORDS, CATEGORIES),
                       addresses=lambda: BOOK)


def test_a_good_row_becomes_an_order():
    order = _parse(事发地址="五泉嘉园4号楼", 坐标系="高德坐标")
    assert order.category == "noise" and order.reported_at == datetime(2026, 10, 28, 0, 30, tzinfo=timezone.utc)
    assert order.address == "五泉嘉园4号楼"
    expected = coordinates.to_wgs84([103.1], [36.1], "gcj02")
    assert (order.lon, order.lat) == pytest.approx((expected[0][0], expected[1][0]), abs=1e-9)
    assert _parse(经度="0", 纬度="0", 事发地址="五泉嘉园4号楼").lon == 103.1  # 0,0: not geocoded
    assert _parse(坐标系="WGS84坐标系").lon == 103.1


@pytest.mark.parametrize("cells, reason", [
    ({"工单编号": ""}, "missing id (工单编号)"),
    ({"工单编号": "2.02611E+13"}, "turned into a number by Excel"),
    ({"来电时间": "昨天"}, "bad time"),
    ({"来电时间": "2026-11-02 08:00"}, "in the future"),
    ({"诉求类别": "咨询"}, "unknown category '咨询'"),
    ({"诉求内容": " "}, "missing content"),
    ({"经度": "36.1", "纬度": "103.1"}, "swapped"),
    ({"经度": "203.1"}, "out of range"),
    ({"经度": "东经"}, "经度 '东经' is not a number"),
    ({"纬度": ""}, "纬度 is blank but 经度 is not"),
    ({"经度": "", "纬度": ""}, "no coordinates and no address"),
    ({"经度": "", "纬度": "", "事发地址": "东方红广场"}, "not found"),
    ({"坐标系": "mars"}, "unknown crs"),
])
def test_bad_rows_say_why(cells, reason):
    reasons = _parse(**cells)
    assert isinstance(reasons, list) and reason in "; ".join(reasons)


def test_every_reason_at_once():
    reasons = _parse(工单编号="", 来电时间="", 诉求类别="咨询")
    assert len(reasons) == 3


def test_gb18030_utf8_bom_and_json_read_alike(tmp_path):
    rows = [["GD1", "2026-10-28 08:30", "噪音", "五泉嘉园4号楼", "", "", "", "楼上装修到深夜", "张三", "13800000000"]]
    expected = [dict(zip(HEADER_ZH, rows[0]))]
    for encoding in ("gb18030", "utf-8-sig", "utf-8"):
        assert read_orders(_csv(tmp_path / f"{encoding}.csv", HEADER_ZH, rows, encoding)) == (HEADER_ZH, expected)
    (tmp_path / "a.json").write_text(json.dumps(expected, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps({"orders": expected}, ensure_ascii=False), encoding="gb18030")
    for name in ("a.json", "b.json"):
        assert read_orders(tmp_path / name) == (HEADER_ZH, expected)
    (tmp_path / "c.json").write_text(json.dumps({"工单编号": 20261028001, "经度": 103.5, "来电人": None}))
    with pytest.raises(LoadError, match="array of work orders"):
        read_orders(tmp_path / "c.json")
    (tmp_path / "d.json").write_text(json.dumps([{"工单编号": 20261028001, "经度": 103.5, "来电人": None}]))
    assert read_orders(tmp_path / "d.json")[1] == [{"工单编号": "20261028001", "经度": "103.5", "来电人": ""}]


# ---- importing into the tiny city (rolled back) ----

@pytest.fixture
def houses(city_conn):
    """Three houses of the tiny city: address, lon, lat, grid code."""
    return city_conn.execute(text("""
        SELECT h.address, ST_X(h.geom), ST_Y(h.geom), g.code FROM house h JOIN grid g ON g.id = h.grid_id
        ORDER BY h.id LIMIT 3""")).all()


def _orders(houses, prefix="GD"):
    """Five good orders: by WGS 84, GCJ-02 and BD-09 coordinates, by address, by a longer address."""
    (a, lon_a, lat_a, _), (b, lon_b, lat_b, _), (c, _, _, _) = houses
    (glon,), (glat,) = coordinates.from_wgs84([lon_b], [lat_b], "gcj02")
    (blon,), (blat,) = coordinates.from_wgs84([lon_a], [lat_a], "bd09")
    return [
        [f"{prefix}1", "2026-10-28 08:30", "噪音扰民", a, lon_a, lat_a, "", "楼上夜里装修", "张三", "13800000001"],
        [f"{prefix}2", "2026/10/28 9:00", "生活/物业/电梯", "", glon, glat, "gcj02", "电梯停运", "", ""],
        [f"{prefix}3", "2026-10-28 09:30", "邻里纠纷", "", blon, blat, "百度", "邻居占用楼道", "李四", ""],
        [f"{prefix}4", "2026-10-28 10:00", "违章建筑", c, "", "", "", "楼顶加盖", "", ""],
        [f"{prefix}5", "2026-10-28 10:30", "illegal_construction", f"某市某区{c}3单元", "", "", "", "院内私搭", "", ""],
    ]


def _events(conn, prefix):
    return {row.external_id: row for row in conn.execute(text("""
        SELECT e.external_id, e.category, e.source, e.reported_at, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat,
               g.code AS grid, e.id, e.address, e.stage_due_at, e.status,
               (SELECT count(*) FROM event_log l WHERE l.event_id = e.id AND l.actor = 'import:hotline') AS logs
        FROM event e LEFT JOIN grid g ON g.id = e.grid_id
        WHERE e.source = 'hotline_12345' AND e.external_id LIKE :p"""), {"p": prefix + "%"})}


def test_import_places_maps_and_logs_every_order(city_conn, houses, tmp_path):
    path = _csv(tmp_path / "orders.csv", HEADER_ZH, _orders(houses), "gb18030")
    report = import_file(city_conn, path, now=NOW, batch_size=2)
    assert (report.created, report.already_imported, report.rejects) == (5, 0, [])
    events = _events(city_conn, "GD")
    assert {k: e.category for k, e in events.items()} == {
        "GD1": "noise", "GD2": "property", "GD3": "dispute", "GD4": "illegal_construction",
        "GD5": "illegal_construction"}
    (a, lon_a, lat_a, grid_a), (b, lon_b, lat_b, grid_b), (c, lon_c, lat_c, grid_c) = houses
    for key, (lon, lat, grid) in {"GD1": (lon_a, lat_a, grid_a), "GD2": (lon_b, lat_b, grid_b),
                                  "GD3": (lon_a, lat_a, grid_a), "GD4": (lon_c, lat_c, grid_c),
                                  "GD5": (lon_c, lat_c, grid_c)}.items():
        assert (events[key].lon, events[key].lat) == pytest.approx((lon, lat), abs=1e-7), key
        assert events[key].grid == grid
    first = events["GD1"]
    assert first.reported_at == datetime(2026, 10, 28, 0, 30, tzinfo=timezone.utc)
    assert (*stored_reporter(city_conn, first.id), first.address) == ("张三", "13800000001", a)
    assert all(e.logs == 1 and e.stage_due_at is not None and e.status == "reported" for e in events.values())


def test_reimport_creates_no_second_event(city_conn, houses, tmp_path):
    path = _csv(tmp_path / "orders.csv", HEADER_ZH, _orders(houses))
    import_file(city_conn, path, now=NOW)
    before = city_conn.execute(text("SELECT count(*), max(id) FROM event")).one()
    # the same orders as JSON, one repeated within the file, and a keyword since removed from the table
    orders = [dict(zip(HEADER_ZH, row)) for row in _orders(houses)]
    city_conn.execute(text("DELETE FROM hotline_category_map WHERE keyword = '物业'"))
    (tmp_path / "again.json").write_text(json.dumps({"orders": orders + orders[:1]}, ensure_ascii=False))
    report = import_file(city_conn, tmp_path / "again.json", now=NOW)
    assert (report.created, report.already_imported, report.rejects) == (0, 6, [])
    assert city_conn.execute(text("SELECT count(*), max(id) FROM event")).one() == before


def test_rejects_are_reported_and_written_the_good_rows_imported(city_conn, houses, tmp_path):
    good = _orders(houses)
    bad = [["", "2026-10-28 08:30", "噪音", "", "103.7", "36.06", "", "无编号", "", ""],
           ["GX2", "去年", "噪音", "", "103.7", "36.06", "", "时间不对", "", ""],
           ["GX3", "2026-10-28 08:30", "咨询", "", "103.7", "36.06", "", "不认识的类别", "", ""],
           ["GX4", "2026-10-28 08:30", "噪音", "", "36.06", "103.7", "", "经纬度颠倒", "", ""],
           ["GX5", "2026-10-28 08:30", "噪音", "火星基地1号", "", "", "", "找不到的地址", "", ""],
           ["GX6", "2026-10-28 08:30", "噪音", "", "", "", "", "x" * 5000, "", ""]]
    path = _csv(tmp_path / "mixed.csv", HEADER_ZH, [good[0], *bad, good[1]])
    report = import_file(city_conn, path, now=NOW)
    assert (report.created, report.already_imported) == (2, 0)
    assert [row for row, _ in report.rejects] == [2, 3, 4, 5, 6, 7]
    assert report.rejects_path == tmp_path / "mixed.rejects.csv"
    with open(report.rejects_path, encoding="utf-8-sig", newline="") as back:
        written = list(csv.DictReader(back))
    assert [r["工单编号"] for r in written] == ["", "GX2", "GX3", "GX4", "GX5", "GX6"]
    reasons = [r["reason"] for r in written]
    for reason, expected in zip(reasons, ["missing id", "bad time", "unknown category '咨询'", "swapped",
                                          "address '火星基地1号' not found", "no coordinates and no address"]):
        assert expected in reason
    assert {r["row"] for r in written} == {"2", "3", "4", "5", "6", "7"}


def test_a_row_intake_refuses_is_rejected_alone(city_conn, houses, tmp_path):
    rows = _orders(houses)[:2]
    rows[0][7] = "很长" * 2100  # intake takes at most 4,000 characters
    report = import_file(city_conn, _csv(tmp_path / "long.csv", HEADER_ZH, rows), now=NOW,
                         rejects_path=tmp_path / "out.csv")
    assert report.created == 1 and report.rejects == [(1, "description is longer than 4000 characters")]
    assert (tmp_path / "out.csv").exists() and set(_events(city_conn, "GD")) == {"GD2"}


def test_outside_every_grid_is_imported_and_counted(city_conn, houses, tmp_path):
    far = [["GD9", "2026-10-28 08:30", "噪音", "", "116.397", "39.909", "", "北京来电", "", ""]]
    report = import_file(city_conn, _csv(tmp_path / "far.csv", HEADER_ZH, far), now=NOW)
    assert (report.created, report.outside_grid, report.rejects) == (1, 1, [])
    assert _events(city_conn, "GD9")["GD9"].grid is None


def test_an_empty_export_imports_nothing(city_conn, tmp_path):
    (tmp_path / "none.json").write_text('{"orders": []}')
    report = import_file(city_conn, tmp_path / "none.json", now=NOW)
    assert (report.rows_read, report.created, report.rejects_path) == (0, 0, None)


def test_dry_run_writes_nothing(city_conn, houses, tmp_path):
    rows = _orders(houses)
    path = _csv(tmp_path / "orders.csv", HEADER_ZH, [*rows, rows[0]])
    report = import_file(city_conn, path, now=NOW, dry_run=True, batch_size=3)
    assert (report.created, report.already_imported, report.dry_run) == (5, 1, True)
    assert _events(city_conn, "GD") == {}


# ---- the command (commits: its events are deleted afterwards) ----

@pytest.fixture
def runner_env(city_engine):
    yield {"DATABASE_URL": city_engine.url.render_as_string(hide_password=False)}
    with city_engine.begin() as conn:
        mine = "SELECT id FROM event WHERE source = 'hotline_12345' AND external_id LIKE 'CLI%'"
        conn.execute(text(f"DELETE FROM event_log WHERE event_id IN ({mine})"))
        conn.execute(text(f"UPDATE event SET possible_duplicate_of = NULL WHERE possible_duplicate_of IN ({mine})"))
        conn.execute(text(f"DELETE FROM event WHERE id IN ({mine})"))


@pytest.fixture
def cli_houses(city_engine):
    with city_engine.connect() as conn:
        return conn.execute(text("""
            SELECT h.address, ST_X(h.geom), ST_Y(h.geom), g.code FROM house h JOIN grid g ON g.id = h.grid_id
            ORDER BY h.id LIMIT 3""")).all()


def test_command_exit_codes(runner_env, cli_houses, tmp_path):
    runner = CliRunner()
    good = _csv(tmp_path / "good.csv", HEADER_ZH, _orders(cli_houses, "CLI"))
    first = runner.invoke(cli, ["import", "hotline", str(good), "--no-progress"], env=runner_env)
    assert first.exit_code == 0, first.output
    assert "imported 5 of 5 work orders; 0 already imported, 0 rejected" in first.output
    again = runner.invoke(cli, ["import", "hotline", str(good), "--no-progress"], env=runner_env)
    assert again.exit_code == 0 and "imported 0 of 5 work orders; 5 already imported" in again.output

    mixed = _csv(tmp_path / "mixed.csv", HEADER_ZH, [*_orders(cli_houses, "CLI")[:1],
                                                    ["CLI9", "2026-10-28 08:30", "咨询", "", "103.7", "36.06", "",
                                                     "不认识", "", ""]])
    dry = runner.invoke(cli, ["import", "hotline", str(mixed), "--dry-run", "--no-progress",
                              "--rejects", str(tmp_path / "r.csv")], env=runner_env)
    assert dry.exit_code == 1 and "would import 0 of 2" in dry.output and "row 2: unknown category" in dry.output
    assert (tmp_path / "r.csv").exists() and not (tmp_path / "mixed.rejects.csv").exists()

    broken = _csv(tmp_path / "broken.csv", ["工单编号", "内容"], [["CLI10", "没有时间和类别"]])
    refused = runner.invoke(cli, ["import", "hotline", str(broken), "--no-progress"], env=runner_env)
    assert refused.exit_code == 2 and "missing column(s): time" in refused.output
    bad_crs = runner.invoke(cli, ["import", "hotline", str(good), "--crs", "mars"], env=runner_env)
    assert bad_crs.exit_code == 2 and "unknown crs 'mars'" in bad_crs.output


def test_command_help_explains_the_columns():
    result = CliRunner().invoke(cli, ["import", "hotline", "--help"])
    assert result.exit_code == 0
    for column in ("工单编号", "来电时间", "诉求类别", "事发地址", "经度", "坐标系", "联系电话", "Beijing", "Exit status"):
        assert column in result.output
