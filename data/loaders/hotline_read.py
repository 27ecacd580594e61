"""Reading 12345 work-order files: encodings, CSV or JSON, the column names in use, times and coordinates."""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from data.errors import LoadError
from data.hotline_categories import normalized
from data.loaders.read import CSV_ENCODINGS, read_csv_text

BEIJING = timezone(timedelta(hours=8))  # China has had no daylight saving since 1991

# field -> accepted headers (case-insensitive); per row the first non-blank one wins
COLUMNS = {
    "external_id": ("工单编号", "工单号", "external_id"),
    "time": ("来电时间", "受理时间", "time", "reported_at"),
    "category": ("诉求类别", "问题分类", "category"),
    "address": ("事发地址", "地址", "address"),
    "lon": ("经度", "lon", "lng", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "crs": ("坐标系", "crs"),
    "content": ("诉求内容", "内容", "content", "description"),
    "title": ("标题", "title"),
    "caller": ("来电人", "caller"),
    "phone": ("联系电话", "phone"),
}
REQUIRED = ("external_id", "time", "category", "content")
CRS_WORDS = {"百度": "bd09", "bd09": "bd09", "高德": "gcj02", "腾讯": "gcj02", "火星": "gcj02", "gcj": "gcj02",
             "wgs": "wgs84", "gps": "wgs84", "cgcs2000": "4490"}  # words in a 坐标系 cell such as "百度坐标"

_TIME = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6})\d*)?)?)?"
                   r"\s*(Z|[+-]\d{2}:?\d{2})?", re.IGNORECASE)
_CHINESE_TIME = str.maketrans({"年": "-", "月": "-", "日": " ", "时": ":", "分": ":", "秒": None})


def _text(value) -> str:
    """A JSON value as the cell a CSV would hold: ids stay digits (1.0e13 is '10000000000000')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _read_json(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    for encoding in CSV_ENCODINGS:
        try:
            doc = json.loads(path.read_text(encoding=encoding))
            break
        except UnicodeDecodeError:
            continue
        except json.JSONDecodeError as exc:
            raise LoadError(f"cannot read {path.name}: not JSON ({exc})") from exc
    else:
        raise LoadError(f"cannot read {path.name}: not UTF-8 or GB18030 text")
    orders = doc.get("orders") if isinstance(doc, dict) else doc
    if not isinstance(orders, list):
        raise LoadError(f'{path.name}: expected an array of work orders or {{"orders": [...]}}')
    for pos, order in enumerate(orders, start=1):
        if not isinstance(order, dict):
            raise LoadError(f"{path.name}: work order {pos} is not an object")
    header = list(dict.fromkeys(key for order in orders for key in order))
    return header, [{key: _text(value) for key, value in order.items()} for order in orders]


def read_orders(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of text cells from CSV (UTF-8 with or without BOM, or GB18030) or JSON."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"cannot read {path}: no such file")
    if path.suffix.lower() == ".json":
        return _read_json(path)
    frame = read_csv_text(path)
    return [str(c) for c in frame.columns], frame.to_dict("records")


def resolve_columns(header: list[str]) -> dict[str, list[str]]:
    """field -> the file's headers for it, in preference order; a file missing a required field is refused."""
    by_name: dict[str, str] = {}
    for name in header:
        by_name.setdefault(normalized(name), name)
    found = {f: [by_name[normalized(a)] for a in names if normalized(a) in by_name] for f, names in COLUMNS.items()}
    missing = [f for f in REQUIRED if not found[f]]
    if not found["address"] and not (found["lon"] and found["lat"]):
        missing.append("address")
    if missing:
        wanted = "; ".join(f"{f} ({' or '.join(COLUMNS[f])})" for f in missing)
        extra = " or 经度/纬度 (lon/lat) columns" if "address" in missing else ""
        raise LoadError(f"missing column(s): {wanted}{extra}; nothing was imported")
    return found


def parse_time(value: str) -> datetime:
    """ISO, slashed or 年月日 times; without an offset they are Beijing time. 10/13 digits: Unix s/ms."""
    value = value.strip()
    if value.isdigit() and len(value) in (10, 13):
        return datetime.fromtimestamp(int(value) / (1000 if len(value) == 13 else 1), timezone.utc)
    match = _TIME.fullmatch(value.translate(_CHINESE_TIME).rstrip(" :"))
    if not match:
        raise ValueError(f"time {value!r} is not a date and time such as 2026-11-01 08:30")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset is None:
        tz = BEIJING
    elif offset.upper() == "Z":
        tz = timezone.utc
    else:
        sign = -1 if offset[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[-2:])))
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        int((fraction or "0").ljust(6, "0")), tzinfo=tz)
    except ValueError as exc:
        raise ValueError(f"time {value!r} is not a real date and time ({exc})") from None


def parse_coordinates(lon: str, lat: str, labels: tuple[str, str]) -> tuple[float, float] | None:
    """Both blank, or both 0 (a common 'not geocoded' placeholder): None."""
    if not lon and not lat:
        return None
    if not lon or not lat:
        raise ValueError(f"{labels[0 if not lon else 1]} is blank but {labels[1 if not lon else 0]} is not")
    numbers = []
    for cell, label in zip((lon, lat), labels):
        try:
            number = float(cell)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(f"{label} {cell!r} is not a number")
        numbers.append(number)
    return None if numbers == [0.0, 0.0] else (numbers[0], numbers[1])


def crs_of(value: str, default: str) -> str:
    """The CRS a 坐标系/crs cell names ("百度坐标" is bd09), or `default` for a blank cell."""
    key = normalized(value)
    return next((crs for word, crs in CRS_WORDS.items() if word in key), key) if key else default


def cell_of(row: dict[str, str], columns: dict[str, list[str]], name: str) -> str:
    """A field's first non-blank cell among the file's headers for it, stripped."""
    return next((v.strip() for v in (row.get(h) or "" for h in columns[name]) if v.strip()), "")
