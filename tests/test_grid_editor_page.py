"""The boundary editor in a real headless Chromium with the network closed, on a copy of the tiny city of
its own (edits are applied): a shared vertex dragged with the mouse moves in both grids, a bad edit draws its
problems, a good one is previewed, applied through the confirmation dialog (the version goes up) and undone."""
from __future__ import annotations


import pytest
from shapely.geometry import Point, shape
from sqlalchemy import text

from tests.conftest import db_name, migrated_engine, offline_page, serving


@pytest.fixture(scope="module")
def edit_app(tiny_city):
    from data.demo.load import load
    from data.settings import Settings
    from mapserver import create_app

    engine = migrated_engine(db_name("grid_editor"))
    load(engine, tiny_city, progress=False)
    app = create_app(Settings(database_url=engine.url.render_as_string(hide_password=False)),
                     {"TESTING": True, "MINQING_DEMO_LOGIN": True, "MINQING_VERSION_TTL": 0})
    app.engine = engine
    yield app
    engine.dispose()


@pytest.fixture(scope="module")
def edit_server(edit_app):
    yield from serving(edit_app)


@pytest.fixture(scope="module")
def cell(edit_app):
    """A regular cell in a community of regular cells only (no dedicated grid laid over them)."""
    with edit_app.engine.connect() as conn:
        return conn.execute(text("""
            SELECT min(g.code) FROM grid g JOIN grid p ON p.valid_to IS NULL AND g.path ~ (p.code || '.*{1}')::lquery
            WHERE g.valid_to IS NULL AND g.level = 'cell' AND g.kind = 'regular'
              AND NOT EXISTS (SELECT FROM grid d WHERE d.valid_to IS NULL AND d.kind = 'dedicated'
                              AND d.path ~ (p.code || '.*{1}')::lquery)
            GROUP BY p.code HAVING count(*) >= 3 ORDER BY 1 LIMIT 1""")).scalar_one()


@pytest.fixture(scope="module")
def leader(edit_app, cell):
    """The grid leader whose scope holds the cell's parent: the page passes `?as=` on to every request."""
    with edit_app.engine.connect() as conn:
        return conn.execute(text(
            "SELECT username FROM app_user WHERE role = 'grid_leader' AND CAST(:p AS ltree) <@ scope::ltree[] "
            "ORDER BY cardinality(scope), username LIMIT 1"), {"p": cell.rpartition(".")[0]}).scalar_one()


@pytest.fixture
def page(browser, edit_server, cell, leader):
    page = offline_page(browser, viewport={"width": 1400, "height": 900})
    page.goto(f"{edit_server}/grids/{cell}/edit?as={leader}")
    page.wait_for_function("window.minqingReady !== undefined")
    page.evaluate("window.minqingReady")
    yield page
    page.context.close()


def _inner_shared_vertex(page, client, cell):
    """A vertex the cell shares with a sibling, the farthest from the parent's outline."""
    parent = shape(client.get(f"/api/grids/{cell.rpartition('.')[0]}").get_json()["geometry"])
    shared = [v for v in page.evaluate("MinqingGridEditor.sharedVertices()") if cell in v["grids"]]
    assert shared, "the cell shares no vertex with a sibling"
    return max(shared, key=lambda v: parent.boundary.distance(Point(v["lng"], v["lat"])))


def _outer(geometry: dict) -> set[tuple[float, float]]:
    rings = geometry["coordinates"][0] if geometry["type"] == "Polygon" else geometry["coordinates"][0][0]
    return {tuple(c) for c in rings}


def _drag(page, x, y, dx, dy):
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=4)
    page.mouse.move(x + dx, y + dy, steps=4)
    page.mouse.up()


def test_the_page_loads_only_from_this_machine(page, cell):
    assert page.locator("path.leaflet-interactive").count() >= 3  # the cell and its siblings
    assert "边界调整" in page.title()
    assert page.left_the_machine == [] and page.broken == []


def test_dragging_a_shared_vertex_moves_it_in_both_grids(page, edit_app, cell):
    vertex = _inner_shared_vertex(page, edit_app.test_client(), cell)
    page.click("#tool-edit")
    _drag(page, vertex["x"], vertex["y"], 12, 8)
    page.wait_for_function("MinqingGridEditor.edit().grids.length >= 2")
    edit = page.evaluate("MinqingGridEditor.edit()")
    assert {g["code"] for g in edit["grids"]} == set(vertex["grids"])
    client, moved = edit_app.test_client(), set()
    for g in edit["grids"]:
        ring, stored = _outer(g["geometry"]), _outer(client.get(f"/api/grids/{g['code']}").get_json()["geometry"])
        assert (vertex["lng"], vertex["lat"]) in stored - ring
        moved |= ring - stored
    assert len(moved) == 1  # the same new position in every grid that shared it
    assert page.left_the_machine == [] and page.broken == []


def test_a_bad_edit_is_drawn_then_a_good_one_is_previewed_applied_and_undone(page, edit_app, cell):
    client = edit_app.test_client()
    before = client.get(f"/api/grids/{cell}").get_json()
    page.click("#tool-edit")

    # bad: a vertex of the cell alone dragged out of the parent leaves a gap or an overlap
    parent = shape(client.get(f"/api/grids/{cell.rpartition('.')[0]}").get_json()["geometry"])
    shared = {v["key"] for v in page.evaluate("MinqingGridEditor.sharedVertices()")}
    lone = next(c for c in sorted(_outer(before["geometry"])) if f"{c[1]:.7f},{c[0]:.7f}" not in shared)
    at = page.evaluate(f"MinqingGridEditor.vertexScreen({lone[1]}, {lone[0]})")
    centre = parent.centroid
    towards = page.evaluate(f"MinqingGridEditor.vertexScreen({centre.y}, {centre.x})")
    dx, dy = towards["x"] - at["x"], towards["y"] - at["y"]
    norm = max((dx * dx + dy * dy) ** 0.5, 1)
    _drag(page, at["x"], at["y"], -40 * dx / norm, -40 * dy / norm)  # outwards, away from the parent's middle
    page.wait_for_function("window.minqingProblems && !window.minqingProblems.ok")
    assert page.locator("#problems li.error").count() >= 1
    assert page.evaluate("MinqingGridEditor.problemCount()") >= 1  # drawn on the map
    assert page.locator("#do-apply").is_disabled()

    # good: back to the stored shapes, then a shared edge bent: a vertex dragged out of its middle is added to
    # both grids (the tiny city's shared edges run from outline to outline, so their ends may not move)
    page.click("#tool-reset")
    page.evaluate("window.minqingReady")
    assert page.evaluate("MinqingGridEditor.edit().grids.length") == 0
    page.click("#tool-edit")
    middle = next(m for m in page.evaluate("MinqingGridEditor.sharedEdgeMiddles()") if cell in m["grids"])
    _drag(page, middle["x"], middle["y"], 10, 6)
    page.wait_for_function("window.minqingProblems && window.minqingProblems.ok")
    assert [len(g["geometry"]["coordinates"][0]) for g in page.evaluate("MinqingGridEditor.edit()")["grids"]] \
        == [len(_outer(client.get(f"/api/grids/{code}").get_json()["geometry"])) + 2 for code in middle["grids"]]
    page.click("#do-preview")
    page.wait_for_function("document.querySelectorAll('#preview tbody tr').length >= 2")
    assert set(page.locator("#preview tbody tr").evaluate_all("rows => rows.map(r => r.dataset.code)")) \
        == set(middle["grids"])

    page.fill("#note", "测试：移动共用顶点")
    page.click("#do-apply")
    assert page.locator("#confirm").is_visible()
    page.click("#confirm-ok")
    page.wait_for_function("document.getElementById('message').className !== ''")
    assert page.text_content("#message").startswith("已应用"), page.text_content("#message")
    after = client.get(f"/api/grids/{cell}").get_json()
    assert after["properties"]["version"] == before["properties"]["version"] + 1
    assert page.locator("#history li").count() >= 2

    page.click("#do-undo")
    page.wait_for_function("document.getElementById('message').textContent.indexOf('已撤销') === 0")
    undone = client.get(f"/api/grids/{cell}").get_json()
    assert undone["properties"]["version"] == before["properties"]["version"] + 2
    assert shape(undone["geometry"]).equals_exact(shape(before["geometry"]), 1e-6) \
        or shape(undone["geometry"]).symmetric_difference(shape(before["geometry"])).area < 1e-12
    assert page.left_the_machine == [] and page.broken == []


def test_a_stale_apply_says_so(page, edit_app, cell):
    """The grid changes under the page (another leader): apply answers 412 and the page says why."""
    page.click("#tool-edit")
    page.route("**/api/grids/edits", lambda route: route.fulfill(
        status=412, content_type="application/json",
        body='{"error": {"status": 412, "reason": "stale", "current": {}}}'))
    middle = next(m for m in page.evaluate("MinqingGridEditor.sharedEdgeMiddles()") if cell in m["grids"])
    _drag(page, middle["x"], middle["y"], 8, 4)
    page.wait_for_function("window.minqingProblems && window.minqingProblems.ok")
    page.fill("#note", "过期测试")
    page.click("#do-apply")
    page.click("#confirm-ok")
    page.wait_for_function("document.getElementById('message').className === 'error'")
    assert "已过期" in page.text_content("#message")
    page.broken[:] = [b for b in page.broken if not b.startswith("412 ")]
    assert page.left_the_machine == [] and page.broken == []


def test_a_split_line_drawn_on_the_page_is_applied_as_a_new_grid(page, edit_app, cell):
    client = edit_app.test_client()
    before = client.get(f"/api/grids/{cell}").get_json()
    polygon = shape(before["geometry"])
    x0, _, x1, _ = polygon.bounds
    y = polygon.representative_point().y
    west = page.evaluate(f"MinqingGridEditor.vertexScreen({y}, {x0 - (x1 - x0) * 0.2})")
    east = page.evaluate(f"MinqingGridEditor.vertexScreen({y}, {x1 + (x1 - x0) * 0.2})")
    page.click("#tool-split")
    page.mouse.click(west["x"], west["y"])
    page.wait_for_timeout(300)
    page.mouse.click(east["x"], east["y"])
    page.wait_for_timeout(300)
    page.mouse.click(east["x"], east["y"])  # clicking the last point again ends the line
    page.wait_for_function("window.minqingSplit !== undefined")
    page.evaluate("window.minqingSplit")
    page.wait_for_function("window.minqingProblems && window.minqingProblems.ok", timeout=10_000)
    children_before = len(client.get(f"/api/grids/{cell.rpartition('.')[0]}").get_json()["properties"]["children"])
    page.fill("#note", "测试：按线切分")
    page.click("#do-apply")
    page.click("#confirm-ok")
    page.wait_for_function("document.getElementById('message').textContent.indexOf('已应用') === 0", timeout=10_000)
    parent = client.get(f"/api/grids/{cell.rpartition('.')[0]}").get_json()["properties"]
    assert len(parent["children"]) == children_before + 1
    assert page.left_the_machine == [] and page.broken == []


def test_two_siblings_selected_on_the_page_are_merged(page, edit_app, cell):
    client = edit_app.test_client()
    parent_code = cell.rpartition(".")[0]
    siblings = [c for c in client.get(f"/api/grids/{parent_code}").get_json()["properties"]["children"]]
    codes = [c["code"] if isinstance(c, dict) else c for c in siblings]
    shapes = {c: shape(client.get(f"/api/grids/{c}").get_json()["geometry"]) for c in codes}
    pair = next((a, b) for a in codes for b in codes if a < b and shapes[a].touches(shapes[b])
                and shapes[a].intersection(shapes[b]).length > 0)
    page.click("#tool-merge")
    for code in pair:
        p = shapes[code].representative_point()
        at = page.evaluate(f"MinqingGridEditor.vertexScreen({p.y}, {p.x})")
        page.mouse.click(at["x"], at["y"])
        page.wait_for_timeout(200)
    page.click("#do-merge")
    page.wait_for_function("window.minqingProblems && window.minqingProblems.ok", timeout=10_000)
    page.fill("#note", "测试：合并网格")
    page.click("#do-apply")
    page.click("#confirm-ok")
    page.wait_for_function("document.getElementById('message').textContent.indexOf('已应用') === 0", timeout=10_000)
    after = client.get(f"/api/grids/{parent_code}").get_json()["properties"]["children"]
    assert len(after) == len(siblings) - 1
    assert page.left_the_machine == [] and page.broken == []
