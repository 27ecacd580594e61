"""schemathesis against /openapi.json, as each kind of caller: no server error, no response outside the document.

Every caller is what a real one would be: a bearer token issued the way `minqing users token` does, on an
app with the demo login off, plus an anonymous caller with no credential at all. A few examples per
operation in the normal suite; `make fuzz` sets MINQING_FUZZ_EXAMPLES=200. The fuzz writes (reports,
transitions, edits), so it runs on a tiny city of its own, never the shared one.
"""
from __future__ import annotations

import os
import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.conftest import db_name, migrated_engine

EXAMPLES = int(os.environ.get("MINQING_FUZZ_EXAMPLES", 3))
# caller -> account; the department handler is found in the city, the anonymous caller has none
ACCOUNTS = {"commander": "commander", "analyst": "analyst", "grid_leader": "leader1", "grid_worker": "worker1",
            "admin": "admin", "citizen": "fuzz_citizen"}
STREAMS = r"^/stream$"  # a Server-Sent Events stream never ends; tests/test_stream.py covers it
# "i/n": fuzz only the operations whose name hashes to i mod n, so `make fuzz` can run n processes at once
SHARD = tuple(int(x) for x in os.environ.get("MINQING_FUZZ_SHARD", "0/1").split("/"))


def in_shard(ctx) -> bool:
    return zlib.crc32(f"{ctx.operation.method.upper()} {ctx.operation.path}".encode()) % SHARD[1] == SHARD[0]


@pytest.fixture(scope="module")
def fuzz_engine(tiny_city):
    from data.demo.load import load

    engine = migrated_engine(db_name("fuzz"))
    load(engine, tiny_city, progress=False)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def credentials(fuzz_engine) -> dict[str, dict[str, str]]:
    """The one place a fuzzing caller's credential is made: headers per caller."""
    from data import api_tokens, users

    with fuzz_engine.begin() as conn:
        users.add(conn, ACCOUNTS["citizen"], "citizen")
        accounts = {**ACCOUNTS, "department": next(a.username for a in users.listing(conn) if a.role == "department")}
        bearer = {caller: {"Authorization": f"Bearer {api_tokens.issue(conn, username, label='fuzz')}"}
                  for caller, username in accounts.items()}
    return {**bearer, "anonymous": {}}


@pytest.fixture(scope="module")
def fuzz_app(fuzz_engine):
    from data.settings import Settings
    from mapserver import create_app

    url = fuzz_engine.url.render_as_string(hide_password=False)
    return create_app(Settings(database_url=url, tick_seconds=0, exports_per_hour=1_000_000, demo_login=False),
                      {"TESTING": True, "MINQING_DEMO_LOGIN": False, "SECRET_KEY": "tests-only",
                       "MINQING_QR_REPORT_LIMIT": 1_000_000})


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


# filtered here: from_fixture replaces the fixture's own filters with its (empty) set
schema = schemathesis.pytest.from_fixture("fuzz_schema").exclude(path_regex=STREAMS).include(in_shard)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES < 20, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_every_response_as_documented(case, credentials):
    for caller, headers in credentials.items():  # what one may do, another is refused, both as documented
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=(not_a_server_error, response_schema_conformance))
        except AssertionError as failure:
            failure.add_note(f"as {caller}")
            raise
