"""12345 hotline work orders (CSV or JSON) into events through intake, a batch per transaction, re-runs safe.

Every order goes through `intake.submit`, so it gets its log row, deadline and duplicate flag like any
report; (source, external id) is unique, so importing the same file again creates nothing.
"""
from __future__ import annotations

import csv
import re
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DataError, IntegrityError

from data.actors import Actor
from data.crs import UnknownCRS
from data.crs import resolve as resolve_crs
from data import pii
from data.errors import LoadError, Refused
from data.hotline_categories import CategoryMap, normalized
from data.intake import MAX_TITLE, NewReport, submit, to_wgs84_checked
from data.loaders.hotline_read import (BEIJING, COLUMNS, cell_of, crs_of, parse_coordinates, parse_time,
                                       read_orders, resolve_columns)
from data.loaders.load import default_rejects_path
from data.pii import Keyring
from data.settings import Settings

__all__ = ["BEIJING", "AddressBook", "HotlineReport", "import_file", "parse_order", "parse_time", "read_orders",
           "resolve_columns"]  # reading lives in hotline_read; callers keep importing it from here

SOURCE = "hotline_12345"
ACTOR = Actor("import:hotline", "admin", ())
BATCH_SIZE = 500

_EXCEL_NUMBER = re.compile(r"\d(\.\d+)?E\+\d+", re.IGNORECASE)


@dataclass
class HotlineReport:
    """What an import did; `rejects` are (row, reason) with 1-based data rows, as `load` numbers them."""

    rows_read: int
    created: int = 0
    already_imported: int = 0  # earlier imports, or the same id earlier in this file
    outside_grid: int = 0  # accepted, flagged for manual placement
    possible_duplicates: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)
    rejects_path: Path | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class Order:
    """One work order, parsed, mapped to our category and placed (WGS 84)."""

    external_id: str
    reported_at: datetime
    category: str
    content: str
    title: str | None
    address: str | None
    lon: float
    lat: float
    caller: str | None
    phone: str | None

    def report(self) -> NewReport:
        title = self.title if self.title is None or len(self.title) <= MAX_TITLE else self.title[:MAX_TITLE - 1] + "…"
        return NewReport(self.category, self.content, self.lon, self.lat, source=SOURCE, title=title,
                         reported_at=self.reported_at, reporter_name=self.caller, reporter_contact=self.phone,
                         external_id=self.external_id, address=self.address)


@dataclass(frozen=True)
class AddressBook:
    """House addresses and compound names -> a point, to place orders that come without coordinates.

    An order's address is matched to the longest house address it contains ("XX区XX街道幸福小区3号楼2单元"
    holds "幸福小区3号楼"): 12345 addresses carry the city and district before ours and the unit after,
    so neither exact equality nor a shared prefix would find most of them. Without such a house, the
    longest compound name it contains places it at that compound's most central house. A text matching
    several houses at different points is not guessed.
    """

    houses: dict[str, tuple[float, float] | None]  # normalized address -> point; None: several points
    compounds: dict[str, tuple[float, float]]

    @classmethod
    def from_db(cls, conn: Connection) -> "AddressBook":
        houses: dict[str, tuple[float, float] | None] = {}
        for address, lon, lat in conn.execute(text("SELECT address, ST_X(geom), ST_Y(geom) FROM house")):
            key = normalized(address)
            houses[key] = (lon, lat) if houses.get(key, (lon, lat)) == (lon, lat) else None
        compounds = conn.execute(text("""
            WITH c AS (SELECT compound, ST_Centroid(ST_Collect(geom)) AS centre FROM house
                       WHERE compound <> '' GROUP BY compound)
            SELECT DISTINCT ON (c.compound) c.compound, ST_X(h.geom), ST_Y(h.geom)
            FROM c JOIN house h USING (compound) ORDER BY c.compound, h.geom <-> c.centre"""))
        return cls(houses, {normalized(name): (lon, lat) for name, lon, lat in compounds})

    def find(self, address: str) -> tuple[float, float]:
        """The point for an address; ValueError says why there is none."""
        key = normalized(address)
        for names, what in ((self.houses, "house"), (self.compounds, "compound")):
            for size in range(len(key), 1, -1):
                for start in range(len(key) - size + 1):
                    if key[start:start + size] in names:
                        point = names[key[start:start + size]]
                        if point is None:
                            raise ValueError(f"address {address!r} matches several {what}s")
                        return point
        raise ValueError(f"no coordinates and address {address!r} not found among houses or compounds")


def _locate(cell: Callable[[str], str], labels: Callable[[str], str], crs: str,
            addresses: Callable[[], AddressBook]) -> tuple[float, float]:
    """Coordinates when given (they must then be usable), else the address; ValueError says why neither works."""
    try:
        lonlat = parse_coordinates(cell("lon"), cell("lat"), (labels("lon"), labels("lat")))
    except ValueError as exc:
        raise ValueError(f"bad coordinates: {exc}") from None
    if lonlat is not None:
        try:
            return to_wgs84_checked(*lonlat, crs_of(cell("crs"), crs))
        except (Refused, UnknownCRS) as exc:
            raise ValueError(f"bad coordinates: {exc}") from None
    if not cell("address"):
        raise ValueError("no coordinates and no address")
    return addresses().find(cell("address"))


def parse_order(row: dict[str, str], columns: dict[str, list[str]], *, crs: str, now: datetime,
                categories: CategoryMap, addresses: Callable[[], AddressBook]) -> Order | list[str]:
    """The order in one row, or every reason it cannot be imported."""
    def cell(name: str) -> str:
        return cell_of(row, columns, name)

    def label(name: str) -> str:
        return columns[name][0] if columns[name] else COLUMNS[name][0]

    reasons = []
    external_id = cell("external_id")
    if not external_id:
        reasons.append(f"missing id ({label('external_id')})")
    elif _EXCEL_NUMBER.fullmatch(external_id):
        reasons.append(f"{label('external_id')} {external_id!r} was turned into a number by Excel; "
                       "export the column as text")
    reported_at = None
    if not cell("time"):
        reasons.append(f"missing time ({label('time')})")
    else:
        try:
            reported_at = parse_time(cell("time"))
            if reported_at > now:
                reasons.append(f"bad time: {cell('time')!r} is in the future")
        except ValueError as exc:
            reasons.append(f"bad time: {exc}")
    category = categories.match(cell("category"))
    if not cell("category"):
        reasons.append(f"missing category ({label('category')})")
    elif category is None:
        reasons.append(f"unknown category {cell('category')!r}: no category name or hotline_category_map "
                       "keyword matches")
    if not cell("content"):
        reasons.append(f"missing content ({label('content')})")
    try:
        lon, lat = _locate(cell, label, crs, addresses)
    except ValueError as exc:
        reasons.append(str(exc))
    if reasons:
        return reasons
    return Order(external_id, reported_at, category, cell("content"), cell("title") or None,
                 cell("address") or None, lon, lat, cell("caller") or None, cell("phone") or None)


_KNOWN_SQL = text("SELECT external_id FROM event WHERE source = :source AND external_id = ANY(:ids)")


@dataclass
class _Import:
    """One import's running state: the maps read once, the ids done so far, the counts."""

    columns: dict[str, list[str]]
    crs: str
    now: datetime
    submit_now: datetime | None
    report: HotlineReport
    keys: Keyring
    categories: CategoryMap | None = None
    addresses: AddressBook | None = None
    done: set[str] = field(default_factory=set)

    def batch(self, conn: Connection, rows: list[tuple[int, dict[str, str]]],
              progress: Callable[[int], None] | None) -> None:
        """Known ids are counted before anything else, so a re-import never depends on today's keyword table."""
        self.categories = self.categories or CategoryMap.from_db(conn)
        ids = [cell_of(row, self.columns, "external_id") for _, row in rows]
        known = set(conn.execute(_KNOWN_SQL, {"source": SOURCE, "ids": [i for i in ids if i]}).scalars())
        for (number, row), external_id in zip(rows, ids):
            if external_id and (external_id in known or external_id in self.done):
                self.report.already_imported += 1
            else:
                self._one(conn, number, row)
            if progress:
                progress(1)

    def _address_book(self, conn: Connection) -> AddressBook:
        self.addresses = self.addresses or AddressBook.from_db(conn)
        return self.addresses

    def _one(self, conn: Connection, number: int, row: dict[str, str]) -> None:
        order = parse_order(row, self.columns, crs=self.crs, now=self.now, categories=self.categories,
                            addresses=lambda: self._address_book(conn))
        if isinstance(order, list):
            self.report.rejects.append((number, "; ".join(order)))
            return
        try:
            with conn.begin_nested():  # a refused order undoes only its own writes
                filed = submit(conn, order.report(), actor=ACTOR, now=self.submit_now, keys=self.keys)
        except Refused as exc:
            self.report.rejects.append((number, str(exc)))
            return
        except IntegrityError as exc:
            if getattr(exc.orig.diag, "constraint_name", None) != "event_external_id":
                self.report.rejects.append((number, f"the database refused it: {exc.orig}"))
                return
            self.report.already_imported += 1  # another import of the same order committed first
            return
        except DataError as exc:
            self.report.rejects.append((number, f"the database refused it: {exc.orig}"))
            return
        self.done.add(order.external_id)
        self.report.created += filed.created
        self.report.already_imported += not filed.created
        self.report.outside_grid += filed.created and filed.outside_grid
        self.report.possible_duplicates += filed.created and filed.possible_duplicate_of is not None


@contextmanager
def _transaction(bind: Engine | Connection, keep: bool) -> Iterator[Connection]:
    """A transaction per batch (a savepoint inside a caller's own transaction), rolled back unless `keep`."""
    nested = isinstance(bind, Connection)
    conn = bind if nested else bind.connect()
    try:
        tx = conn.begin_nested() if nested else conn.begin()
        try:
            yield conn
        except BaseException:
            tx.rollback()
            raise
        tx.commit() if keep else tx.rollback()
    finally:
        if not nested:
            conn.close()


def _progress_bar(enabled: bool, total: int):
    if not enabled:
        return nullcontext(None)
    from tqdm import tqdm

    return tqdm(total=total, desc="import hotline", unit="order")


def write_rejects(header: list[str], rows: list[dict[str, str]], rejects: list[tuple[int, str]],
                  target: Path) -> None:
    """The rejected rows' cells, then `row` and `reason`: fix and import this file again (BOM: Excel reads it)."""
    names = [h for h in header if h not in ("row", "reason")]
    with open(target, "w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow([*names, "row", "reason"])
        for number, reason in rejects:
            writer.writerow([rows[number - 1].get(h, "") for h in names] + [number, reason])


def import_file(bind: Engine | Connection, path: str | Path, *, crs: str = "wgs84",
                rejects_path: str | Path | None = None, dry_run: bool = False, batch_size: int = BATCH_SIZE,
                progress: bool = False, now: datetime | None = None, keys: Keyring | None = None) -> HotlineReport:
    """Import the work orders in `path`; rows are numbered from 1 in file order (CSV line = row + 1).

    Each batch of `batch_size` rows is one transaction (a savepoint when `bind` is a Connection), so a
    crash loses at most one batch and running again is safe. `crs` is for rows without a 坐标系/crs cell.
    Bad rows are skipped, listed in the report and written to `rejects_path` (default FILE.rejects.csv);
    `dry_run` does all of it, rejects file included, and rolls every batch back. `progress`: a tqdm bar.
    `keys` seal callers' names and phones (default: the file named by MINQING_PII_KEYS, made if missing).
    A file that cannot be read or lacks a required column raises LoadError before anything is written.
    """
    header, rows = read_orders(path)
    columns = resolve_columns(header) if header or rows else {}  # `[]`: nothing to import, not a bad file
    try:
        resolve_crs(crs)
    except UnknownCRS as exc:
        raise LoadError(str(exc)) from exc
    report = HotlineReport(len(rows), dry_run=dry_run)
    keys = keys or pii.load_or_create(Settings.from_env().pii_keys)
    state = _Import(columns, crs, now or datetime.now(timezone.utc), now, report, keys)
    with _progress_bar(progress, len(rows)) as bar:
        for start in range(0, len(rows), batch_size):
            with _transaction(bind, keep=not dry_run) as conn:
                state.batch(conn, list(enumerate(rows[start:start + batch_size], start=start + 1)),
                            bar.update if bar else None)
    if report.rejects:
        report.rejects_path = Path(rejects_path) if rejects_path else default_rejects_path(path)
        try:
            write_rejects(header, rows, report.rejects, report.rejects_path)
        except OSError as exc:
            raise LoadError(f"{report.created} orders imported, but the rejects file cannot be written: "
                            f"{exc}") from exc
    return report
