"""Photos attached to reports: checked to be real images of a known type, stored on disk, listed in the ledger.

Files live under `settings.media_dir` as `<event id>/<sha256>.<ext>`, written to a temporary name and
renamed, so a half-written upload never has a row and a retried upload is the same file.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import Connection, text

from data.errors import NotFound, Refused
from data.settings import Settings

# what the first bytes must be; the declared Content-Type is not trusted
SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg", "jpg"), (b"\x89PNG\r\n\x1a\n", "image/png", "png"))
MAX_PHOTOS = 6
MAX_PIXELS = 50_000_000  # a decompression bomb is refused before it is decoded


def _kind(head: bytes) -> tuple[str, str] | None:
    for magic, content_type, ext in SIGNATURES:
        if head.startswith(magic):
            return content_type, ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def checked_image(data: bytes, name: str, limit: int) -> tuple[str, str]:
    """(content type, extension) of an upload that is a real JPEG/PNG/WebP within `limit` bytes."""
    if len(data) > limit:
        raise Refused(f"photo {name!r} is larger than {limit // (1024 * 1024)} MB", "photos", status=413)
    kind = _kind(data[:12])
    if kind is None or not data:
        raise Refused(f"photo {name!r} is not a JPEG, PNG or WebP image", "photos", status=415)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise Refused(f"photo {name!r} has more than {MAX_PIXELS:,} pixels", "photos", status=413)
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise Refused(f"photo {name!r} is damaged or not an image", "photos", status=415) from None
    return kind


def read_uploads(files, settings: Settings) -> list[tuple[str, bytes, str, str]]:
    """(name, bytes, content type, extension) of each upload, all checked before anything is written."""
    files = [f for f in files if f and f.filename]
    if len(files) > MAX_PHOTOS:
        raise Refused(f"at most {MAX_PHOTOS} photos per report", "photos", status=413)
    out = []
    for f in files:
        data = f.stream.read(settings.max_photo_bytes + 1)
        out.append((f.filename, data, *checked_image(data, f.filename, settings.max_photo_bytes)))
    return out


def save_photos(conn: Connection, settings: Settings, event_id: int, uploads, uploaded_by: str) -> list[int]:
    """Write uploads already checked by read_uploads to disk and list them on the event; returns the photo ids."""
    root = Path(settings.media_dir)
    ids = []
    for _name, data, content_type, ext in uploads:
        digest = hashlib.sha256(data).hexdigest()
        relative = f"{event_id}/{digest}.{ext}"
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            partial = target.with_suffix(f".{os.getpid()}.part")
            with open(partial, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # a committed row must never point at a file the crash cut short
            os.replace(partial, target)
        ids.append(conn.execute(text(
            "INSERT INTO event_photo (event_id, path, content_type, bytes, sha256, uploaded_by) "
            "VALUES (:e, :p, :t, :b, :s, :u) ON CONFLICT (path) DO UPDATE SET uploaded_at = event_photo.uploaded_at "
            "RETURNING id"),
            {"e": event_id, "p": relative, "t": content_type, "b": len(data), "s": digest, "u": uploaded_by}).scalar_one())
    return ids


def photo_file(conn: Connection, settings: Settings, event_id: int, photo_id: int) -> tuple[Path, str]:
    """The file and content type of one photo of one event."""
    row = conn.execute(text("SELECT path, content_type FROM event_photo WHERE id = :p AND event_id = :e"),
                       {"p": photo_id, "e": event_id}).first()
    if row is None or not (Path(settings.media_dir) / row[0]).is_file():
        raise NotFound(f"event {event_id} has no photo {photo_id}")
    return (Path(settings.media_dir) / row[0]).resolve(), row[1]


def photo_ids(conn: Connection, event_id: int) -> list[int]:
    return list(conn.execute(text("SELECT id FROM event_photo WHERE event_id = :e ORDER BY id"),
                             {"e": event_id}).scalars())
