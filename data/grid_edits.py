"""Boundary edits of sibling grids: validate, preview, apply, history and undo (docs/grid_edits.md).

The write side takes a connection and does not commit. Apply locks the parent's current row and the
grid advisory lock, re-validates, and writes the versions (`grid_versions`); what it moved is what apply
reports. The event triggers NOTIFY.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import shapely
from sqlalchemy import Connection, text

from data import generalize, grid_versions
from data.actors import Actor, within
from data.errors import Conflict, Forbidden, NotFound, Refused
from data.grid_edit_checks import (AREA_TOLERANCE_M2, MAX_VERTICES, SNAP_TOLERANCE_M, Problem, check_tiling,
                                   parse_shape)
from data.grid_edit_moves import applied_flows, before_edit, changed_area, flow_rows, moves

MAX_GRIDS = 50
MAX_NOTE = 500


@dataclass(frozen=True)
class Entry:
    code: str | None = None
    key: str | None = None
    version: int | None = None
    geometry: object = None  # GeoJSON dict from a caller, or a shapely geometry from undo
    retire: bool = False
    name: str | None = None
    revive: bool = False  # undo of a merge: the retired code comes back as its own next version

    @property
    def label(self) -> str:
        return self.code or self.key


MAX_NAME = 64
# a grid's name is shown on maps and in page titles: no markup and no control characters, whatever escapes later
NAME_CHARS = r"[^<>\x00-\x1f\x7f-\x9f]"
GRID_NAME = re.compile(rf"{NAME_CHARS}{{1,{MAX_NAME}}}")


@dataclass(frozen=True)
class Edit:
    entries: tuple[Entry, ...]
    note: str = ""

    @classmethod
    def parse(cls, body) -> "Edit":
        """The request body -> an Edit; malformed structure is a 400, bad shapes are problems later."""
        if not isinstance(body, dict) or not isinstance(body.get("grids"), list) or not body["grids"]:
            raise Refused("the body must be an object with a non-empty list `grids`", "grids")
        if len(body["grids"]) > MAX_GRIDS:
            raise Refused(f"an edit changes at most {MAX_GRIDS} grids", "grids")
        note = body.get("note") or ""
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise Refused(f"note must be text of at most {MAX_NOTE} characters", "note")
        entries = []
        for i, raw in enumerate(body["grids"]):
            if not isinstance(raw, dict):
                raise Refused(f"grids[{i}] must be an object", "grids")
            code, version, retire = raw.get("code"), raw.get("version"), raw.get("retire", False)
            if code is not None and not isinstance(code, str) or version is not None and (
                    not isinstance(version, int) or isinstance(version, bool)) or not isinstance(retire, bool):
                raise Refused(f"grids[{i}]: code is text, version a whole number, retire true/false", "grids")
            if code is None and retire:
                raise Refused(f"grids[{i}]: only an existing grid (with a code) can be retired", "grids")
            if not retire and raw.get("geometry") is None:
                raise Refused(f"grids[{i}]: a changed or new grid needs a geometry", "grids")
            name = raw.get("name")
            if name is not None and not (isinstance(name, str) and GRID_NAME.fullmatch(name)):
                raise Refused(f"grids[{i}]: name is 1-{MAX_NAME} characters without <, > or control characters",
                              "name")
            key = raw.get("key")
            entries.append(Entry(code, str(key) if key is not None else (None if code else f"new-{i + 1}"),
                                 version, raw.get("geometry"), retire, name))
        return cls(tuple(entries), note.strip())


@dataclass
class Plan:
    """What an edit would do, as checked against the database now."""

    parent: str | None
    problems: list[Problem] = field(default_factory=list)
    current: dict[str, dict] = field(default_factory=dict)  # code -> current row of existing grids in the edit
    shapes: dict[str, object] = field(default_factory=dict)  # label -> snapped WGS 84 shape
    codes: dict[str, str] = field(default_factory=dict)  # label -> code (allocated for new grids)
    rows: list[dict] = field(default_factory=list)  # preview rows

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def as_json(self) -> list[dict]:
        return [p.as_json() for p in self.problems]


LIMITS = {"snap_tolerance_m": SNAP_TOLERANCE_M, "max_vertices": MAX_VERTICES, "area_tolerance_m2": AREA_TOLERANCE_M2}

ROW_SQL = text("""
SELECT id, code, version, name, level, kind, ST_AsBinary(geom) AS wkb, valid_to IS NULL AS current,
       EXISTS (SELECT 1 FROM grid k WHERE k.valid_to IS NULL AND k.path <@ g.path AND k.id <> g.id) AS has_children
FROM grid g WHERE code = ANY(:codes) AND valid_to IS NULL
""")


def parent_of(code: str) -> str:
    return code.rpartition(".")[0]


def _geom(wkb) -> object:
    return shapely.from_wkb(bytes(wkb))


def check_editor(actor: Actor, codes) -> None:
    """Admins edit anywhere, grid leaders inside their scope; everyone else reads."""
    if actor.role in ("admin", "system"):
        return
    if actor.role != "grid_leader":
        raise Forbidden(f"role {actor.role} may not edit grid boundaries", "grids")
    outside = [c for c in codes if not within(c, actor.scope)]
    if outside:
        raise Forbidden(f"outside your scope: {', '.join(outside)}", "grids")


def next_codes(conn: Connection, parent: str, n: int) -> list[str]:
    """The parent's next unused child codes; every version counts, so a retired code is never reused."""
    taken = conn.execute(text("SELECT DISTINCT code FROM grid WHERE path ~ CAST(:q AS lquery)"),
                         {"q": f"{parent}.*{{1}}"}).scalars().all()
    last = [c.rpartition(".")[2] for c in taken]
    width = max((len(p) for p in last), default=3)
    numbers = [int(p) for p in last if p.isdigit()]
    regular = [x for x in numbers if x < 10 ** width * 9 // 10] or [0]  # 9xx: dedicated grids' own range
    start, out = max(regular) + 1, []
    while len(out) < n:
        code = f"{parent}.{start:0{width}d}"
        if code not in taken:
            out.append(code)
        start += 1
    return out


def validate(conn: Connection, edit: Edit, band: tuple[int, int] = (300, 500), *, preview: bool = True) -> Plan:
    """Every problem of the edit, errors and warnings; nothing is written. Apply counts moves itself."""
    existing = [e for e in edit.entries if e.code]
    parents = {parent_of(e.code) for e in existing}
    if len(parents) > 1:
        return Plan(None, [Problem("mixed_parents", f"an edit changes siblings only; these have parents "
                                   f"{', '.join(sorted(parents))}")])
    if not parents:
        return Plan(None, [Problem("bad_request", "an edit names at least one existing grid")])
    parent = parents.pop()
    plan = Plan(parent)
    labels = [e.label for e in edit.entries]
    for dup in sorted({x for x in labels if labels.count(x) > 1}):
        plan.problems.append(Problem("duplicate_grid", f"{dup} appears more than once", dup))
    rows = {r.code: r._mapping for r in conn.execute(ROW_SQL, {"codes": [e.code for e in existing] + [parent]})}
    parent_row = rows.pop(parent, None)
    if parent_row is None:
        plan.problems.append(Problem("not_found", f"no current parent grid {parent!r}", None))
        return plan
    parent_geom = _geom(parent_row["wkb"])
    for e in existing:
        row = rows.get(e.code)
        if e.revive:
            continue
        if row is None:
            retired = conn.execute(text("SELECT max(version) FROM grid WHERE code = :c"), {"c": e.code}).scalar()
            plan.problems.append(Problem("retired_version" if retired else "not_found",
                                         f"grid {e.code} was retired (last version {retired})" if retired
                                         else f"no grid {e.code}", e.code))
            continue
        if e.version is not None and e.version != row["version"]:
            plan.problems.append(Problem("retired_version", f"version {e.version} of {e.code} is not current; "
                                         f"the current version is {row['version']}", e.code))
        if row["has_children"]:
            plan.problems.append(Problem("not_leaf", f"{e.code} has grids below it; edit those", e.code))
        plan.current[e.code] = dict(row)
    drawn = {}
    for e in edit.entries:
        if e.retire:
            continue
        if isinstance(e.geometry, dict) or not hasattr(e.geometry, "geom_type"):
            shape, problems = parse_shape(e.label, e.geometry, parent_geom)
        else:
            shape, problems = e.geometry, []
        plan.problems.extend(problems)
        if shape is not None:
            drawn[e.label] = shape
    if not plan.ok:
        return plan
    replaced = [_geom(r["wkb"]) for r in plan.current.values()]
    replaced += [_geom(r) for (r,) in conn.execute(text(
        "SELECT DISTINCT ON (code) ST_AsBinary(geom) FROM grid WHERE code = ANY(:c) ORDER BY code, version DESC"),
        {"c": [e.code for e in edit.entries if e.revive]})]  # a revived grid's area is the one its merge took
    untouched = {r.code: _geom(r.wkb) for r in conn.execute(text(
        "SELECT code, ST_AsBinary(geom) AS wkb FROM grid WHERE valid_to IS NULL AND path ~ CAST(:q AS lquery) "
        "AND NOT code = ANY(:c)"), {"q": f"{parent}.*{{1}}", "c": [e.code for e in existing]})}
    checked = check_tiling(drawn, replaced, untouched, parent_geom)
    plan.problems.extend(checked.problems)
    plan.shapes = checked.shapes
    if not plan.ok:
        return plan
    if all(e.code and not e.retire and plan.current.get(e.code) and
           shapely.equals_exact(plan.shapes[e.label], _geom(plan.current[e.code]["wkb"]), 0)
           for e in edit.entries):
        plan.problems.append(Problem("nothing_changed", "every grid keeps its shape"))
        return plan
    new = [e for e in edit.entries if not e.code]
    plan.codes = {e.label: e.code for e in existing} | dict(zip([e.label for e in new],
                                                                next_codes(conn, parent, len(new))))
    if preview:
        plan.rows = moves(conn, plan, edit, band)
    return plan


def _require_ok(plan: Plan) -> None:
    if not plan.ok:
        first = next(p for p in plan.problems if p.severity == "error")
        raise Refused(f"the edit has {sum(p.severity == 'error' for p in plan.problems)} error(s), "
                      f"first: {first.message}", "grids", status=422, problems=plan.as_json())


def apply(conn: Connection, edit: Edit, actor: Actor, if_match: dict[str, int] | None,
          band: tuple[int, int] = (300, 500), *, action: str = "grid_edit") -> dict:
    """Write the edit as new grid versions under the parent's lock; the caller commits."""
    if if_match is None:
        raise Refused("If-Match is required: the ETag of every existing grid in the edit", "If-Match", status=428)
    existing = [e.code for e in edit.entries if e.code]
    parent = parent_of(existing[0]) if existing else None
    check_editor(actor, existing + ([parent] if parent and any(not e.code for e in edit.entries) else []))
    if not edit.note:
        raise Refused("an applied edit needs a note saying why", "note")
    if parent is not None and len({parent_of(c) for c in existing}) == 1:
        conn.execute(text("SELECT id FROM grid WHERE code = :p AND valid_to IS NULL FOR UPDATE"), {"p": parent})
        conn.execute(text("SELECT pg_advisory_xact_lock(grid_lock_key())"))
    plan = validate(conn, edit, band, preview=False)
    stale = {c: f"{c}@{r['version']}" for c, r in plan.current.items() if if_match.get(c) != r["version"]}
    if stale and all(p.code not in ("mixed_parents",) for p in plan.problems):
        raise Refused(f"the grids changed since you read them (or If-Match lacks them): {', '.join(stale)}",
                      "If-Match", status=412, current=stale)
    _require_ok(plan)
    old_ids = [r["id"] for r in plan.current.values()]
    before = before_edit(conn, old_ids)
    retire = [plan.current[e.code]["id"] for e in edit.entries if e.retire]
    new_versions, changed = grid_versions.write(conn, plan, {e.label: e.name for e in edit.entries}, retire,
                                                changed_area(plan), actor.username, edit.note)
    plan.rows = flow_rows(plan, edit, applied_flows(conn, changed), before, band)
    generalize.refresh(conn, tuple({r['level'] for r in plan.current.values()}))
    detail = {"note": edit.note, "parent": parent, "grids": [
        {"code": plan.codes[e.label], "key": e.key, "action": _action(e),
         "from_version": plan.current[e.code]["version"] if e.code in plan.current else None,
         "to_version": new_versions.get(plan.codes[e.label])} for e in edit.entries]}
    audit_id = conn.execute(text(
        "INSERT INTO audit_log (username, action, object_type, object_id, detail) "
        "VALUES (:u, :a, 'grid', :p, CAST(:d AS jsonb)) RETURNING id"),
        {"u": actor.username, "a": action, "p": parent, "d": json.dumps(detail)}).scalar_one()
    reassigned = {t: sum(r.pin == t for r in changed) for t in sorted({r.pin for r in changed})}
    return {"parent": parent, "audit_id": audit_id, "moved": plan.rows, "reassigned": reassigned,
            "problems": plan.as_json(),
            "grids": [{"code": g["code"], "key": g["key"], "action": g["action"], "version": g["to_version"]}
                      for g in detail["grids"]]}


def _action(e: Entry) -> str:
    return "retire" if e.retire else "create" if not e.code or e.revive else "change"


def history(conn: Connection, code: str) -> dict:
    rows = conn.execute(text(
        "SELECT version, valid_from, valid_to, changed_by, change_note, ST_AsGeoJSON(geom, 7) AS geometry "
        "FROM grid WHERE code = :c ORDER BY version DESC"), {"c": code}).all()
    if not rows:
        raise NotFound(f"no grid {code!r}", "code")
    return {"code": code, "versions": [
        {"version": r.version, "valid_from": r.valid_from.isoformat(),
         "valid_to": r.valid_to.isoformat() if r.valid_to else None, "changed_by": r.changed_by,
         "change_note": r.change_note, "current": r.valid_to is None, "geometry": json.loads(r.geometry)}
        for r in rows]}


def undo(conn: Connection, code: str, actor: Actor, if_match: dict[str, int] | None, note: str = "",
         band: tuple[int, int] = (300, 500)) -> dict:
    """Apply, as a new edit, the shapes the grids of the latest edit touching `code` had before it."""
    if if_match is None:
        raise Refused("If-Match is required: the ETag of the grid", "If-Match", status=428)
    last = conn.execute(text(
        "SELECT id, detail FROM audit_log WHERE action IN ('grid_edit', 'grid_undo') AND object_type = 'grid' "
        "AND detail->'grids' @> CAST(:probe AS jsonb) ORDER BY id DESC LIMIT 1"),
        {"probe": json.dumps([{"code": code}])}).first()
    if last is None:
        raise NotFound(f"grid {code} was never edited here; nothing to undo", "code")
    entries = []
    for g in last.detail["grids"]:
        now = conn.execute(text("SELECT version FROM grid WHERE code = :c AND valid_to IS NULL"),
                           {"c": g["code"]}).scalar()
        if now != g["to_version"]:
            raise Conflict(f"grid {g['code']} changed after that edit (version {now}); undo the later edit first",
                           "code")
        before = None
        if g["from_version"] is not None:
            before = _geom(conn.execute(text("SELECT ST_AsBinary(geom) FROM grid WHERE code = :c AND version = :v"),
                                        {"c": g["code"], "v": g["from_version"]}).scalar_one())
        if g["action"] == "create":
            entries.append(Entry(g["code"], version=now, retire=True))
        elif g["action"] == "retire":
            entries.append(Entry(g["code"], geometry=before, revive=True))
        else:
            entries.append(Entry(g["code"], version=now, geometry=before))
    edit = Edit(tuple(entries), note or f"undo of edit {last.id}")
    now = {e.code: e.version for e in entries if e.version is not None}
    if code in now and if_match.get(code) != now[code]:
        raise Refused(f"grid {code} changed since you read it", "If-Match", status=412,
                      current={code: f"{code}@{now[code]}"})
    return apply(conn, edit, actor, now, band, action="grid_undo")
