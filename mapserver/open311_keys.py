"""`minqing open311 key create|revoke|list`: the API keys of Open311 client applications, stored only as SHA-256."""
from __future__ import annotations

import hashlib
import re
import secrets

import click
from sqlalchemy import text

from data.db import make_engine
from data.open311_codec import w3c
from data.settings import Settings

KEY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def key_digest(key: str) -> str:
    """What is stored and compared instead of the key, so a leaked table leaks no working key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@click.group("open311")
def open311_group() -> None:
    """Open311 GeoReport v2: API keys for client applications."""


@open311_group.group("key")
def key_group() -> None:
    """Issue, revoke and list the API keys of Open311 client applications."""


def _database():
    """Each command reads DATABASE_URL like the rest of `minqing`."""
    return make_engine(Settings.from_env())


@key_group.command("create")
@click.argument("name")
def key_create(name: str) -> None:
    """Issue a key for application NAME and print it once; only its SHA-256 is stored.

    A revoked NAME gets a new key; a NAME with a working key is refused (revoke it first).
    """
    if not KEY_NAME.match(name):
        raise click.BadParameter("1 to 64 letters, digits, '.', '_' or '-'", param_hint="NAME")
    key = secrets.token_urlsafe(32)
    engine = _database()
    try:
        with engine.begin() as conn:
            issued = conn.execute(text(
                "INSERT INTO api_key (name, key_sha256) VALUES (:name, :digest) ON CONFLICT (name) DO UPDATE "
                "SET key_sha256 = excluded.key_sha256, revoked = false, created_at = now() WHERE api_key.revoked "
                "RETURNING id"), {"name": name, "digest": key_digest(key)}).first()
    finally:
        engine.dispose()
    if issued is None:
        raise click.ClickException(f"{name!r} already has a working key; revoke it first")
    click.echo(key)
    click.echo(f"the api_key of {name}: store it now, it cannot be shown again", err=True)


@key_group.command("revoke")
@click.argument("name")
def key_revoke(name: str) -> None:
    """Stop accepting NAME's key at once."""
    engine = _database()
    try:
        with engine.begin() as conn:
            found = conn.execute(text("UPDATE api_key SET revoked = true WHERE name = :name RETURNING id"),
                                 {"name": name}).first()
    finally:
        engine.dispose()
    if found is None:
        raise click.ClickException(f"no key named {name!r}")
    click.echo(f"revoked {name}")


@key_group.command("list")
def key_list() -> None:
    """Each application with a key: name, when it was issued, active or revoked (never the key)."""
    engine = _database()
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT name, created_at, revoked FROM api_key ORDER BY name")).all()
    finally:
        engine.dispose()
    for name, created_at, revoked in rows:
        click.echo(f"{name}\t{w3c(created_at)}\t{'revoked' if revoked else 'active'}")
    if not rows:
        click.echo("no keys yet: minqing open311 key create NAME", err=True)
