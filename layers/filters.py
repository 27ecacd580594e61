"""Query-string filters for point layers, parsed and checked before any SQL is built."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Mapping

from data.vocab import EVENT_SOURCES, EVENT_STATUSES
from layers.errors import BadFilter

CHINA_TZ_HINT = "+08:00"


def _many(args: Mapping, name: str) -> tuple[str, ...]:
    getlist = getattr(args, "getlist", None)
    raw = getlist(name) if getlist else ([args[name]] if name in args else [])
    return tuple(v for item in raw for v in str(item).split(",") if v)


def _instant(args: Mapping, name: str) -> datetime | None:
    value = args.get(name)
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadFilter(f"{name} must be an ISO 8601 date or date-time, got {value!r}", name) from None
    if parsed.tzinfo is None:  # people type local (Beijing) time
        parsed = datetime.fromisoformat(parsed.isoformat() + CHINA_TZ_HINT)
    return parsed.astimezone(timezone.utc)


def _known(name: str, values: tuple[str, ...], allowed: Iterable[str]) -> tuple[str, ...]:
    allowed = set(allowed)
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise BadFilter(f"unknown {name} {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}", name)
    return values


@dataclass(frozen=True)
class EventFilter:
    """category/status/source (several allowed, comma-separated or repeated) and a from/to window."""

    category: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def parse(cls, args: Mapping, categories: Iterable[str]) -> "EventFilter":
        start, end = _instant(args, "from"), _instant(args, "to")
        if start and end and start > end:
            raise BadFilter("from must not be after to", "from")
        return cls(
            category=_known("category", _many(args, "category"), categories),
            status=_known("status", _many(args, "status"), EVENT_STATUSES),
            source=_known("source", _many(args, "source"), EVENT_SOURCES),
            start=start, end=end,
        )

    def sql(self, alias: str = "e") -> tuple[str, dict]:
        """AND-ed clauses (with a leading AND) over columns we name, and their bound values."""
        clauses, params = [], {}
        for column in ("category", "status", "source"):
            values = getattr(self, column)
            if values:
                clauses.append(f"{alias}.{column} = ANY(:f_{column})")
                params[f"f_{column}"] = list(values)
        if self.start:
            clauses.append(f"{alias}.reported_at >= :f_start")
            params["f_start"] = self.start
        if self.end:
            clauses.append(f"{alias}.reported_at <= :f_end")
            params["f_end"] = self.end
        return "".join(f" AND {c}" for c in clauses), params

    def key(self) -> str:
        """A stable text form, for cache keys and ETags."""
        return "|".join([",".join(self.category), ",".join(self.status), ",".join(self.source),
                         self.start.isoformat() if self.start else "", self.end.isoformat() if self.end else ""])
