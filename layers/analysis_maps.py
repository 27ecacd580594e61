"""Folium maps of hot spots and coverage (legend, Chinese labels, local assets) for pages and notebooks alike.

No server is needed: `asset_base` is where Leaflet is served ("/assets" on our server, whose routes mirror
node_modules), or None to inline it from node_modules as data: URIs, so a notebook's map draws with the
network closed. Nothing here loads from a CDN.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Callable, Iterable, Sequence

import folium
from sqlalchemy import Connection, text

from layers import catalogue
from layers.catalogue import LegendEntry

NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"
# folium's asset name -> (npm package, file); our maps draw polygons with Leaflet and nothing else
LEAFLET = {"leaflet": ("leaflet", "dist/leaflet.js"), "leaflet_css": ("leaflet", "dist/leaflet.css")}
UNUSED = frozenset({"jquery", "bootstrap", "bootstrap_css", "glyphicons_css", "awesome_markers",
                    "awesome_markers_css", "awesome_markers_font_css", "awesome_rotate_css"})

NONE_COLOR = "#f7f7f7"  # cells the layer leaves out (no trend, no density) draw as background
KINDS = ("hotspots", "emerging", "heat", "grid", "visits", "reach", "staff", "party")
COVERAGE_LAYERS = {"grid": "coverage_gaps", "visits": "visit_coverage", "reach": "service_reach",
                   "staff": "staff_load", "party": "party_coverage"}

def asset_url(package: str, file: str, asset_base: str | None) -> str:
    if asset_base is not None:
        return f"{asset_base.rstrip('/')}/{package}/{file}"
    path = NODE_MODULES / package / file
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `npm ci` (or `make demo`) so maps need no CDN")
    kind = "text/css" if file.endswith(".css") else "text/javascript"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _local(assets: Iterable[tuple[str, str]], asset_base: str | None) -> list[tuple[str, str]]:
    out = []
    for name, _url in assets:
        if name in UNUSED:
            continue
        if name not in LEAFLET:  # a new folium element wants a CDN file: fail rather than reach the network
            raise LookupError(f"folium asset {name!r} has no local copy; add it to layers/analysis_maps.py")
        out.append((name, asset_url(*LEAFLET[name], asset_base)))
    return out


def localize(element, asset_base: str | None) -> None:
    """Point the element and everything under it at local assets (on the instances only)."""
    if getattr(type(element), "default_js", None) is not None:
        element.default_js = _local(type(element).default_js, asset_base)
        element.default_css = _local(type(element).default_css, asset_base)
    for child in list(element._children.values()):
        localize(child, asset_base)


def legend_html(title: str, entries: Sequence[LegendEntry], note: str = "") -> str:
    rows = "".join(
        f'<div class="row"><i style="background:{e.color}"></i><span title="{html.escape(e.label_en)}">'
        f'{html.escape(e.label)}</span></div>' for e in entries)
    foot = f'<div class="note">{html.escape(note)}</div>' if note else ""
    return (f'<div class="minqing-legend" style="position:absolute;bottom:24px;right:10px;z-index:1000;'
            f'background:#fff;padding:6px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);'
            f'font:12px/1.5 sans-serif;max-width:280px"><b>{html.escape(title)}</b>{rows}{foot}'
            f'<style>.minqing-legend .row i{{display:inline-block;width:14px;height:14px;margin-right:6px;'
            f'vertical-align:middle;border:1px solid #999}}.minqing-legend .note{{color:#555;margin-top:4px}}'
            f'</style></div>')


def cell_map(features: list[dict], color: Callable[[dict], str], tooltip: dict[str, str], title: str,
             legend: Sequence[LegendEntry], note: str = "", asset_base: str | None = None,
             outline: dict | None = None) -> folium.Map:
    """Polygons coloured by `color(properties)`, a tooltip (property -> Chinese label), a legend; `outline`
    is a FeatureCollection drawn as thin lines underneath (the cells, for context)."""
    m = folium.Map(tiles=None, control_scale=True)
    if outline and outline["features"]:
        folium.GeoJson(outline, name="网格", style_function=lambda f: {
            "color": "#5d6d7e", "weight": 1, "fillOpacity": 0}).add_to(m)
    # folium's tooltip writes property values as HTML: names are user text, so they go in escaped
    collection = {"type": "FeatureCollection", "features": [
        {**f, "properties": {k: html.escape(v) if isinstance(v, str) else v for k, v in f["properties"].items()}}
        for f in features]}
    if features:
        folium.GeoJson(collection, name=title, style_function=lambda f: {
            "fillColor": color(f["properties"]), "color": "#888", "weight": 0.5, "fillOpacity": 0.7},
            tooltip=folium.GeoJsonTooltip(fields=list(tooltip), aliases=list(tooltip.values()))).add_to(m)
    bounds = _bounds(features + (outline["features"] if outline else []))
    if bounds:
        m.fit_bounds(bounds)
    folium.LayerControl(collapsed=True).add_to(m)
    m.get_root().html.add_child(folium.Element(legend_html(title, legend, note)), name="legend")
    m.get_root().title = f"民情地图 · {title}"
    localize(m, asset_base)
    return m


def _bounds(features: list[dict]) -> list[list[float]] | None:
    xs, ys = [], []

    def walk(c):
        if c and isinstance(c[0], (int, float)):
            xs.append(c[0]), ys.append(c[1])
        else:
            for part in c:
                walk(part)
    for f in features:
        walk(f["geometry"]["coordinates"])
    return [[min(ys), min(xs)], [max(ys), max(xs)]] if xs else None


def _feature(cell: dict, **extra) -> dict:
    properties = {k: _clean(v) for k, v in cell.items() if k != "geometry"}
    return {"type": "Feature", "geometry": cell["geometry"], "properties": {**properties, **extra}}


def _clean(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def hotspot_map(cells: list[dict], kind: str = "hotspots", note: str = "",
                asset_base: str | None = None) -> folium.Map:
    """A stored run's cells (data.analysis_runs.cells) as a map: Gi* classes, emerging trends or heat,
    coloured and labelled as the catalogue layer of the same name."""
    layer = catalogue.get(kind)
    legend = layer.legend
    if kind == "hotspots":
        label = {int(k): e.label for k, e in zip(layer.style["cls"], layer.legend)}
        features = [_feature(c, 类别=label[int(c["cls"] or 0)]) for c in cells]
        color = lambda p: layer.style["cls"][str(int(p["cls"] or 0))]  # noqa: E731
        tooltip = {"类别": "Gi* 类别（FDR 校正）", "count": "事件数", "z": "z 值", "p": "伪 p 值"}
    elif kind == "emerging":
        label = {k: e.label for k, e in zip(layer.style["trend"], layer.legend)}
        features = [_feature(c, 趋势=label.get(c["trend"], "无趋势")) for c in cells]
        color = lambda p: layer.style["trend"].get(p["trend"], NONE_COLOR)  # noqa: E731
        tooltip = {"趋势": "时空趋势", "count": "事件数", "z": "末周 z 值"}
        legend = (*legend, LegendEntry("无趋势", "never hot", NONE_COLOR, "fill"))
    elif kind == "heat":
        ramp = layer.style["ramp"]
        top = max((c["density"] or 0 for c in cells), default=0) or 1
        features = [_feature(c, 密度=round(c["density"] or 0, 1)) for c in cells]
        color = lambda p: ramp[min(len(ramp) - 1, int(len(ramp) * (p["密度"] or 0) / top))]  # noqa: E731
        tooltip = {"密度": "事件密度（件/平方公里）"}
        note = f"{note}；最高 {top:,.0f} 件/平方公里，按最高值等分".lstrip("；")
    else:
        raise ValueError(f"kind must be hotspots, emerging or heat, got {kind!r}")
    return cell_map(features, color, tooltip, layer.title, legend, note or layer.description, asset_base)


def _steps(steps, value, null: str) -> str:
    return null if value is None else next((c for limit, c in steps if value < limit), steps[-1][1])


def coverage_map(conn: Connection, result: dict, facility: str = "clinic", scope: tuple[str, ...] | None = None,
                 asset_base: str | None = None) -> folium.Map:
    """A coverage result (data.coverage*: kind grid, visits, reach, staff or party) on the caller's cells,
    coloured and labelled as the catalogue layer it corresponds to."""
    kind = result["kind"]
    layer = catalogue.get(COVERAGE_LAYERS[kind])
    style, note = layer.style, result.get("method", "")
    if kind == "grid":
        features = ([{"type": "Feature", "geometry": g["geometry"], "properties": {"类型": "无网格覆盖",
                      "area_m2": g["area_m2"]}} for g in result["gaps"]]
                    + [{"type": "Feature", "geometry": o["geometry"], "properties": {
                        "类型": "网格重叠：" + "、".join(o["cells"]), "area_m2": o["area_m2"]}} for o in result["overlaps"]])
        note = (f"未覆盖 {result['gap_m2']:,.0f} 平方米，重叠 {result['overlap_m2']:,.0f} 平方米"
                f"（EPSG:{result['srid']}）")
        return cell_map(features, lambda p: style["kind"]["gap" if p["类型"] == "无网格覆盖" else "overlap"],
                        {"类型": "类型", "area_m2": "面积（平方米）"}, layer.title, layer.legend, note, asset_base,
                        outline=scope_cells(conn, scope))
    rows = result["cells"]
    shapes = cell_shapes(conn, [r["code"] for r in rows])
    features = [_feature({**r, "geometry": shapes[r["code"]]}) for r in rows if r["code"] in shapes]
    if kind == "visits":
        steps, null = style["share"]["steps"], style["share"]["null"]
        color = lambda p: _steps(steps, p["share"], null)  # noqa: E731
        tooltip = {"name": "网格", "households": "户数", "visited": "已走访", "share": "走访占比"}
        note = f"近 {result['days']} 天，截至 {result['as_of'][:10]}"
    elif kind == "reach":
        column = f"share_{facility}"
        if column not in (rows[0] if rows else {column: None}):
            raise ValueError(f"the result has no facility {facility!r}")
        steps, null = style["steps"], style["null"]
        color = lambda p: _steps(steps, p.get(column), null)  # noqa: E731
        tooltip = {"name": "网格", "residents": "居民", column: f"可达占比（{FACILITY_LABELS.get(facility, facility)}）"}
    elif kind == "staff":
        color = lambda p: style["load"][p["load"]]  # noqa: E731
        tooltip = {"name": "网格", "households": "户数", "workers": "专职网格员", "per_worker": "每人户数"}
        low, high = result["band"]
        note = f"配置的范围：每名专职网格员 {low}–{high} 户"
    elif kind == "party":
        color = lambda p: style["covered"]["true" if p["covered"] else "false"]  # noqa: E731
        tooltip = {"name": "网格", "party_branches": "党支部数"}
    else:
        raise ValueError(f"kind must be one of {', '.join(COVERAGE_LAYERS)}, got {kind!r}")
    return cell_map(features, color, tooltip, layer.title, layer.legend, note, asset_base)


FACILITY_LABELS = {"clinic": "卫生服务站", "school": "学校", "elderly_care": "养老服务", "party_center": "党群服务中心",
                   "market": "菜市场"}


def cell_shapes(conn: Connection, codes: Sequence[str]) -> dict[str, dict]:
    """GeoJSON geometry of current cells by code (coverage results name cells; maps need their shapes)."""
    rows = conn.execute(text("SELECT code, ST_AsGeoJSON(geom, 6)::json FROM grid WHERE valid_to IS NULL "
                             "AND code = ANY(:codes)"), {"codes": list(codes)})
    return dict(rows.all())


def scope_cells(conn: Connection, scope: tuple[str, ...] | None) -> dict:
    """The caller's current cells as a FeatureCollection (outlines under a gaps map)."""
    rows = conn.execute(text(
        "SELECT code, name, ST_AsGeoJSON(geom, 6)::json FROM grid WHERE valid_to IS NULL AND level = 'cell' "
        + ("AND path <@ CAST(:scope AS ltree[]) " if scope is not None else "") + "ORDER BY code"),
        {"scope": list(scope or ())})
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": g, "properties": {"code": c, "name": n}} for c, n, g in rows]}
