"""Who is asking: the actor mapserver.auth established for this request (role, scope, department).

Public endpoints (QR reports, Open311, health) run as an anonymous citizen. The demo placeholder —
an account named in `X-Demo-User` or `?as=`, no password — exists only when MINQING_DEMO_LOGIN is on:
the test suite's app and nothing else (see docs/access.md).
"""
from __future__ import annotations

from flask import current_app, g, request
from sqlalchemy import text
from werkzeug.exceptions import Forbidden, Unauthorized

from data.actors import Actor
from data.vocab import STAFF_USER_ROLES
from mapserver import db

Caller = Actor  # the server's name for whoever sent the request

ANONYMOUS = Caller("anonymous", "citizen", ())
DEMO_DEFAULT = Caller("demo", "commander", ())  # demo-login mode without a name: the whole city


def current() -> Caller:
    return g.get("caller", ANONYMOUS)


def demo_placeholder() -> Caller:
    """Only reached with MINQING_DEMO_LOGIN on: the named account, or the configured default."""
    username = request.headers.get("X-Demo-User") or request.args.get("as")
    if not username:
        return current_app.config.get("MINQING_DEFAULT_CALLER", DEMO_DEFAULT)
    row = db.connection().execute(text(
        "SELECT username, role, scope::text[], department_id FROM app_user WHERE username = :u AND NOT disabled"),
        {"u": username}).first()
    if row is None:
        raise Unauthorized(f"unknown or disabled user {username!r}")
    return Caller(row[0], row[1], tuple(row[2]), row[3])


def demo_as() -> str | None:
    """The `?as=` account a page passes on to its requests: only in demo-login mode, never echoed otherwise."""
    return (request.args.get("as") or None) if current_app.config.get("MINQING_DEMO_LOGIN") else None


def staff_only() -> Caller:
    """Lists of cases, addresses and exports are for the city's staff; citizens report, they don't browse."""
    who = current()
    if who.role not in STAFF_USER_ROLES:
        raise Forbidden("citizens can report by QR code; case lists and exports are for grid staff")
    return who
