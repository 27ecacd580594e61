"""`load_file`: one file of one kind into the ledger, all good rows in one transaction or nothing."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from sqlalchemy import Engine

from data import generalize, pii
from data.errors import LoadError
from data.loaders.checks import as_rejects, merge, parse_rows
from data.loaders.geometry import check_geometries
from data.loaders.kinds import kind_named
from data.loaders.read import Source, read_source
from data.loaders.refs import check_references
from data.loaders.tiling import check_tiling
from data.loaders.write import write_rows
from data.pii import Keyring
from data.pii_store import FIELDS
from data.settings import Settings

SHOWN_PROBLEMS = 5


@dataclass
class LoadReport:
    """What a load did; `rejects` are (row, reason) with 1-based data rows (a CSV header is not a row).

    `warnings` say what was written but deserves a look, such as grids whose children leave a gap.
    """

    kind: str
    rows_read: int
    rows_written: int
    rejects: list[tuple[int, str]] = field(default_factory=list)
    rejects_path: Path | None = None
    warnings: list[str] = field(default_factory=list)


def default_rejects_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}.rejects.csv")


def _write_rejects(source: Source, rejects: list[tuple[int, str]], target: Path) -> None:
    """The rejected rows' original cells, then `row` and `reason`: fix them and load this file again."""
    positions = [row - 1 for row, _ in rejects]
    out = source.original.drop(columns=["row", "reason"], errors="ignore").iloc[positions].copy()
    out["row"] = [row for row, _ in rejects]
    out["reason"] = [reason for _, reason in rejects]
    out.to_csv(target, index=False)


def _summary(kind: str, rows_read: int, rejects: list[tuple[int, str]]) -> str:
    shown = "; ".join(f"row {row}: {reason}" for row, reason in rejects[:SHOWN_PROBLEMS])
    more = f" (and {len(rejects) - SHOWN_PROBLEMS} more)" if len(rejects) > SHOWN_PROBLEMS else ""
    return f"{kind}: {len(rejects)} of {rows_read} rows rejected, nothing was written: {shown}{more}"


def _progress_bar(enabled: bool, total: int, kind: str):
    if not enabled:
        return nullcontext(None)
    from tqdm import tqdm

    return tqdm(total=total, desc=f"load {kind}", unit="row")


def load_file(engine: Engine, kind: str, path: str | Path, crs: str | int | None = None,
              skip_invalid: bool = False, rejects_path: str | Path | None = None,
              progress: bool = False, keys: Keyring | None = None) -> LoadReport:
    """Load `path` (GeoJSON, GeoPackage, Shapefile, or CSV with lon/lat or WKT) as `kind`.

    Rows are numbered from 1 in file order, a CSV's header line not counted (row n is CSV line n + 1).
    Any bad row raises LoadError(problems=[(row, reason), ...]) and writes nothing, unless
    `skip_invalid`: then the good rows are written and the bad ones go to `rejects_path` (default
    FILE.rejects.csv beside the input). A database error rolls everything back and raises LoadError.
    A grid must lie within its parent and overlap none of its siblings (to `tiling.TOLERANCE`); children
    that leave part of their parent uncovered are written, with a line in the report's `warnings`.
    """
    spec = kind_named(kind)
    if keys is None and spec.table in FIELDS:
        keys = pii.load_or_create(Settings.from_env().pii_keys)
    source = read_source(path, spec, crs)
    rows, problems = parse_rows(source.frame, spec)
    problems = merge(source.problems, problems)
    geoms = None
    if spec.geometry:
        geoms, geometry_problems = check_geometries(source.geoms, spec.geometry, source.crs, skip=source.problems)
        problems = merge(problems, geometry_problems)
    target: Path | None = None
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            bad = {pos for pos, reasons in problems.items() if reasons}
            problems = merge(problems, check_references(cursor, spec, rows, bad, keys))
            warnings: list[str] = []
            if spec.table == "grid":
                tiling, warnings = check_tiling(cursor, rows, geoms, problems)
                problems = merge(problems, tiling)
            rejects = as_rejects(problems)
            if rejects and not skip_invalid:
                raise LoadError(_summary(spec.name, len(rows), rejects), problems=rejects)
            good = np.ones(len(rows), dtype=bool)
            good[[row - 1 for row, _ in rejects]] = False
            with _progress_bar(progress, int(good.sum()), spec.name) as bar:
                written = write_rows(cursor, spec, rows[good].reset_index(drop=True),
                                     geoms[good] if geoms is not None else None, bar.update if bar else None,
                                     keys)
        if rejects:
            target = Path(rejects_path) if rejects_path else default_rejects_path(path)
            _write_rejects(source, rejects, target)
        connection.commit()
    except BaseException as exc:
        connection.rollback()
        if target is not None:
            target.unlink(missing_ok=True)  # no rejects file for a load that did not happen
        if isinstance(exc, psycopg.Error):
            message = getattr(exc.diag, "message_primary", None) or str(exc)
            raise LoadError(f"{spec.name}: the database refused the load, nothing was written: {message}") from exc
        if isinstance(exc, OSError):
            raise LoadError(f"{spec.name}: cannot write the rejects file, nothing was written: {exc}") from exc
        raise
    finally:
        connection.close()
    if spec.table == "grid" and written:
        with engine.begin() as conn:  # derived shapes for tiles; tiles fall back to raw geometry meanwhile
            generalize.refresh(conn)
    return LoadReport(spec.name, len(rows), written, rejects, target, warnings)
