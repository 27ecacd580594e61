"""Front-end assets served by the app itself (installed from the npm registry by `make demo`/`make test`),
and folium maps pointed at them: no page ever loads from a CDN, so pages work on an intranet."""
from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import folium
from flask import Blueprint, abort, send_from_directory, url_for

bp = Blueprint("assets", __name__)

NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"

# folium's asset name -> (npm package, file in it); versions are pinned in package.json
LOCAL = MappingProxyType({
    "leaflet": ("leaflet", "dist/leaflet.js"),
    "leaflet_css": ("leaflet", "dist/leaflet.css"),
    "jquery": ("jquery", "dist/jquery.min.js"),
    "bootstrap": ("bootstrap", "dist/js/bootstrap.bundle.min.js"),
    "bootstrap_css": ("bootstrap", "dist/css/bootstrap.min.css"),
    "awesome_markers": ("leaflet.awesome-markers", "dist/leaflet.awesome-markers.js"),
    "awesome_markers_css": ("leaflet.awesome-markers", "dist/leaflet.awesome-markers.css"),
    "awesome_markers_font_css": ("@fortawesome/fontawesome-free", "css/all.min.css"),
    "leaflet_draw_js": ("leaflet-draw", "dist/leaflet.draw.js"),
    "leaflet_draw_css": ("leaflet-draw", "dist/leaflet.draw.css"),
    "vectorGrid": ("leaflet.vectorgrid", "dist/Leaflet.VectorGrid.bundled.min.js"),
})
# folium assets deliberately not loaded: Bootstrap 3 glyphs (we use Font Awesome) and a tiny rotation
# stylesheet folium fetches from GitHub for rotated awesome-markers (we draw none)
DROPPED = frozenset({"glyphicons_css", "awesome_rotate_css"})
PACKAGES = frozenset(package for package, _ in LOCAL.values())


@bp.get("/assets/<path:path>")
def asset(path: str):
    """Only files of the packages above; send_from_directory refuses paths that climb out."""
    package = next((p for p in PACKAGES if path.startswith(p + "/")), None)
    if package is None:
        abort(404, description=f"no such asset {path!r}")
    return send_from_directory(NODE_MODULES / package, path[len(package) + 1:], max_age=86_400)


def local(assets: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """folium's (name, CDN url) list rewritten to this server's URLs, dropping what we never load."""
    out = []
    for name, _url in assets:
        if name in DROPPED:
            continue
        if name not in LOCAL:  # a folium upgrade added an asset: fail loudly rather than hit a CDN
            raise LookupError(f"folium asset {name!r} has no local copy; add it to mapserver/assets.py")
        package, file = LOCAL[name]
        out.append((name, url_for("assets.asset", path=f"{package}/{file}")))
    return out


def localize(element) -> None:
    """Point a folium element (a Map or a plugin) at local assets, on the instance only."""
    element.default_js = local(type(element).default_js)
    element.default_css = local(type(element).default_css)


def page_head(m: folium.Map, page: str) -> None:
    """Our favicon, and the page's own static/<page>.css and .js, in a folium map's <head>."""
    root = m.get_root()
    root.header.add_child(folium.Element(
        f'<link rel="icon" type="image/svg+xml" href="{url_for("static", filename="favicon.svg")}">'), name="icon")
    root.header.add_child(folium.CssLink(url_for("static", filename=f"{page}.css")), name=f"{page}_css")
    root.header.add_child(folium.JavascriptLink(url_for("static", filename=f"{page}.js")), name=f"{page}_js")


def local_map(**kwargs) -> folium.Map:
    """A folium Map with no external basemap by default (the grid layers are the base) and local assets."""
    kwargs.setdefault("tiles", None)
    kwargs.setdefault("control_scale", True)
    m = folium.Map(**kwargs)
    localize(m)
    return m


def missing() -> list[str]:
    """Asset files the server would fail to serve: npm install not run, or a package changed its layout."""
    return [f"{package}/{file}" for package, file in LOCAL.values() if not (NODE_MODULES / package / file).is_file()]


def init_app(app) -> None:
    app.register_blueprint(bp)
    gone = missing()
    if gone:
        app.logger.warning("front-end assets missing (run `make demo` or `npm ci`): %s", ", ".join(gone))
