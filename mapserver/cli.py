"""`minqing`: the one command for operators — schema, demo city, loading files, serving."""
from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from sqlalchemy import text

from data import migrate
from data.db import make_engine
from data.errors import LedgerError, LoadError
from data.demo.scales import DEFAULT_AS_OF
from data.settings import Settings

def _check_as_of(_ctx, _param, value: str | None) -> str | None:
    if value in (None, "now"):
        return value
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not YYYY-MM-DD, YYYY-MM-DDTHH:MM or 'now'") from None
    return value


LOAD_KINDS = ("grids", "houses", "persons", "places", "things", "organizations", "events")


def _engine():
    """Batch commands (loads, migrations) may run for minutes: no statement timeout, unlike requests."""
    return make_engine(replace(Settings.from_env(), statement_timeout_ms=0))


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what each step does.")
def cli(verbose: bool) -> None:
    """Minqing Map (民情地图): grid-based grassroots governance on PostGIS.

    The database comes from DATABASE_URL (default: the local one `make demo` sets up).
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.group()
def db() -> None:
    """Create, upgrade or reset the ledger's schema (Alembic migrations)."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    engine = _engine()
    migrate.upgrade(engine, revision)
    click.echo(f"schema at {migrate.current_revision(engine)}")


@db.command()
@click.argument("revision", default="base")
def downgrade(revision: str) -> None:
    """Undo migrations down to REVISION (default: base, i.e. drop everything)."""
    engine = _engine()
    migrate.downgrade(engine, revision)
    click.echo(f"schema at {migrate.current_revision(engine) or 'base (empty)'}")


@db.command()
@click.confirmation_option(prompt="This deletes every row of the ledger. Continue?")
def reset() -> None:
    """Drop the whole schema and create it again, empty."""
    engine = _engine()
    migrate.downgrade(engine, "base")
    migrate.upgrade(engine)
    click.echo(f"schema reset; at {migrate.current_revision(engine)}")


@db.command()
def current() -> None:
    """Print the schema revision the database is at."""
    click.echo(migrate.current_revision(_engine()) or "base (empty)")


@cli.command()
@click.option("--scale", type=click.Choice(["tiny", "demo", "city"]), default="demo", show_default=True,
              help="tiny: tests (~1k residents); demo: ~60k residents, ~100k events; city: ~1M of each.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same city, row for row.")
@click.option("--as-of", "as_of", callback=_check_as_of, default=None,
              help=f"The city's 'now' (UTC, YYYY-MM-DD[THH:MM]): a year of events ends here; 'now' is this hour. "
                   f"Default {DEFAULT_AS_OF:%Y-%m-%d}, so a seed alone fixes the city.")
@click.option("--boundary", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A real boundary (GeoJSON/GPKG/Shapefile, Polygon or MultiPolygon, any declared CRS).")
@click.option("--if-empty", is_flag=True, help="Do nothing (exit 0) when the ledger already holds a city.")
@click.option("--replace", is_flag=True, help="Empty the ledger first (drops every row).")
@click.option("--no-progress", is_flag=True, help="No progress bar (for logs and CI).")
def demo(scale, seed, as_of, boundary, if_empty, replace, no_progress) -> None:
    """Generate the demo city and load it into the ledger (migrating first if needed)."""
    from data.demo.city import default_as_of, generate
    from data.demo.load import ledger_is_empty, load

    engine = _engine()
    migrate.upgrade(engine)
    if not ledger_is_empty(engine) and not replace:
        if if_empty:
            click.echo("the ledger already holds a city; nothing to do (--if-empty)")
            _demo_passwords(engine, only_demo_city=True)  # a city loaded before logins existed still gets them
            return
        _fail("the ledger already holds a city; pass --replace to drop it, or --if-empty to keep it")
    started = time.perf_counter()
    when = None if as_of is None else (
        default_as_of() if as_of == "now" else datetime.fromisoformat(as_of).replace(tzinfo=timezone.utc))
    click.echo(f"generating the {scale} city (seed {seed})…")
    try:
        city = generate(scale, seed=seed, as_of=when, boundary=boundary)
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"generated in {time.perf_counter() - started:.1f}s: "
               + ", ".join(f"{len(city.tables[t]):,} {t}" for t in ("grid", "household", "person", "event")))
    # generated first, then emptied and loaded in one transaction: a failure leaves the old city
    load(engine, city, progress=not no_progress, replace=replace)
    _demo_passwords(engine)
    click.echo(f"demo city loaded in {time.perf_counter() - started:.1f}s (as of {city.as_of:%Y-%m-%d %H:%M} UTC)")


def _demo_passwords(engine, only_demo_city: bool = False) -> None:
    """Demo accounts without a password get the demo's; never in a city the demo generator did not make."""
    from data.users import DEMO_PASSWORD, give_demo_password

    with engine.begin() as conn:
        if only_demo_city and not conn.execute(text("SELECT EXISTS (SELECT 1 FROM demo_hotspot)")).scalar():
            return
        named = give_demo_password(conn)
    if named:
        click.echo(f"{len(named)} demo accounts (admin, commander, analyst, leader1, worker1, …) log in with "
                   f"password {DEMO_PASSWORD!r}: `minqing users list` shows them all")


@cli.command("load")
@click.argument("kind", type=click.Choice(LOAD_KINDS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--crs", help="Source CRS when the file has none or it is wrong: an EPSG code (4326, 4490, …), "
                            "'gcj02' (AMap/Tencent/WeChat) or 'bd09' (Baidu).")
@click.option("--skip-invalid", is_flag=True, help="Write the good rows; bad rows go to the rejects file.")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
              help="Where --skip-invalid writes bad rows (default: FILE.rejects.csv).")
def load_command(kind, file, crs, skip_invalid, rejects) -> None:
    """Load KIND rows from FILE (GeoJSON, GeoPackage, Shapefile, or CSV with lon/lat columns).

    Every row is checked first; by default nothing is written if any row is bad.
    """
    from data.loaders import load_file

    try:
        report = load_file(_engine(), kind, file, crs=crs, skip_invalid=skip_invalid, rejects_path=rejects,
                           progress=True)
    except LoadError as exc:
        # the message already names the first problems and says nothing was written
        _fail(str(exc))
    except LedgerError as exc:
        _fail(str(exc))
    click.echo(f"loaded {report.rows_written:,} of {report.rows_read:,} {kind} rows")
    for warning in report.warnings:
        click.secho(f"warning: {warning}", fg="yellow")
    if report.rejects:
        click.echo(f"{len(report.rejects):,} rejected rows written to {report.rejects_path}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes.")
@click.option("--threads", default=64, show_default=True, type=int,
              help="Threads per worker (gunicorn's gthread worker). Each open /stream (the live map) holds one "
                   "thread but no database connection, so workers × threads bounds live viewers plus requests "
                   "in flight: 2 × 64 holds 100+ streams.")
@click.option("--dev", is_flag=True, help="Flask's reloading development server instead of gunicorn.")
def serve(host, port, workers, threads, dev) -> None:
    """Serve the map and API over HTTP (gunicorn, threaded workers), on http://HOST:PORT."""
    if dev:
        from mapserver import create_app

        create_app().run(host=host, port=port, debug=True)
        return
    # gthread, not sync or gevent: a Server-Sent Events stream is a request that never ends, so a sync
    # worker would be taken by one viewer; gevent would need psycopg and the LISTEN thread made
    # green-safe. Threads are cheap while they wait on a queue, database connections stay bounded by the
    # pool (a stream gives its connection back before it starts), and --timeout is the worker's
    # heartbeat under gthread, not a cap on how long a stream may last. Streams never finish, so a stop
    # would always wait out the graceful timeout: 5 s, then browsers reconnect and replay what they missed.
    argv = ["gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers), "--worker-class", "gthread",
            "--threads", str(threads), "--access-logfile", "-", "--timeout", "120", "--graceful-timeout", "5",
            "mapserver.wsgi:app"]
    click.echo(f"serving on http://{host}:{port} (gunicorn, {workers} workers × {threads} threads)")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    os.execv(str(gunicorn), [str(gunicorn), *argv[1:]])


@cli.command()
@click.option("--now", "now", default=None, help="Pretend it is this ISO 8601 time (drills, replays); default: now.")
def tick(now) -> None:
    """Mark events past their stage deadline overdue and escalate them per policy (idempotent; cron-safe)."""
    from data import workflow

    when = None
    if now:
        try:
            when = datetime.fromisoformat(now)
        except ValueError:
            raise click.BadParameter(f"{now!r} is not an ISO 8601 time", param_hint="--now") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone(timedelta(hours=8)))  # people keep Beijing time
    started = time.perf_counter()
    with _engine().begin() as conn:
        result = workflow.tick(conn, when)
    click.echo(f"{result.overdue} events newly overdue, {result.escalated} escalated one level up "
               f"({time.perf_counter() - started:.2f} s)")


def _register_channel_commands() -> None:
    from mapserver.citizen import qr_command
    from mapserver.cli_analyse import analyse_group
    from mapserver.cli_import import import_group
    from mapserver.cli_users import users_group
    from mapserver.open311_keys import open311_group
    from mapserver.cli_pii import pii_group, purge_command

    for command in (qr_command, import_group, open311_group, analyse_group, users_group, pii_group,
                    purge_command):
        cli.add_command(command)


_register_channel_commands()


def main() -> None:  # pragma: no cover
    cli(prog_name="minqing")


if __name__ == "__main__":  # pragma: no cover
    main()

