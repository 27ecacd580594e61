"""Open311 GeoReport v2 at `/open311/v2/` (being built for issue 5)."""
from __future__ import annotations

import click
from flask import Blueprint

bp = Blueprint("open311", __name__)
OPENAPI_PATHS: dict = {}


@click.group("open311")
def open311_group() -> None:
    """Open311 GeoReport v2: API keys for client applications."""
