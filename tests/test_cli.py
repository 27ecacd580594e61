"""The `minqing` command: help everywhere, demo loading that is safe to repeat."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from mapserver.cli import cli

COMMANDS = [[], ["db"], ["db", "upgrade"], ["db", "downgrade"], ["db", "reset"], ["db", "current"], ["demo"],
            ["load"], ["serve"], ["tick"], ["qr"], ["import"], ["import", "hotline"], ["open311"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "minqing")
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 4


@pytest.fixture
def runner_env(empty_db):
    return {"DATABASE_URL": empty_db.url.render_as_string(hide_password=False)}


def test_demo_loads_once_and_is_idempotent_with_if_empty(empty_db, runner_env):
    runner = CliRunner()
    first = runner.invoke(cli, ["demo", "--scale", "tiny", "--seed", "3", "--as-of", "2026-11-01", "--no-progress"],
                          env=runner_env)
    assert first.exit_code == 0, first.output
    assert "demo city loaded" in first.output
    with empty_db.connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM event")).scalar_one()
    assert events == 1_000

    with empty_db.begin() as conn:  # a demo city loaded before logins existed: its accounts have no password
        conn.execute(text("UPDATE app_user SET password_hash = NULL WHERE username = 'worker1'"))
    again = runner.invoke(cli, ["demo", "--scale", "tiny", "--if-empty"], env=runner_env)
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert "1 demo accounts" in again.output
    with empty_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app_user WHERE password_hash IS NULL")).scalar_one() == 0
    with empty_db.begin() as conn:  # a city the demo generator did not make never gets the demo's password
        conn.execute(text("DELETE FROM demo_hotspot"))
        conn.execute(text("UPDATE app_user SET password_hash = NULL WHERE username = 'worker1'"))
    assert "demo accounts" not in runner.invoke(cli, ["demo", "--scale", "tiny", "--if-empty"], env=runner_env).output
    with empty_db.connect() as conn:
        assert conn.execute(text("SELECT password_hash FROM app_user WHERE username = 'worker1'")).scalar() is None

    refused = runner.invoke(cli, ["demo", "--scale", "tiny"], env=runner_env)
    assert refused.exit_code == 1 and "--replace" in refused.output
    with empty_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event")).scalar_one() == events


def test_demo_rejects_an_unknown_scale(runner_env):
    result = CliRunner().invoke(cli, ["demo", "--scale", "huge"], env=runner_env)
    assert result.exit_code == 2 and "huge" in result.output


def test_demo_takes_a_real_boundary_file(tmp_path, empty_db, runner_env):
    import geopandas as gpd
    import shapely

    # a MultiPolygon with an island and a hole, in CGCS2000 / 3-degree Gauss-Kruger CM 105E (EPSG:4544)
    main = shapely.Polygon([(0, 0), (4000, 0), (4000, 2500), (0, 2500)], [[(1500, 1000), (2000, 1000),
                                                                           (2000, 1400), (1500, 1400)]])
    island = shapely.box(4600, 400, 5600, 1400)
    geom = shapely.affinity.translate(shapely.MultiPolygon([main, island]), 378_000, 3_990_000)
    path = tmp_path / "boundary.gpkg"
    gpd.GeoDataFrame({"name": ["测试区"]}, geometry=[geom], crs=4544).to_file(path)
    result = CliRunner().invoke(cli, ["demo", "--scale", "tiny", "--boundary", str(path), "--no-progress"],
                                env=runner_env)
    assert result.exit_code == 0, result.output
    with empty_db.connect() as conn:
        area, holes_hit = conn.execute(text("""
            SELECT ST_Area(ST_Transform(geom, 4544)),
                   (SELECT count(*) FROM house h WHERE ST_Within(ST_Transform(h.geom, 4544),
                     ST_MakeEnvelope(379500, 3991000, 380000, 3991400, 4544)))
            FROM grid WHERE level = 'district'""")).one()
        outside = conn.execute(text("SELECT count(*) FROM event WHERE grid_id IS NULL")).scalar_one()
    assert area == pytest.approx(geom.area, rel=1e-3)
    assert holes_hit == 0 and outside == 0


def test_tick_marks_and_escalates_once_then_has_nothing_to_do(empty_db, runner_env):
    runner = CliRunner()
    loaded = runner.invoke(cli, ["demo", "--scale", "tiny", "--seed", "3", "--as-of", "2026-11-01", "--no-progress"],
                           env=runner_env)
    assert loaded.exit_code == 0, loaded.output
    first = runner.invoke(cli, ["tick", "--now", "2026-12-15T09:00"], env=runner_env)
    assert first.exit_code == 0, first.output
    overdue, escalated = (int(w) for w in first.output.replace(",", "").split() if w.isdigit())
    assert overdue > 0 and 0 < escalated <= overdue
    again = runner.invoke(cli, ["tick", "--now", "2026-12-15T09:00"], env=runner_env)
    assert again.output.startswith("0 events newly overdue, 0 escalated")
    bad = runner.invoke(cli, ["tick", "--now", "yesterday"], env=runner_env)
    assert bad.exit_code == 2 and "ISO 8601" in bad.output
