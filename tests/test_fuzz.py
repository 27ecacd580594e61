"""schemathesis against /openapi.json, as each role: no server error, no response outside the document.

A few examples per operation in the normal suite; `make fuzz` sets MINQING_FUZZ_EXAMPLES=200. The fuzz
writes (reports, transitions, edits), so it runs on a tiny city of its own, never the shared one.
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.conftest import db_name, migrated_engine

EXAMPLES = int(os.environ.get("MINQING_FUZZ_EXAMPLES", 3))
ROLES = ("commander", "analyst", "leader1", "worker1", "admin", "citizen")
# the one place a fuzzing caller's credential is made: today the demo account header
STREAMS = r"^/stream$"  # a Server-Sent Events stream never ends; tests/test_stream.py covers it


def credentials(username: str) -> dict[str, str]:
    """Headers that make a request come from `username`."""
    return {"X-Demo-User": username} if username != "citizen" else {}


@pytest.fixture(scope="module")
def fuzz_app(tiny_city):
    from data.demo.load import load
    from data.settings import Settings
    from mapserver import create_app

    engine = migrated_engine(db_name("fuzz"))
    load(engine, tiny_city, progress=False)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    return create_app(Settings(database_url=url, tick_seconds=0, exports_per_hour=1_000_000),
                      {"TESTING": True, "MINQING_DEMO_LOGIN": True, "SECRET_KEY": "tests-only",
                       "MINQING_QR_REPORT_LIMIT": 1_000_000})


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app).exclude(path_regex=STREAMS)


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES < 20,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_every_response_as_documented(case):
    for role in ROLES:  # each example as every role: what one may do, another is refused, both as documented
        response = case.call(headers=credentials(role))
        try:
            case.validate_response(response, checks=(not_a_server_error, response_schema_conformance))
        except AssertionError as failure:
            failure.add_note(f"as {role}")
            raise
