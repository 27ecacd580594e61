"""`minqing analyse …`: refresh the stored analyses the `hotspots`, `emerging` and `heat` layers draw."""
from __future__ import annotations

import time
from dataclasses import replace

import click

from data import analysis_runs
from data import hotspots as gi
from data.errors import LedgerError
from data.selection import EventSelection


def _engine():
    from data.db import make_engine
    from data.settings import Settings

    return make_engine(replace(Settings.from_env(), statement_timeout_ms=0))


@click.group("analyse")
def analyse_group() -> None:
    """Hot spots (Gi*), emerging trends and heat surfaces of events, stored for the map."""


@analyse_group.command("hotspots")
@click.option("--category", multiple=True, help="Event category (repeatable).")
@click.option("--source", multiple=True, help="Intake channel (repeatable).")
@click.option("--from", "start", help="ISO 8601 start (Beijing time if no offset).")
@click.option("--to", "end", help="ISO 8601 end (Beijing time if no offset).")
@click.option("--resolution", default=str(gi.DEFAULT_RESOLUTION), show_default=True, help="H3 resolution 0–15.")
@click.option("--permutations", default=str(gi.DEFAULT_PERMUTATIONS), show_default=True)
@click.option("--unit", type=click.Choice(gi.UNITS), default="h3", show_default=True)
@click.option("--weeks", default=52, show_default=True, type=int, help="Weeks of history for emerging trends.")
def hotspots_command(category, source, start, end, resolution, permutations, unit, weeks) -> None:
    """Compute Gi* hot spots, emerging trends and the heat surface for a filter, and store them."""
    from sqlalchemy import text

    engine = _engine()
    try:
        with engine.connect() as conn:
            known = conn.execute(text("SELECT code FROM event_category")).scalars().all()
        args = {"category": ",".join(category), "source": ",".join(source), "from": start, "to": end}
        selection = EventSelection.parse(args, known)
        resolution, permutations = gi.parse_resolution(resolution), gi.parse_permutations(permutations)
    except LedgerError as exc:
        raise click.BadParameter(str(exc)) from None
    steps = (("warming esda (numba)", lambda c: gi.warm()),
             (f"Gi* with {permutations} permutations ({unit}, resolution {resolution})",
              lambda c: analysis_runs.hotspots(c, selection, resolution, permutations, unit, refresh=True)),
             (f"emerging trends over {weeks} weeks", lambda c: analysis_runs.emerging(c, selection, resolution, weeks)),
             ("heat surface", lambda c: analysis_runs.heat(c, selection)))
    for label, step in steps:
        started = time.perf_counter()
        click.echo(f"{label}…", nl=False)
        with engine.begin() as conn:
            run = step(conn)
        detail = "" if run is None else f" run {run.id}, {run.n_events:,} events" + (" (stored)" if run.reused else "")
        click.echo(f" {time.perf_counter() - started:.1f} s{detail}")
