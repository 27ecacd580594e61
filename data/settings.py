"""Typed settings, built by whoever starts the program (CLI, app, notebook), never at import."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from data.errors import ConfigError
from data.stored_secrets import stored_secret

DEFAULT_DATABASE_URL = "postgresql://minqing:minqing@127.0.0.1:5432/minqing"
# the datums a basemap may be drawn in: CGCS2000 (Tianditu) is WGS 84 within centimetres at map scales;
# GCJ-02 (AMap, Tencent) is offset by hundreds of metres, so overlays are shifted to match it
BASEMAP_DATUMS = ("wgs84", "cgcs2000", "gcj02")


def sqlalchemy_url(url: str) -> str:
    """Pin the psycopg 3 driver whatever spelling of a PostgreSQL URL we are given."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ConfigError(f"DATABASE_URL must be a postgresql:// URL, got {url.split(':', 1)[0]}:…")


def household_band(raw: str) -> tuple[int, int]:
    """"300-500" -> (300, 500); the range itself is checked with the other settings."""
    low, sep, high = raw.strip().partition("-")
    if not sep:
        raise ConfigError(f"MINQING_HOUSEHOLD_BAND must look like 300-500, got {raw!r}")
    try:
        return int(low), int(high)
    except ValueError:
        raise ConfigError(f"MINQING_HOUSEHOLD_BAND must look like 300-500, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """What the ledger needs to run; read from the environment once, then passed around."""

    database_url: str = DEFAULT_DATABASE_URL
    statement_timeout_ms: int = 60_000
    lock_timeout_ms: int = 10_000
    connect_timeout_s: int = 3  # a request during a database outage fails in this long (503), never hangs
    exports_per_hour: int = 60  # per user: an export streams the whole selection, so a loop of them is a scrape
    pool_size: int = 5
    media_dir: str = "var/media"  # photos attached to reports; served only to staff in scope and the reporter
    max_photo_bytes: int = 8 * 1024 * 1024
    qr_secret: str = ""  # signs QR report links; empty: generated once into qr_secret_file (with_stored_secrets)
    qr_secret_file: str = "var/qr_secret"
    public_url: str = "http://127.0.0.1:5000"  # what printed QR codes point at
    tick_seconds: int = 60  # how often the server runs `tick`; 0 = never (tests, or a cron job instead)
    basemap_url: str = ""  # XYZ or WMTS-KVP template with {z} {x} {y}; empty: the grid layers are the base (offline)
    basemap_attribution: str = ""
    basemap_datum: str = "wgs84"  # one of BASEMAP_DATUMS
    basemap_maxzoom: int = 18
    walk_speed_m_per_min: float = 80.0  # service reach (15分钟生活圈): 80 m/min x 15 min = 1,200 m straight line
    household_band: tuple[int, int] = (300, 500)  # households per full-time grid worker considered right
    pii_keys: str = "var/pii_keys.json"  # personal-data keys: a file outside the database, mode 600, never committed
    contact_retention_days: int = 180  # reporters' name and contact are purged this long after the case closes
    secret_key: str = ""  # signs session cookies; empty: generated once into secret_key_file (demo)
    secret_key_file: str = "var/secret_key"
    cookie_secure: bool = False  # session cookie only over HTTPS; set MINQING_COOKIE_SECURE=1 behind TLS
    demo_login: bool = False  # X-Demo-User / ?as= name an account without a password: tests only, never production
    login_attempts_per_ip: int = 60  # per 15 minutes, any names: one address spraying a password over accounts
    login_checks: int = 4  # password checks at once per process (argon2id: 64 MiB each); more wait: 503
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto/-Host are believed (ProxyFix)

    def __post_init__(self):
        if not 10 <= self.walk_speed_m_per_min <= 300:
            raise ConfigError(f"MINQING_WALK_SPEED must be between 10 and 300 metres a minute, "
                              f"got {self.walk_speed_m_per_min}")
        low, high = self.household_band
        if not 0 < low <= high:
            raise ConfigError(f"MINQING_HOUSEHOLD_BAND must be low-high with 0 < low <= high, got {low}-{high}")
        if self.basemap_datum not in BASEMAP_DATUMS:
            raise ConfigError(f"MINQING_BASEMAP_DATUM must be one of {', '.join(BASEMAP_DATUMS)}, "
                              f"got {self.basemap_datum!r}")
        if self.contact_retention_days < 0:
            raise ConfigError(f"MINQING_CONTACT_RETENTION_DAYS must be 0 or more, got {self.contact_retention_days}")
        if not 0 <= self.basemap_maxzoom <= 22:
            raise ConfigError(f"MINQING_BASEMAP_MAXZOOM must be between 0 and 22, got {self.basemap_maxzoom}")
        if self.login_attempts_per_ip < 1 or not 1 <= self.login_checks <= 64:
            raise ConfigError("MINQING_LOGIN_ATTEMPTS_PER_IP must be 1 or more and MINQING_LOGIN_CHECKS 1-64")
        if not 0 <= self.trusted_proxies <= 5:
            raise ConfigError(f"MINQING_TRUSTED_PROXIES must be between 0 and 5, got {self.trusted_proxies}")
        if self.basemap_url and not all(f"{{{part}}}" in self.basemap_url for part in "xyz"):
            raise ConfigError("MINQING_BASEMAP_URL must be a tile URL template with {z}, {x} and {y}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        try:
            return cls(
                database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
                statement_timeout_ms=int(env.get("MINQING_STATEMENT_TIMEOUT_MS", 60_000)),
                lock_timeout_ms=int(env.get("MINQING_LOCK_TIMEOUT_MS", 10_000)),
                connect_timeout_s=int(env.get("MINQING_CONNECT_TIMEOUT_S", 3)),
                exports_per_hour=int(env.get("MINQING_EXPORTS_PER_HOUR", 60)),
                pool_size=int(env.get("MINQING_POOL_SIZE", 5)),
                media_dir=env.get("MINQING_MEDIA_DIR") or "var/media",
                max_photo_bytes=int(env.get("MINQING_MAX_PHOTO_BYTES", 8 * 1024 * 1024)),
                qr_secret=env.get("MINQING_QR_SECRET") or "",
                qr_secret_file=env.get("MINQING_QR_SECRET_FILE") or "var/qr_secret",
                public_url=(env.get("MINQING_PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/"),
                tick_seconds=int(env.get("MINQING_TICK_SECONDS", 60)),
                basemap_url=(env.get("MINQING_BASEMAP_URL") or "").strip(),
                basemap_attribution=env.get("MINQING_BASEMAP_ATTRIBUTION") or "",
                basemap_datum=(env.get("MINQING_BASEMAP_DATUM") or "wgs84").strip().lower(),
                basemap_maxzoom=int(env.get("MINQING_BASEMAP_MAXZOOM", 18)),
                walk_speed_m_per_min=float(env.get("MINQING_WALK_SPEED", 80)),
                household_band=household_band(env.get("MINQING_HOUSEHOLD_BAND") or "300-500"),
                pii_keys=env.get("MINQING_PII_KEYS") or "var/pii_keys.json",
                contact_retention_days=int(env.get("MINQING_CONTACT_RETENTION_DAYS", 180)),
                secret_key=env.get("MINQING_SECRET_KEY") or "",
                secret_key_file=env.get("MINQING_SECRET_KEY_FILE") or "var/secret_key",
                cookie_secure=env.get("MINQING_COOKIE_SECURE", "0") == "1",
                demo_login=env.get("MINQING_DEMO_LOGIN", "0") == "1",
                login_attempts_per_ip=int(env.get("MINQING_LOGIN_ATTEMPTS_PER_IP", 60)),
                login_checks=int(env.get("MINQING_LOGIN_CHECKS", 4)),
                trusted_proxies=int(env.get("MINQING_TRUSTED_PROXIES", 0)),
            )
        except ValueError as exc:
            raise ConfigError(f"bad numeric setting: {exc}") from exc

    def with_stored_secrets(self) -> "Settings":
        """These settings with an unset QR secret read from (or generated into) its file: never a constant."""
        return self if self.qr_secret else replace(self, qr_secret=stored_secret(Path(self.qr_secret_file)))

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.database_url)
