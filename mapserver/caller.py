"""Who is asking: role and scope for every request (login arrives with the security issue).

Until then a request may name a demo account in `X-Demo-User`; without it the caller is the
configured default (the command centre, scoped to everything) so the local demo shows the city.
`?as=<username>` is the same placeholder in the query string, for what cannot set headers (a page's
link, EventSource): no weaker than the header, and gone with it when login arrives.
"""
from __future__ import annotations

from flask import current_app, g, request
from sqlalchemy import text

from data.actors import Actor
from data.vocab import STAFF_USER_ROLES
from mapserver import db


Caller = Actor  # the server's name for whoever sent the request


DEFAULT = Caller("demo", "commander", ())


def current() -> Caller:
    if "caller" not in g:
        g.caller = _resolve()
    return g.caller


def _resolve() -> Caller:
    username = request.headers.get("X-Demo-User") or request.args.get("as")
    if not username:
        return current_app.config.get("MINQING_DEFAULT_CALLER", DEFAULT)
    row = db.connection().execute(text(
        "SELECT username, role, scope::text[], department_id FROM app_user WHERE username = :u AND NOT disabled"),
        {"u": username}).first()
    if row is None:
        from werkzeug.exceptions import Unauthorized

        raise Unauthorized(f"unknown or disabled user {username!r}")
    return Caller(row[0], row[1], tuple(row[2]), row[3])


def staff_only() -> Caller:
    """Lists of cases, addresses and exports are for the city's staff; citizens report, they don't browse."""
    from werkzeug.exceptions import Forbidden

    who = current()
    if who.role not in STAFF_USER_ROLES:
        raise Forbidden("citizens can report by QR code; case lists and exports are for grid staff")
    return who
