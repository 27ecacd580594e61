"""Security headers on every response: a Content-Security-Policy of our own origin, no sniffing, no framing.

Every asset is served by the app itself (mapserver/assets.py), so scripts, styles, fonts and data may come
from 'self' only. folium pages carry inline <script> blocks; each gets this response's nonce, so an
injected `onerror=`, `javascript:` URL or external script is still refused. The nonce is added to the
page as rendered: user text reaches HTML only through Jinja autoescape or folium's `tojson`, neither of
which can emit a `<script` tag, so only the app's own blocks are nonced.

Styles allow 'unsafe-inline' because folium and Leaflet write `style="…"` attributes into the markup
(map size, icon offsets) and a nonce cannot cover attributes; CSS cannot run script, and with img-src
and font-src limited to 'self' it cannot send anything off the machine either.
"""
from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g

SCRIPT_TAG = re.compile(rb"<script(?=[\s>])(?![^>]*\snonce=)", re.IGNORECASE)


def nonce() -> str:
    """This response's script nonce (also for templates, as `csp_nonce()`)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


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
    if response.mimetype == "text/html" and not response.is_streamed and not response.direct_passthrough:
        response.set_data(SCRIPT_TAG.sub(f'<script nonce="{script_nonce}"'.encode(), response.get_data()))
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
