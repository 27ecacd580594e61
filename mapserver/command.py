"""`GET /`: the command centre's live map — situation-coloured grids, the catalogue's layers in three
views (一网三色), counters, the latest reports and an overdue alarm, kept live by `/stream`.

Everything on the page comes from scoped routes (tiles, identify, summary, stream), so a street's
commander sees their street. `?as=<demo user>` on the page is passed on to every request it makes.
"""
from __future__ import annotations

import folium
import folium.plugins
from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from sqlalchemy import text

from data import crs as coordinates, live_summary
from data.vocab import EVENT_STATUSES, HANDLING_LEVELS
from layers import catalogue
from mapserver import assets, caller, db, security

bp = Blueprint("command", __name__)

# 一网三色 after the Jizhou practice: each view is a set of catalogue layers, switched in one click
VIEWS = {
    "red": ("红色 · 党建共治", ("cells", "organizations", "residents")),
    "green": ("绿色 · 联动处置", ("situation", "events")),
    "blue": ("蓝色 · 平安守护", ("cells", "places", "things", "residents")),
}
LAYERS = ("situation", "streets", "communities", "cells", "events", "places", "organizations", "residents",
          "things", "houses")
LEVEL_NAMES = {"grid": "网格", "community": "社区", "street": "街道", "district": "区"}

EXTENT_SQL = """
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
FROM (SELECT ST_Extent(geom) AS e FROM grid g WHERE g.valid_to IS NULL AND {where}) x
"""


def _extent(scope: tuple[str, ...] | None) -> tuple[float, float, float, float]:
    if scope is None:
        row = db.connection().execute(text(EXTENT_SQL.format(where="g.level = 'district'"))).one()
    else:
        row = db.connection().execute(text(EXTENT_SQL.format(where="g.path <@ CAST(:scope AS ltree[])")),
                                      {"scope": list(scope)}).one()
    return tuple(row) if row[0] is not None else (103.7, 36.0, 103.8, 36.1)


def _layer_entry(layer) -> dict:
    return {"id": layer.id, "title": layer.title, "minzoom": layer.minzoom, "maxzoom": layer.maxzoom,
            "geometry": layer.geometry, "style": layer.style, "legend": [vars(e) for e in layer.legend],
            "filtered": bool(layer.filters)}


@bp.get("/")
def page():
    who = caller.staff_only()
    west, south, east, north = _extent(who.scope_filter)
    m = assets.local_map(location=[(south + north) / 2, (west + east) / 2], zoom_start=13, prefer_canvas=True)
    m.fit_bounds([[south, west], [north, east]])
    settings = current_app.extensions["minqing.settings"]
    crs = "gcj02" if settings.basemap_datum == "gcj02" else None  # overlays drawn in the basemap's datum
    if settings.basemap_url:  # the configured (intranet) basemap; without one the grid layers are the base
        folium.TileLayer(settings.basemap_url, attr=settings.basemap_attribution or "basemap",
                         name="底图 basemap", max_zoom=settings.basemap_maxzoom, overlay=False).add_to(m)
    entries = {}
    for layer_id in LAYERS:
        layer = catalogue.get(layer_id)
        url = url_for("tiles.tile", layer_id=layer.id, z=0, x=0, y=0).replace(
            "/0/0/0.pbf", "/{z}/{x}/{y}.pbf?" + (f"datum={crs}&" if crs else "") + "{q}")
        grid = folium.plugins.VectorGridProtobuf(
            url, name=f"{layer.title} {layer.title_en}", options=f"MinqingCommand.options({security.js(layer.id)})",
            show=layer.id in VIEWS["green"][1])
        assets.localize(grid)
        grid.add_to(m)
        entries[layer.id] = {**_layer_entry(layer), "var": grid.get_name()}
    folium.LayerControl(collapsed=True).add_to(m)

    root = m.get_root()
    assets.page_head(m, "command")
    conn = db.connection()
    categories = conn.execute(text("SELECT code, name FROM event_category ORDER BY code")).all()
    root.html.add_child(folium.Element(render_template(
        "command_panel.html", who=who, categories=categories, statuses=EVENT_STATUSES, views=VIEWS,
        levels=[(level, LEVEL_NAMES[level]) for level in HANDLING_LEVELS])), name="command_panel")
    config = {"layers": entries, "views": {k: list(v[1]) for k, v in VIEWS.items()},
              "labels": {"category": dict(categories), "status": {k: zh for k, (zh, _) in EVENT_STATUSES.items()},
                         "level": LEVEL_NAMES},
              "as": caller.demo_as(), "crs": crs,
              "urls": {"summary": url_for("command.summary"), "stream": url_for("stream.stream"),
                       "identify": url_for("tiles.identify_here"), "events": "/api/events/", "grids": "/api/grids/"}}
    # configured in <head> (the layers' options read it as folium declares them), started after them
    root.header.add_child(folium.Element(
        security.inline_script(f"MinqingCommand.configure({security.js(config)});")), name="command_config")
    root.script.add_child(folium.Element(
        f"window.addEventListener('DOMContentLoaded', function () {{ MinqingCommand.start({m.get_name()}); }});"),
        name="command_start")
    root.title = "民情地图 · 指挥中心"
    return security.map_page(root)


@bp.get("/api/live/summary")
def summary():
    who = caller.staff_only()
    body = live_summary.summary(db.connection(), who.scope_filter)
    crs = request.args.get("crs") or None
    if crs:  # positions of the latest reports in the basemap's datum
        for row in body["latest"]:
            if row.get("lon") is not None:
                (lon,), (lat,) = coordinates.from_wgs84([row["lon"]], [row["lat"]], crs)
                row["lon"], row["lat"] = round(float(lon), 7), round(float(lat), 7)
    return jsonify(body)


OPENAPI_PATHS = {
    "/": {"get": {
        "summary": "The command centre's live map (HTML): situation-coloured grids, 一网三色 views, live reports",
        "description": (
            "A folium page on local assets only. Tiles, identify, counters and the live stream are fetched from "
            "the scoped routes, so a commander sees their own area. `as` names a demo account for every request "
            "the page makes (the X-Demo-User placeholder, until login arrives). Staff only."),
        "parameters": [{"name": "as", "in": "query", "schema": {"type": "string"},
                        "description": "demo account, as X-Demo-User"}],
        "responses": {
            "200": {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}},
            "403": {"description": "citizens report by QR code; the map is for staff", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/api/live/summary": {"get": {
        "summary": "The command centre's counters and latest reports, in the caller's area",
        "description": (
            "`today` new reports since Beijing midnight, `open`, `overdue` (open and overdue), `major` (open), "
            "`resolved_in_time` (share of resolved events resolved by their deadline, null when none), "
            "`by_level` open and overdue per handling level, `latest` the 20 newest reports. Staff only."),
        "responses": {
            "200": {"description": "counters", "content": {"application/json": {"schema": {
                "type": "object", "required": ["today", "open", "overdue", "by_level", "latest"],
                "properties": {
                    "today": {"type": "integer"}, "open": {"type": "integer"}, "overdue": {"type": "integer"},
                    "major": {"type": "integer"}, "resolved_in_time": {"type": ["number", "null"]},
                    "by_level": {"type": "object"}, "latest": {"type": "array", "items": {"type": "object"}}}}}}},
            "403": {"description": "citizens cannot browse cases", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}}}},
}
