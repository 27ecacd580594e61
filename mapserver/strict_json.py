"""Request bodies as strict JSON for every endpoint: no NaN or Infinity, no nesting deep enough to
exhaust the parser (Python's decoder raises RecursionError, which Flask would answer with a 500)."""
from __future__ import annotations

import json

from flask import Request, current_app
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

# the largest legitimate JSON body is a boundary edit of 50 grids at 5,000 vertices each (~10 MB of
# coordinates); the app-wide limit is far higher only because reports carry photos
MAX_JSON_BYTES = 12 << 20


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class StrictJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        try:
            return json.loads(s, parse_constant=_refuse_constant, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None  # Flask turns ValueError into 400


class StrictRequest(Request):
    @property
    def max_content_length(self) -> int | None:
        """JSON bodies get the JSON limit; photos and forms the app's (a 413 that says which, either way)."""
        if self._max_content_length is not None:
            return self._max_content_length
        limit = current_app.config["MAX_CONTENT_LENGTH"] if current_app else None
        return min(limit or MAX_JSON_BYTES, MAX_JSON_BYTES) if self.is_json else limit

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def on_json_loading_failed(self, e: ValueError | None):
        """Say what was wrong with the body instead of Flask's generic sentence."""
        raise BadRequest(f"Failed to decode JSON body: {e}" if e else "Failed to decode JSON body")
