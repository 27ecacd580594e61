"""Citizens' QR channel: a signed link per grid to report a problem, a page to follow, verify and rate it,
and `minqing qr` to print the codes."""
from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import text
from werkzeug.exceptions import RequestEntityTooLarge

from data import intake, media, qrcodes, workflow
from data.actors import Actor
from data.errors import Forbidden, NotFound, Refused
from data.lifecycle import RULES
from data.vocab import EVENT_STATUSES, LEVELS
from mapserver import db, ratelimit
from mapserver.api_persons import sealing_keys
from mapserver.citizen_doc import CRS_CHOICES, DESCRIPTION_MAX, MAX_PHOTOS, NAME_MAX, NOTE_MAX, OPENAPI_PATHS
from mapserver.errors import error_body

__all__ = ["bp", "qr_command", "OPENAPI_PATHS"]  # what mapserver/__init__.py, cli.py and openapi.py take from here

bp = Blueprint("citizen", __name__)

REPORT_LIMIT, REPORT_WINDOW = 5, timedelta(minutes=10)  # per client address and grid; app.config may override
PHONE = re.compile(r"\+?[0-9][0-9 -]{4,19}")
BEIJING = ZoneInfo("Asia/Shanghai")
CITIZEN = Actor("citizen", "citizen", ())
LEVEL_LABELS = {"grid": "网格", **{code: zh for code, (zh, _) in LEVELS.items() if code != "cell"}}
MAIN_PATH = ("reported", "accepted", "dispatched", "in_progress", "resolved", "verified", "closed")
ACTION_LABELS = {"overdue": "超过办理时限", "extend": "办理期限延长", "supervise": "上级督办",
                 "rate": "群众评价", "merge": "与相同问题合并办理"}
PUBLIC_NOTES = frozenset({"resolved", "rejected", "suspended"})  # handlers' notes a reporter is owed

GRID_SQL = text("""
SELECT g.code, g.name, string_agg(a.name, ' · ' ORDER BY a.code) AS parents
FROM grid g LEFT JOIN grid a ON a.valid_to IS NULL AND a.level IN ('street', 'community') AND a.path @> g.path
WHERE g.code = :code AND g.valid_to IS NULL GROUP BY g.code, g.name""")
CASE_SQL = text("""
SELECT e.id, e.tracking_no, e.category, c.name AS category_name, e.description, e.status, e.level, e.reported_at,
       e.due_at, e.resolved_at, e.closed_at, e.overdue, e.satisfaction, e.merged_into IS NOT NULL AS merged,
       g.code AS grid_code, g.name AS grid_name
FROM event e JOIN event_category c ON c.code = e.category LEFT JOIN grid g ON g.id = e.grid_id
WHERE e.tracking_no = :number""")
TIMELINE_SQL = text("""
SELECT at, action, from_status, to_status, level, note, actor_role = 'citizen' AS by_reporter FROM event_log
WHERE event_id = :id AND action IN ('transition', 'overdue', 'extend', 'supervise', 'rate', 'merge')
ORDER BY at, id""")


def _settings():
    return current_app.extensions["minqing.settings"]


def _grid(code: str, sig: str | None):
    if not qrcodes.verify(_settings().qr_secret, code, sig):
        raise Forbidden("二维码无效或已被改动，请扫描网格内张贴的二维码。", "sig",
                        en="This QR code is not valid: scan the code posted in your grid.")
    grid = db.connection().execute(GRID_SQL, {"code": code}).first()
    if grid is None:
        raise NotFound("该网格已调整或不存在，请扫描最新张贴的二维码。", "grid_code",
                       en="This grid no longer exists: scan the newest code posted in your grid.")
    return grid


def _form(grid, values, error: str | None = None, status: int = 200):
    categories = db.connection().execute(text("SELECT code, name FROM event_category ORDER BY code")).all()
    return render_template(
        "citizen_report.html", grid=grid, sig=qrcodes.sign(_settings().qr_secret, grid.code), values=values,
        categories=categories, error=error, token=secrets.token_urlsafe(16), description_max=DESCRIPTION_MAX,
        name_max=NAME_MAX, max_photos=MAX_PHOTOS, max_photo_bytes=_settings().max_photo_bytes), status


@bp.get("/report/<grid_code>")
def report_form(grid_code: str):
    return _form(_grid(grid_code, request.args.get("sig")), {})


@bp.post("/report/<grid_code>")
def report(grid_code: str):
    try:
        form, photos = request.form, [f for f in request.files.getlist("photo") if f.filename]
    except RequestEntityTooLarge:
        form, photos = None, []
    grid = _grid(grid_code, request.args.get("sig") or (form or {}).get("sig"))
    if form is None:
        return _form(grid, {}, _too_big(), 413)
    limit = current_app.config.get("MINQING_QR_REPORT_LIMIT", REPORT_LIMIT)
    with db.writing() as conn:  # its own transaction: refused reports count too
        wait = ratelimit.hit(conn, f"qr:{request.remote_addr}:{grid_code}", limit, REPORT_WINDOW)
    if wait:
        page, status = _form(grid, form, f"提交过于频繁，请 {-(-wait // 60)} 分钟后再试。", 429)
        return page, status, {"Retry-After": str(wait)}
    try:
        new = _new_report(grid_code, form, photos)
        checked = media.read_uploads(photos, _settings())  # 413/415 before anything is written
        with db.writing() as conn:
            done = intake.submit(conn, new, actor=CITIZEN, idempotency_key=form.get("token") or None,
                                 keys=sealing_keys(new.reporter_name, new.reporter_contact))
            if checked and done.created:
                media.save_photos(conn, _settings(), done.id, checked, CITIZEN.username)
    except Refused as exc:
        return _form(grid, form, _chinese(exc), exc.status)
    return redirect(url_for(".track", number=done.tracking_no, new=1), 303)


def _new_report(grid_code: str, form, photos) -> intake.NewReport:
    """The form as a report, refused in Chinese field by field (the page shows the message as is)."""
    category, description = form.get("category") or "", (form.get("description") or "").strip()
    name, phone = (form.get("name") or "").strip() or None, (form.get("phone") or "").strip() or None
    lon, lat, crs = form.get("lon") or None, form.get("lat") or None, form.get("crs") or "wgs84"
    if not category:
        raise Refused("请选择问题类别。", "category")
    if not description or len(description) > DESCRIPTION_MAX:
        raise Refused(f"请填写问题描述（不超过 {DESCRIPTION_MAX} 字）。", "description")
    if name and len(name) > NAME_MAX:
        raise Refused(f"称呼请不超过 {NAME_MAX} 字。", "name")
    if phone and not PHONE.fullmatch(phone):
        raise Refused("联系电话格式不正确，请只填数字。", "phone")
    if len(photos) > MAX_PHOTOS:
        raise Refused(f"最多上传 {MAX_PHOTOS} 张照片。", "photo")
    if (lon is None) != (lat is None) or crs not in CRS_CHOICES:
        raise Refused("位置信息不完整，请重新获取位置，或不分享位置直接提交。", "location")
    if lon is not None:
        lon, lat = intake.to_wgs84_checked(lon, lat, crs)
    return intake.NewReport(category=category, description=description, lon=lon, lat=lat, source="citizen_qr",
                            grid_code=grid_code, reporter_name=name, reporter_contact=phone)


def _too_big() -> str:
    return f"照片太大，每张请不超过 {_settings().max_photo_bytes // (1024 * 1024)} MB。"


def _chinese(exc: Refused) -> str:
    """Our own refusals are Chinese already; the ledger's English ones get a sentence a resident can act on."""
    if re.search(r"[\u4e00-\u9fff]", str(exc)):
        return str(exc)
    by_status = {413: _too_big(), 415: "照片须为 JPEG、PNG 或 WebP 格式的图片。",
                 422: "该表单已提交过，请刷新页面后重新填写。"}
    by_field = {"category": "请选择列表中的问题类别。", "location": "位置信息无效，请重新获取位置，或不分享位置直接提交。",
                "grid": "该网格已调整，请扫描最新张贴的二维码。", "description": "请检查问题描述。"}
    return by_status.get(exc.status) or by_field.get(exc.field) or f"提交未成功：{exc}"


@bp.get("/track")
def lookup():
    number = (request.args.get("number") or "").strip().upper()
    if number:
        return redirect(url_for(".track", number=number), 303)
    return render_template("citizen_lookup.html")


@bp.get("/track/<number>")
def track(number: str):
    if _wants_json():
        return track_json(number)
    return _track_page(number)


@bp.get("/track/<number>.json")
def track_json(number: str):
    return jsonify(_case(number))


def _wants_json() -> bool:
    return (request.path.endswith(".json")
            or request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json")


def _track_page(number: str, error: str | None = None, status: int = 200):
    return render_template("citizen_track.html", case=_case(number), error=error, values=request.form,
                           new=request.args.get("new") == "1", note_max=NOTE_MAX), status


def _case(number: str) -> dict:
    """What the reporter may see of their case: never who handled it, never their own contact."""
    conn = db.connection()
    row = conn.execute(CASE_SQL, {"number": number.strip().upper()}).mappings().first()
    if row is None:
        raise NotFound("没有找到这个查询编号，请核对后重新输入。", "number",
                       en="No report has this tracking number: check it and try again.")
    timeline = [_step(log) for log in conn.execute(TIMELINE_SQL, {"id": row["id"]}).mappings()]
    status = row["status"]
    return {
        "tracking_no": row["tracking_no"], "status": status, "status_label": EVENT_STATUSES[status][0],
        "level": row["level"], "level_label": LEVEL_LABELS[row["level"]],
        "category": row["category"], "category_label": row["category_name"], "description": row["description"],
        "grid": {"code": row["grid_code"], "name": row["grid_name"]} if row["grid_code"] else None,
        "reported_at": _iso(row["reported_at"]), "due_at": _iso(row["due_at"]),
        "resolved_at": _iso(row["resolved_at"]), "closed_at": _iso(row["closed_at"]),
        "overdue": row["overdue"], "merged": row["merged"], "satisfaction": row["satisfaction"],
        "can_verify": status == "resolved",
        "can_rate": status in ("resolved", "verified", "closed") and row["satisfaction"] is None,
        "progress": MAIN_PATH.index(status) if status in MAIN_PATH else None, "stages": [
            EVENT_STATUSES[s][0] for s in MAIN_PATH],
        "timeline": timeline,
    }


def _step(log) -> dict:
    frm, to, action = log["from_status"], log["to_status"], log["action"]
    if action != "transition":
        label = ACTION_LABELS[action]
    elif to == "escalated":
        label = f"上报上级（{LEVEL_LABELS[log['level']]}）"
    else:
        rule = RULES.get((frm, to))
        label = rule.what if rule and rule.what else EVENT_STATUSES[to][0]
    public = action == "transition" and (to in PUBLIC_NOTES or log["by_reporter"])
    return {"at": _iso(log["at"]), "action": action, "status": to, "label": label, "level": log["level"],
            "level_label": LEVEL_LABELS[log["level"]], "note": log["note"] if public else None}


def _iso(at) -> str | None:
    return at.astimezone(BEIJING).isoformat(timespec="minutes") if at else None


@bp.post("/track/<number>/verify")
def verify(number: str):
    passed, note = request.form.get("passed"), (request.form.get("note") or "").strip() or None

    def step(conn, event_id, actor):
        if passed not in ("1", "0"):
            raise Refused("请选择“核查通过”或“未解决”。", "passed")
        if passed == "0" and not note:
            raise Refused("请说明哪些问题还没有解决。", "note")
        if note and len(note) > NOTE_MAX:
            raise Refused(f"说明请不超过 {NOTE_MAX} 字。", "note")
        workflow.verify(conn, event_id, actor, passed == "1", note)

    return _as_reporter(number, step)


@bp.post("/track/<number>/rating")
def rating(number: str):
    score = request.form.get("score", "")

    def step(conn, event_id, actor):
        if score not in ("1", "2", "3", "4", "5"):
            raise Refused("请选择 1 到 5 分的满意度。", "score")
        workflow.rate(conn, event_id, actor, int(score))

    return _as_reporter(number, step)


def _as_reporter(number: str, step):
    """Act on the case as the holder of its tracking number; a refusal shows the page again with why."""
    number = number.strip().upper()
    try:
        with db.writing() as conn:
            event_id = conn.execute(text("SELECT id FROM event WHERE tracking_no = :n"), {"n": number}).scalar()
            if event_id is None:
                raise NotFound("没有找到这个查询编号。", "number", en="No report has this tracking number.")
            step(conn, event_id, Actor("citizen", "citizen", (), reporter_of=number))
    except NotFound:
        raise
    except Refused as exc:
        return _track_page(number, _chinese(exc) if exc.status != 409 else "该事项当前状态已变化，请刷新后再试。",
                           exc.status)
    return redirect(url_for(".track", number=number), 303)


@bp.errorhandler(Refused)
def refused(exc: Refused):
    """Pages answer with a page in Chinese and English; `.json` and Accept: application/json with the usual body."""
    if _wants_json():
        return error_body(exc.status, str(exc), exc.field, **exc.extra)
    return render_template("citizen_message.html", status=exc.status, message=str(exc), en=exc.extra.get("en"),
                           lookup=request.path.startswith("/track")), exc.status


@click.command("qr")
@click.option("--grid", "grids", multiple=True, metavar="CODE",
              help="A grid code (repeatable): a cell gives its own code, a community or street every cell in it.")
@click.option("--all", "everything", is_flag=True, help="Every current cell of the city.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("qr"), show_default=True,
              help="Folder for the PNGs and PDFs (created if missing).")
@click.option("--base-url", help="Where the codes point, e.g. https://minqing.example.gov.cn "
                                 "(default: MINQING_PUBLIC_URL).")
@click.option("--no-progress", is_flag=True, help="No progress bar (for logs and CI).")
def qr_command(grids: tuple[str, ...], everything: bool, out: Path, base_url: str | None, no_progress: bool) -> None:
    """Print QR codes that let citizens report a problem in their grid.

    Writes OUT/<cell code>.png for each cell (the code, the cell's name and code under it) and
    OUT/<community code>.pdf, A4 pages of the community's codes to print and cut. Links are
    signed with MINQING_QR_SECRET: codes printed before the secret changes stop working.

    \b
    Examples:
      minqing qr --grid 990101.001.003.001
      minqing qr --grid 990101.001.003 --out /tmp/qr
      minqing qr --all --base-url https://minqing.example.gov.cn
    """
    from data.db import make_engine
    from data.settings import Settings

    if bool(grids) == everything:
        raise click.UsageError("give --grid CODE (one or more) or --all")
    settings = Settings.from_env()
    base = (base_url or settings.public_url).rstrip("/")
    if not re.match(r"https?://[^/\s]+", base):
        raise click.BadParameter(f"{base!r} is not an http(s):// URL", param_hint="--base-url")
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            unknown = qrcodes.unknown_codes(conn, list(grids))
            if unknown:
                raise click.ClickException(f"no current grid has the code {', '.join(unknown)} "
                                           "(list them with GET /api/grids)")
            cells = qrcodes.printable_cells(conn, list(grids) or None)
    finally:
        engine.dispose()
    if not cells:
        raise click.ClickException("no cells there to print codes for")
    if not settings.qr_secret:
        click.secho(f"MINQING_QR_SECRET is not set: signing with the generated secret in {settings.qr_secret_file}, "
                    "which the server must read too", fg="yellow", err=True)
        settings = settings.with_stored_secrets()
    sheets = qrcodes.write_all(cells, settings.qr_secret, base, out, progress=everything and not no_progress)
    click.echo(f"{len(cells)} QR codes and {sheets} community sheets in {out}/ (pointing at {base})")
