"""Authentication at the edge: session login for pages, bearer tokens for the API, and who may skip both."""
from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from data import api_tokens, login_lockout, users
from data.settings import Settings
from data.stored_secrets import stored_secret
from data.vocab import STAFF_USER_ROLES
from mapserver import caller, db, ratelimit
from mapserver.errors import error_body

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()

# Open to anyone: the citizen's QR channel, Open311 (its own client keys), health, the API description,
# local assets and the login itself. Everything else needs a logged-in user or a bearer token.
LOGIN_WINDOW = timedelta(minutes=15)  # MINQING_LOGIN_ATTEMPTS_PER_IP counts attempts in this window
PUBLIC_BLUEPRINTS = frozenset({"citizen", "open311", "health", "openapi", "assets", "auth"})
PUBLIC_ENDPOINTS = frozenset({"static"})
# GETs under these prefixes are API calls (401); other GETs are pages (redirect to the login form)
API_PREFIXES = ("/api/", "/tiles/", "/layers", "/stream")
# the same public set as URL prefixes, for the OpenAPI document (a test checks the two agree)
PUBLIC_PATHS = ("/report/", "/track", "/open311/", "/healthz", "/openapi.json", "/assets/", "/static/", "/login",
                "/logout")
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "`minqing users token <name>`; 401 when missing, expired or revoked"},
    "session": {"type": "apiKey", "in": "cookie", "name": "session",
                "description": "set by POST /login; unsafe requests need the same Origin or an X-CSRFToken"},
}


def init_app(app: Flask, settings: Settings) -> None:
    app.secret_key = (app.config.get("SECRET_KEY") or settings.secret_key
                      or stored_secret(Path(settings.secret_key_file)))
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.cookie_secure, PERMANENT_SESSION_LIFETIME=8 * 3600,
                      WTF_CSRF_CHECK_DEFAULT=False,  # checked below, only for requests a cookie authenticates
                      WTF_CSRF_TIME_LIMIT=None)  # the token lives as long as the session
    app.config.setdefault("MINQING_DEMO_LOGIN", settings.demo_login)
    csrf.init_app(app)
    app.extensions["minqing.login_checks"] = threading.BoundedSemaphore(settings.login_checks)
    app.before_request(_authenticate)
    app.register_blueprint(bp)


def _is_public() -> bool:
    return (request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS
            or request.blueprint in PUBLIC_BLUEPRINTS)


def _authenticate():
    if _is_public():
        return None
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized("the Authorization header must be 'Bearer <token>'")
        with db.writing() as conn:
            who = api_tokens.actor_for(conn, token.strip())
        if who is None:
            return _unauthorized("the token is unknown, expired or revoked")
        return _admit(who)
    if "user" in session:
        who = users.session_actor(db.connection(), session["user"], session.get("epoch"))
        if who is None:
            session.clear()
        else:
            if request.method not in ("GET", "HEAD", "OPTIONS") and not _same_origin():
                csrf.protect()  # a cookie rides along with cross-site requests; the token does not
            return _admit(who)
    if current_app.config.get("MINQING_DEMO_LOGIN"):
        g.caller = caller.demo_placeholder()
        return None
    if request.method == "GET" and not request.path.startswith(API_PREFIXES):
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return _unauthorized("log in (session) or send 'Authorization: Bearer <token>'")


def _admit(who):
    """Citizens use the public channels only (QR, tracking, Open311), so a citizen account is refused here
    once, for every staff endpoint, rather than in each of them."""
    if who.role not in STAFF_USER_ROLES:
        return error_body(403, "citizens report by QR code and track by number; this is for grid staff")
    g.caller = who
    return None


def _same_origin() -> bool:
    """A browser names the page's origin on every POST/PUT it sends (OWASP's origin check), so the pages'
    scripts need no token; without the header, or from elsewhere, the CSRF token decides."""
    origin = request.headers.get("Origin")
    return origin is not None and origin.rstrip("/") == request.host_url.rstrip("/")


def _unauthorized(reason: str):
    response, status = error_body(401, reason)
    response.headers["WWW-Authenticate"] = 'Bearer realm="minqing"'
    return response, status


def _safe_next(target: str | None) -> str:
    """Only a path this app routes: an open redirect would let a phishing link borrow our login page. Browsers
    read `/\\host` as `//host` and drop tabs and newlines, so a backslash or a control character refuses."""
    home = url_for("command.page")
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 0x20 or ord(c) == 0x7f for c in target) or urlsplit(target).netloc):
        return home
    try:
        current_app.url_map.bind("localhost").match(urlsplit(target).path, method="GET")
    except HTTPException:  # no such page (or a redirect the router would make): go home instead
        return home
    return target


@bp.get("/login")
def login():
    """The login form (Chinese first, English below), with a CSRF token."""
    return render_template("login.html", next=_safe_next(request.args.get("next")), error=None)


def _refused(target: str, status: int, wait: int, error: str):
    return render_template("login.html", next=target, error=error), status, {"Retry-After": str(wait)}


def _checked(conn, username: str, password: str):
    """The password check, at most `login_checks` at once in this process (argon2id takes 64 MiB each);
    None when all are busy."""
    slots = current_app.extensions["minqing.login_checks"]
    if not slots.acquire(blocking=False):
        return None
    try:
        return (users.check_password(conn, username, password),)
    finally:
        slots.release()


@bp.post("/login")
def login_post():
    """Per-address limit, then this name's check held in the transaction (one guess in flight per name), the
    lockout, the password; a success starts a fresh session."""
    csrf.protect()
    username = (request.form.get("username") or "").strip().lower()
    password = request.form.get("password") or ""
    target = _safe_next(request.form.get("next"))
    if not username or not password:
        return render_template("login.html", next=target, error="请输入用户名和密码 · username and password"), 400
    settings = current_app.extensions["minqing.settings"]
    with db.writing() as conn:  # counted in its own transaction: a refused attempt still counts
        wait = ratelimit.hit(conn, f"login:{request.remote_addr}", settings.login_attempts_per_ip, LOGIN_WINDOW)
    if wait:
        return _refused(target, 429, wait, "此地址尝试登录过多，请稍后再试 · too many logins from this address")
    with db.writing() as conn:
        if not login_lockout.hold(conn, username):
            return _refused(target, 429, 1, "该用户正在登录，请稍后再试 · this name is being checked, try again")
        locked = login_lockout.seconds_locked(conn, username)
        checked = None if locked else _checked(conn, username, password)
        if not locked and checked is None:
            return _refused(target, 503, 1, "登录繁忙，请稍后再试 · busy, try again in a moment")
        who = None if locked else checked[0]
        if who is None and not locked:
            locked = login_lockout.record_failure(conn, username)
        elif who is not None:
            login_lockout.clear(conn, username)
            epoch = users.session_epoch(conn, who.username)
    if locked:
        minutes = -(-locked // 60)
        return _refused(target, 429, locked, f"尝试次数过多，请 {minutes} 分钟后再试 · too many attempts, try again later")
    if who is None:
        return render_template("login.html", next=target, error="用户名或密码错误 · wrong username or password"), 401
    session.clear()  # a new session id for the new identity (no fixation)
    session["user"], session["epoch"] = who.username, epoch
    session.permanent = True
    return redirect(target)


@bp.post("/logout")
def logout():
    """Ends the session, and every copy of its cookie (the account's epoch moves on); CSRF-checked so another
    site cannot log a user out."""
    csrf.protect()
    if "user" in session and users.session_actor(db.connection(), session["user"], session.get("epoch")):
        with db.writing() as conn:
            users.end_sessions(conn, session["user"])
    session.clear()
    return redirect(url_for("auth.login"))


@bp.app_errorhandler(CSRFError)
def csrf_refused(exc: CSRFError):
    return error_body(400, f"CSRF check failed: {exc.description}; reload the page and try again",
                      "csrf_token")


OPENAPI_PATHS = {
    "/login": {
        "get": {"summary": "Login form (pages)", "tags": ["access"], "security": [],
                "parameters": [{"name": "next", "in": "query", "schema": {"type": "string"},
                                "description": "path on this site to return to after logging in"}],
                "responses": {"200": {"description": "HTML form",
                                      "content": {"text/html": {"schema": {"type": "string"}}}}}},
        "post": {"summary": "Log in: starts a session cookie (HttpOnly, SameSite=Lax)", "tags": ["access"],
                 "security": [],
                 "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                     "type": "object", "required": ["username", "password", "csrf_token"],
                     "properties": {"username": {"type": "string"}, "password": {"type": "string"},
                                    "csrf_token": {"type": "string"}, "next": {"type": "string"}}}}}},
                 "responses": {"302": {"description": "logged in; redirected to `next`"},
                               "400": {"description": "missing field or failed CSRF check"},
                               "401": {"description": "wrong username or password (HTML form again)"},
                               "429": {"description": "locked after repeated failures, too many attempts from "
                                                      "this address, or this name already being checked; see "
                                                      "Retry-After"},
                               "503": {"description": "too many password checks at once; see Retry-After"}}}},
    "/logout": {
        "post": {"summary": "Log out (form with csrf_token)", "tags": ["access"], "security": [],
                 "responses": {"302": {"description": "session ended; redirected to the login form"},
                               "400": {"description": "failed CSRF check"}}}},
}
