"""The Flask app: an app factory and one blueprint per concern."""
from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from data.media import MAX_PHOTOS
from data.settings import Settings


def create_app(settings: Settings | None = None, test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from typed settings (from the environment unless given)."""
    from mapserver import (analyst, api_coverage, body_fields, api_analysis, api_events, api_exports, api_grid_edits, api_grid_split, api_grids, api_pins, api_stats, api_workflow, assets,
                           citizen, command, db, errors, health, open311, openapi, overview, security, stream, ticker,
                           tiles, versions)

    from mapserver import analyst_maps, auth, basemap, grid_editor
    from mapserver import api_persons
    from mapserver.strict_json import StrictJSONProvider, StrictRequest

    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.request_class = StrictRequest
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pyogrio").setLevel(logging.WARNING)  # one line per 5,000 exported rows otherwise

    settings = (settings or Settings.from_env()).with_stored_secrets()
    if settings.trusted_proxies:  # client address and scheme from the proxies' headers (rate limits key on it)
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    # a report may carry MAX_PHOTOS photos of the largest allowed size, plus its form fields
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = max(16 << 20, MAX_PHOTOS * settings.max_photo_bytes + (1 << 20))
    db.init_app(app, settings)
    errors.init_app(app)
    auth.init_app(app, settings)
    security.init_app(app)
    body_fields.init_app(app)
    versions.init_app(app)
    health.init_app(app)
    app.register_blueprint(overview.bp)
    app.register_blueprint(tiles.bp)
    assets.init_app(app)
    app.register_blueprint(api_events.bp)
    app.register_blueprint(api_workflow.bp)
    app.register_blueprint(api_stats.bp)
    app.register_blueprint(api_analysis.bp)
    app.register_blueprint(api_grids.bp)
    app.register_blueprint(api_grid_edits.bp)
    app.register_blueprint(api_grid_split.bp)
    app.register_blueprint(api_exports.bp)
    app.register_blueprint(api_pins.bp)
    app.register_blueprint(api_persons.bp)
    app.register_blueprint(api_coverage.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(analyst.bp)
    app.register_blueprint(analyst_maps.bp)
    app.register_blueprint(citizen.bp)
    app.register_blueprint(open311.bp)
    app.register_blueprint(stream.bp)
    app.register_blueprint(command.bp)
    app.register_blueprint(basemap.bp)
    app.register_blueprint(grid_editor.bp)
    ticker.init_app(app)
    return app
