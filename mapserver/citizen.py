"""Citizens' QR channel: `/report/{grid}` and `/track/{number}` (being built for issue 5)."""
from __future__ import annotations

import click
from flask import Blueprint

bp = Blueprint("citizen", __name__)
OPENAPI_PATHS: dict = {}


@click.command("qr")
def qr_command() -> None:
    """Print QR codes that let citizens report a problem in their grid."""
