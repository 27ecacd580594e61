"""Open311 GeoReport v2 documents: our rows in the spec's shape, spelled as JSON or XML (its Spark convention).

Pure functions, so the spec's rules (status mapping, privacy, the 90-day window) are tested without a server.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

from data.errors import Refused
from data.vocab import EVENT_STATUSES, OPEN_STATUSES

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
WINDOW = timedelta(days=90)  # the spec's default span, and the longest one may ask for
REQUEST_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url")
EXTENDED_FIELDS = ("grid_code", "stage", "level", "deadline", "department")

# A list in XML repeats one element per item, named after its parent (the spec's ⇊ and ↴).
ITEM = {"services": "service", "service_requests": "request", "errors": "error", "endpoints": "endpoint",
        "formats": "format", "attributes": "attribute", "values": "value"}

# XML 1.0 cannot carry these even escaped; a citizen's text may contain them (PostgreSQL text can).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def encode(root: str, document, fmt: str) -> bytes:
    """The document in `fmt` ("json" or "xml"); `root` names the outer XML element (the JSON has none)."""
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    # the declaration spelled as the spec shows it, double quotes and all, for clients that match it literally
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(_element(root, document), encoding="utf-8",
                                                                      xml_declaration=False)


def errors(status: int, description: str) -> list[dict]:
    """The spec's error document, whose code is the HTTP status."""
    return [{"code": status, "description": description}]


def service(row) -> dict:
    """An event category as a service: Chinese name, English in description and keywords, department as group."""
    handled_by = f"; handled by {row.department_en} ({row.department})" if row.department else ""
    keywords = dict.fromkeys(k for k in (row.name_en, row.code.replace("_", " "), row.department_en) if k)
    return {"service_code": row.code, "service_name": row.name, "description": f"{row.name_en}{handled_by}",
            "metadata": False, "type": "realtime", "keywords": ", ".join(keywords), "group": row.department or "其他"}


def service_request(row, *, trusted: bool, extensions: bool) -> dict:
    """An event as a service request. The reporter is never in `row`; text, media, address and exact
    coordinates only when `trusted` (the caller's key created it), else the place is rounded to ~100 m."""
    zh, en = EVENT_STATUSES[row.status]
    digits = 7 if trusted else 3
    item = {
        "service_request_id": row.ref, "status": "open" if row.status in OPEN_STATUSES else "closed",
        "status_notes": f"{zh} / {en}", "service_name": row.service_name, "service_code": row.category,
        "description": row.text if trusted else None, "agency_responsible": row.agency, "service_notice": None,
        "requested_datetime": w3c(row.reported_at), "updated_datetime": w3c(row.updated_at),
        "expected_datetime": w3c(row.due_at), "address": row.address if trusted else None,
        "address_id": None, "zipcode": None, "lat": round(row.lat, digits), "long": round(row.lon, digits),
        "media_url": row.media_url if trusted else None,
    }
    if extensions:
        item["extended_attributes"] = dict(zip(EXTENDED_FIELDS, (row.grid_code, row.status, row.level,
                                                                 w3c(row.due_at), row.department)))
    return item


def reporter_name(first: str, last: str) -> str | None:
    """A Chinese name is written family name first (张 + 三), others given name first."""
    first, last = first.strip(), last.strip()
    if re.search(r"[\u3400-\u9fff]", first + last):
        return last + first or None
    return " ".join(part for part in (first, last) if part) or None


def window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The spec's range of requested_datetime: the latest 90 days unless asked otherwise, never more."""
    if end is None:
        end = start + WINDOW if start else now
    start = start or end - WINDOW
    if start > end:
        raise Refused("start_date is after end_date", "start_date")
    if end - start > WINDOW:
        raise Refused("start_date and end_date may not span more than 90 days", "end_date")
    return start, end


def w3c(moment: datetime | None) -> str | None:
    """A W3C datetime with its offset, in Beijing time, to the second."""
    return moment.astimezone(BEIJING).isoformat(timespec="seconds") if moment else None


def parse_w3c(text: str) -> datetime:
    """A W3C datetime (or date); without an offset it is Beijing time, as everywhere in the API."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=BEIJING)


def _element(name: str, value) -> ET.Element:
    element = ET.Element(name)
    if isinstance(value, dict):
        element.extend(_element(key, item) for key, item in value.items())
    elif isinstance(value, list):
        element.extend(_element(ITEM[name], item) for item in value)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_XML.sub("", str(value))
    return element
