"""Real PostGIS for every test: fresh databases made from the server in DATABASE_URL."""
from __future__ import annotations

import os
import shutil
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy.engine import Engine

from data import migrate
from data.db import make_engine
from data.provision import EMPTY_LEDGER_SQL, fresh_database

DEMO_AS_OF = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
# every test run gets databases of its own, so two runs on one server (CI, a developer) never collide
RUN_PREFIX = os.environ.get("MINQING_TEST_DB_PREFIX") or f"minqing_t{os.getpid()}"


def db_name(part: str) -> str:
    return f"{RUN_PREFIX}_{part}"


@pytest.fixture(scope="session", autouse=True)
def _drop_run_databases():
    """The run's databases go when it ends (a killed run leaves its `minqing_t<pid>_*` behind)."""
    yield
    drop_databases(RUN_PREFIX + "\\_%")


def drop_databases(pattern: str) -> None:
    from sqlalchemy import create_engine, make_url, text

    from data.settings import Settings

    admin = create_engine(make_url(Settings.from_env().sqlalchemy_url).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for (name,) in conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                        {"p": pattern}).all():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
def migrated_engine(name: str) -> Engine:
    engine = make_engine(fresh_database(name))
    migrate.upgrade(engine)
    return engine


def truncate_ledger(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(EMPTY_LEDGER_SQL)


@pytest.fixture(scope="session")
def empty_engine() -> Engine:
    """A migrated database with nothing in it; tests using it go through `empty_db`."""
    engine = migrated_engine(os.environ.get("MINQING_TEST_EMPTY_DB") or db_name("empty"))
    yield engine
    engine.dispose()


@pytest.fixture
def empty_db(empty_engine: Engine) -> Engine:
    """The empty database, emptied again after the test whatever it wrote."""
    truncate_ledger(empty_engine)
    yield empty_engine
    truncate_ledger(empty_engine)


@pytest.fixture(scope="session")
def tiny_city():
    """The generated tiny city (seed 7), before loading: the ground truth tests compare against."""
    from data.demo.city import generate

    return generate("tiny", seed=7, as_of=DEMO_AS_OF)


@pytest.fixture(scope="session")
def city_engine(tiny_city) -> Engine:
    """A database holding the tiny demo city; treat as read-only, or write inside `city_conn`."""
    from data.demo.load import load

    engine = migrated_engine(os.environ.get("MINQING_TEST_DB") or db_name("city"))
    load(engine, tiny_city, progress=False)
    yield engine
    engine.dispose()


@pytest.fixture
def city_conn(city_engine: Engine):
    """A connection to the tiny city inside a transaction that is rolled back after the test."""
    with city_engine.connect() as conn:
        tx = conn.begin()
        yield conn
        tx.rollback()


@pytest.fixture(scope="module")
def app(city_engine):
    """The Flask app on the tiny city; data versions re-read on every request so tests see their writes."""
    from data.settings import Settings
    from mapserver import create_app

    url = city_engine.url.render_as_string(hide_password=False)
    # the demo placeholder (X-Demo-User, ?as=, no name = commander) for the suites written before login;
    # tests/test_access_matrix.py and tests/test_login.py build apps without it and use real tokens and sessions
    return create_app(Settings(database_url=url), {"TESTING": True, "MINQING_VERSION_TTL": 0,
                                                   "MINQING_DEMO_LOGIN": True, "SECRET_KEY": "tests-only"})


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture
def own_events(city_engine):
    """Events a test creates through the app (which commits) are deleted afterwards, with their logs and
    photos rows, so the tiny city stays the generated one for the modules that compare against it."""
    from sqlalchemy import text

    with city_engine.connect() as conn:
        before = conn.execute(text("SELECT COALESCE(max(id), 0) FROM event")).scalar_one()
    yield before
    with city_engine.begin() as conn:
        params = {"b": before}
        conn.execute(text("UPDATE event SET possible_duplicate_of = NULL, merged_into = NULL WHERE id > :b"), params)
        conn.execute(text("DELETE FROM event_log WHERE event_id > :b"), params)
        conn.execute(text("DELETE FROM event WHERE id > :b"), params)  # photos, keys, ratings cascade
        conn.execute(text("DELETE FROM rate_limit"))


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's package; Playwright's own download fails
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]


def serving(app):
    """Serve `app` on a free local port in a thread; yields its base URL (for page tests in Chromium)."""
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(app):
    """The module's app on a real HTTP port."""
    yield from serving(app)


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for every page test."""
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), "Debian's chromium is missing: run scripts/setup.sh as root"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def offline_page(browser, console_errors: bool = False, **context_options):
    """A page in a fresh context whose network ends at this machine: `page.left_the_machine` lists what
    tried to leave, `page.broken` every failed or 4xx/5xx request and script error (and console errors
    if asked). A deliberately closed EventSource (/stream) is not a failure. Close with page.context.close()."""
    from urllib.parse import urlparse

    # Playwright's string predicates (wait_for_function) run through eval, which our CSP refuses: interaction
    # tests bypass it; tests/test_offline_pages.py loads every page with it enforced (bypass_csp=False)
    context = browser.new_context(**{"locale": "zh-CN", "bypass_csp": True, **context_options})
    page = context.new_page()
    page.left_the_machine, page.broken = [], []

    def gate(route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).hostname in ("127.0.0.1", "localhost", "::1"):
            return route.continue_()
        page.left_the_machine.append(url)
        return route.abort()

    context.route("**/*", gate)
    page.on("requestfailed", lambda r: None if "/stream" in r.url else page.broken.append(
        f"failed {r.url} ({r.failure})"))
    page.on("response", lambda r: page.broken.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("pageerror", lambda e: page.broken.append(f"script error: {e}"))
    # a Content-Security-Policy violation is a failure whether or not console errors are asked for
    context.add_init_script("document.addEventListener('securitypolicyviolation', e => console.error("
                            "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile"
                            " + ':' + e.lineNumber))")
    page.on("console", lambda m: page.broken.append(f"console {m.type}: {m.text}") if m.type == "error" and (
        console_errors or m.text.startswith("CSP violation")) else None)
    return page
