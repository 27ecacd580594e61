"""Request bodies as strict JSON for every endpoint: no NaN or Infinity, no nesting deep enough to
exhaust the parser (Python's decoder raises RecursionError, which Flask would answer with a 500)."""
from __future__ import annotations

import json

from flask import Request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class StrictJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        try:
            return json.loads(s, parse_constant=_refuse_constant, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None  # Flask turns ValueError into 400


class StrictRequest(Request):
    def on_json_loading_failed(self, e: ValueError | None):
        """Say what was wrong with the body instead of Flask's generic sentence."""
        raise BadRequest(f"Failed to decode JSON body: {e}" if e else "Failed to decode JSON body")
