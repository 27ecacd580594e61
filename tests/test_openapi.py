"""`/openapi.json` is a valid OpenAPI 3.1 document, covers every route, and real responses match it."""
from __future__ import annotations

import re

import jsonschema
import pytest
from openapi_spec_validator import validate
from sqlalchemy import text



@pytest.fixture(scope="module")
def document(app):
    return app.test_client().get("/openapi.json").get_json()


def test_the_document_is_valid_openapi_3_1(document):
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_every_route_is_documented(app, document):
    routes = {re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
              if rule.endpoint != "static"}
    routes = {r.replace("{layer_id}", "{layer}") for r in routes}
    assert routes == set(document["paths"])


def conforms(document, path: str, method: str, response) -> None:
    spec = document["paths"][path][method]["responses"][str(response.status_code)]
    schema = spec["content"]["application/json"]["schema"]
    jsonschema.validate(response.get_json(), {**schema, "components": document["components"]})


@pytest.fixture(scope="module")
def some_grid(city_engine):
    with city_engine.connect() as conn:
        return conn.execute(text("SELECT code FROM grid WHERE level = 'community' ORDER BY code LIMIT 1")).scalar_one()


@pytest.mark.parametrize("path,method,url,body", [
    ("/healthz", "get", "/healthz", None),
    ("/api/events", "get", "/api/events?status=closed&limit=5", None),
    ("/api/events", "get", "/api/events?category=bogus", None),
    ("/api/events/search", "post", "/api/events/search",
     {"geometry": {"type": "Polygon", "coordinates": [[[103.6, 36], [103.9, 36], [103.9, 36.1], [103.6, 36]]]},
      "limit": 3}),
    ("/api/events/search", "post", "/api/events/search",
     {"geometry": {"type": "Polygon", "coordinates": [[[103, 36], [104, 37], [104, 36], [103, 37], [103, 36]]]}}),
    ("/api/events/search", "post", "/api/events/search",
     {"geometry": {"type": "Polygon", "coordinates": [[[100, 30], [110, 30], [110, 40], [100, 30]]]}}),
    ("/api/events/search", "post", "/api/events/search", {"geometry": {"type": "Point", "coordinates": [1, 2]}}),
    ("/api/stats/events", "get", "/api/stats/events?by=period&period=month", None),
    ("/api/stats/events", "get", "/api/stats/events?by=grid&grid_level=cell", None),
    ("/api/stats/events", "get", "/api/stats/events?by=nope", None),
    ("/api/grids", "get", "/api/grids", None),
    ("/api/grids/{code}", "get", "/api/grids/{grid}", None),
    ("/api/grids/{code}", "get", "/api/grids/990101.999", None),
    ("/api/identify", "get", "/api/identify?lon=103.75&lat=36.06", None),
    ("/api/identify", "get", "/api/identify?lon=999&lat=36.06", None),
    ("/api/overview", "get", "/api/overview", None),
    ("/layers", "get", "/layers", None),
    ("/tiles/{layer}.json", "get", "/tiles/events.json", None),
    ("/tiles/{layer}.json", "get", "/tiles/nope.json", None),
    ("/tiles/{layer}/{z}/{x}/{y}.pbf", "get", "/tiles/events/99/0/0.pbf", None),
])
def test_responses_match_the_document(app, document, some_grid, path, method, url, body):
    client = app.test_client()
    url = url.replace("{grid}", some_grid)
    response = client.post(url, json=body) if method == "post" else client.get(url)
    conforms(document, path, method, response)
