"""`minqing pii init|rotate|retire` and `minqing purge`: the operator's side of personal data."""
from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from data import pii, pii_store, retention
from data.errors import ConfigError
from data.settings import Settings


def _engine():
    from mapserver.cli import _engine as batch_engine  # no statement timeout: a rotation may take minutes

    return batch_engine()


@click.group("pii")
def pii_group() -> None:
    """Keys of the personal data sealed at rest (file named by MINQING_PII_KEYS, mode 600)."""


@pii_group.command("init")
def init() -> None:
    """Create the key file if it is missing (the demo and loaders do this on first use too)."""
    path = Settings.from_env().pii_keys
    keys = pii.load_or_create(path)
    click.echo(f"{path}: keys {sorted(keys.keys)}, sealing with key {keys.active}")


@pii_group.command("rotate")
def rotate() -> None:
    """Add a new key, then re-seal every value under it; old keys stay in the file until `retire`."""
    path = Settings.from_env().pii_keys
    try:
        keys = pii.load(path).rotated()
    except ConfigError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    pii.save(keys, path)  # the file first: a value is never sealed under a key that is not yet on disk
    with _engine().begin() as conn:
        done = pii_store.reseal(conn, keys)
    click.echo(f"key {keys.active} active; {done:,} values re-sealed")


@pii_group.command("retire")
def retire() -> None:
    """Drop from the file the keys no stored value is sealed under any more."""
    path = Settings.from_env().pii_keys
    keys = pii.load(path)
    with _engine().connect() as conn:
        used = pii_store.key_ids_in_use(conn)
    unused = sorted(set(keys.keys) - set(used) - {keys.active})
    pii.save(keys.retired(unused), path)
    click.echo(f"retired keys {unused or 'none'}; in use: {dict(sorted(used.items()))}")


@click.command("purge")
@click.option("--days", type=int, default=None,
              help="Retention after a case is closed or rejected (default MINQING_CONTACT_RETENTION_DAYS).")
@click.option("--now", default=None, help="Pretend it is this ISO 8601 time (UTC if no offset).")
def purge_command(days, now) -> None:
    """Forget reporters' names and contacts of cases finished longer ago than the retention period."""
    days = Settings.from_env().contact_retention_days if days is None else days
    if days < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--days")
    when = None
    if now:
        try:
            when = datetime.fromisoformat(now)
        except ValueError:
            raise click.BadParameter(f"{now!r} is not an ISO 8601 time", param_hint="--now") from None
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    with _engine().begin() as conn:
        n = retention.purge_contacts(conn, days, when)
    click.echo(f"reporters' contact details purged from {n:,} cases finished more than {days} days ago")
