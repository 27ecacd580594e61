"""Authentication at the edge: session login for pages, bearer tokens for the API, and who may skip both."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from data import api_tokens, login_lockout, users
from data.settings import Settings
from data.stored_secrets import stored_secret
from data.vocab import STAFF_USER_ROLES
from mapserver import caller, db
from mapserver.errors import error_body

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()

# Open to anyone: the citizen's QR channel, Open311 (its own client keys), health, the API description,
# local assets and the login itself. Everything else needs a logged-in user or a bearer token.
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
        who = users.active_actor(db.connection(), session["user"])
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


@bp.post("/login")
def login_post():
    """Check the password against the lockout first; a success starts a fresh session."""
    csrf.protect()
    username = (request.form.get("username") or "").strip().lower()
    password = request.form.get("password") or ""
    target = _safe_next(request.form.get("next"))
    if not username or not password:
        return render_template("login.html", next=target, error="请输入用户名和密码 · username and password"), 400
    with db.writing() as conn:
        locked = login_lockout.seconds_locked(conn, username)
        who = None if locked else users.check_password(conn, username, password)
        if who is None and not locked:
            locked = login_lockout.record_failure(conn, username)
        elif who is not None:
            login_lockout.clear(conn, username)
    if locked:
        minutes = -(-locked // 60)
        page = render_template("login.html", next=target,
                               error=f"尝试次数过多，请 {minutes} 分钟后再试 · too many attempts, try again later")
        return page, 429, {"Retry-After": str(locked)}
    if who is None:
        return render_template("login.html", next=target, error="用户名或密码错误 · wrong username or password"), 401
    session.clear()  # a new session id for the new identity (no fixation)
    session["user"] = who.username
    session.permanent = True
    return redirect(target)


@bp.post("/logout")
def logout():
    """Ends the session; CSRF-checked so another site cannot log a user out."""
    csrf.protect()
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
                               "429": {"description": "locked after repeated failures; see Retry-After"}}}},
    "/logout": {
        "post": {"summary": "Log out (form with csrf_token)", "tags": ["access"], "security": [],
                 "responses": {"302": {"description": "session ended; redirected to the login form"},
                               "400": {"description": "failed CSRF check"}}}},
}
