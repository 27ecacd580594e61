"""Security headers on every response: a Content-Security-Policy of our own origin, no sniffing, no framing.

Every asset is served by the app itself (mapserver/assets.py), so scripts, styles, fonts and data may come
from 'self' only. folium pages carry inline <script> blocks; the app's own get this response's nonce
where they are generated (`map_page`, and pages' config blocks via `inline_script`), never by rewriting
the response, so markup injected into a page — `<script>`, `onerror=`, a `javascript:` URL — is never
armed. Values reach inline scripts only through Jinja's `htmlsafe_json_dumps` (`<`, `>`, `&`, `'`
escaped), so they cannot close the block they sit in.

Styles allow 'unsafe-inline' because folium and Leaflet write `style="…"` attributes into the markup
(map size, icon offsets) and a nonce cannot cover attributes; CSS cannot run script, and with img-src
and font-src limited to 'self' it cannot send anything off the machine either.
"""
from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import branca.element
import folium
from flask import Flask, Response, current_app, g
from jinja2 import Template
from jinja2.utils import htmlsafe_json_dumps  # Jinja's `tojson`: json.dumps with <, >, &, ' escaped
from markupsafe import Markup

# branca's Figure template with the title escaped (a grid's name is user text) and the closing block nonced
FIGURE = Template(
    "<!DOCTYPE html>\n<html>\n<head>\n"
    "{% if this.title %}<title>{{ this.title|e }}</title>{% endif %}"
    "    {{ this.header.render(**kwargs) }}\n</head>\n<body>\n"
    "    {{ this.html.render(**kwargs) }}\n</body>\n"
    '<script nonce="{{ kwargs.csp_nonce }}">\n    {{ this.script.render(**kwargs) }}\n</script>\n</html>\n')

NONCED_LINK = Template('<script nonce="{{ kwargs.csp_nonce }}" src="{{ this.url }}"></script>')


def nonce() -> str:
    """This response's script nonce (also for templates, as `csp_nonce()`)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def js(value) -> Markup:
    """A value as a JavaScript literal safe inside an inline <script> (cannot close it: `<`, `>` escaped)."""
    return htmlsafe_json_dumps(value, ensure_ascii=False)


def inline_script(code: str) -> str:
    """An inline <script> block of the app's own, carrying this response's nonce."""
    return f'<script nonce="{nonce()}">{code}</script>'


def map_page(root: branca.element.Figure) -> str:
    """A folium page as HTML, nonced where its scripts are generated: the closing block (FIGURE) and each
    map's header switches (folium's own markup: sizes and two booleans, no user text), and the asset links."""
    for child in root._children.values():
        child.render()
    for child in root._children.values():
        if isinstance(child, folium.Map):
            name = child.get_name()
            head = root.header._children[name].render()
            root.header.add_child(branca.element.Element(
                head.replace("<script>", f'<script nonce="{nonce()}">')), name=name)
    for link in root.header._children.values():
        if isinstance(link, branca.element.JavascriptLink):  # our local assets' URLs: nonced like the rest
            link._template = NONCED_LINK
    return FIGURE.render(this=root, kwargs={"csp_nonce": nonce()})


def policy(script_nonce: str, basemap_origin: str | None) -> str:
    """The policy for one response; a configured basemap server is the only other origin, for its tiles."""
    images = "'self' data: blob:" + (f" {basemap_origin}" if basemap_origin else "")
    return "; ".join((
        "default-src 'self'",
        f"script-src 'self' 'nonce-{script_nonce}'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src {images}",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def _secure(response: Response) -> Response:
    script_nonce = nonce()
    settings = current_app.extensions["minqing.settings"]
    headers = response.headers
    headers["Content-Security-Policy"] = policy(script_nonce, _origin(settings.basemap_url))
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_secure)
    app.jinja_env.globals["csp_nonce"] = nonce
