"""Benchmark: the analyses of issue 7 at city scale (`minqing_bench`): coverage (and hotspots).

    .venv/bin/python bench/load.py        # first: the city in `minqing_bench`
    .venv/bin/python bench/analysis.py [--part coverage] [--repeat 3]

Each computation runs once cold, then `--repeat` times warm; the best warm time is printed.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import make_url, text  # noqa: E402

from data.db import make_engine  # noqa: E402
from data.settings import Settings  # noqa: E402


def timed(label: str, fn, repeat: int) -> object:
    start = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - start)
    print(f"  {label:<44} cold {cold:7.2f} s   warm {min(warm) if warm else cold:7.2f} s")
    return result


def coverage_part(engine, repeat: int) -> None:
    """The four coverage analyses over the whole city, as an unrestricted caller asks them."""
    from data import coverage, coverage_reach, coverage_visits

    with engine.connect() as conn:
        counts = conn.execute(text(
            "SELECT (SELECT count(*) FROM grid WHERE valid_to IS NULL AND level = 'cell'), "
            "(SELECT count(*) FROM household), (SELECT count(*) FROM person), (SELECT count(*) FROM visit)")).one()
        print(f"coverage on {counts[0]:,} cells, {counts[1]:,} households, {counts[2]:,} residents, "
              f"{counts[3]:,} visits")
        grid = timed("grid gaps and overlaps", lambda: coverage.grid_coverage(conn), repeat)
        print(f"    gap {grid['gap_m2']} m², overlap {grid['overlap_m2']} m² of {grid['area_m2']:,.0f} m² "
              f"(EPSG:{grid['srid']})")
        now = datetime.now(timezone.utc)
        visits = timed("visits, 90 days, with the key-household list",
                       lambda: coverage_visits.visit_coverage(conn, now, 90, "admin"), repeat)
        print(f"    {visits['totals']['share']} visited; {len(visits['unvisited_key_households']):,} key households "
              "unvisited")
        reach = timed("service reach, 5 facility kinds, 1,200 m", lambda: coverage_reach.service_reach(conn), repeat)
        print("    " + ", ".join(f"{k} {reach['totals'][f'share_{k}']}" for k in coverage_reach.FACILITIES))
        timed("service reach, clinics only", lambda: coverage_reach.service_reach(conn, facility="clinic"), repeat)
        staff = timed("staff load", lambda: coverage.staff_load(conn), repeat)
        print("    " + ", ".join(f"{k} {staff['totals'][k]}" for k in coverage.LOADS))
        party = timed("party coverage", lambda: coverage.party_coverage(conn), repeat)
        print(f"    {len(party['totals']['without_branch'])} of {party['totals']['cells']} cells without a branch")


def hotspots_part(engine, repeat: int) -> None:
    """Gi* (999 permutations) city-wide, emerging trends over 52 weeks, the KDE surface, and the API cold vs
    stored (the API reuses a run while its parameters and the event data version match)."""
    from data import emerging, heat
    from data import hotspots as gi
    from data.selection import EventSelection
    from mapserver import create_app

    everything = EventSelection()
    with engine.connect() as conn:
        warm = time.perf_counter()
        gi.warm()
        print(f"hotspots: numba warm-up {time.perf_counter() - warm:.1f} s")
        for resolution in (8, 9):
            result = timed(f"Gi*, 999 permutations, H3 res {resolution}",
                           lambda: gi.hex_hotspots(conn, everything, resolution), repeat)
            cells = result.cells
            print(f"    {result.n_events:,} events on {len(cells):,} hexagons: {(cells.cls > 0).sum()} hot, "
                  f"{(cells.cls < 0).sum()} cold")
        timed("Gi*, 999 permutations, grid cells", lambda: gi.grid_hotspots(conn, everything), repeat)
        points = gi.events_xy(conn, everything, with_time=True)
        cells8 = gi.to_cells(points.lon.to_numpy(), points.lat.to_numpy(), 8)
        domain = gi.domain_cells(gi.district(conn), 8)
        trends = timed("emerging, 52 weeks, H3 res 8", lambda: emerging.emerging(
            cells8, points.reported_at, domain, points.reported_at.max(), 52), repeat)
        print("    " + ", ".join(f"{k} {v}" for k, v in trends.trend.value_counts().items()))
        surface = timed("KDE surface, 100 m raster, 250 m bandwidth",
                        lambda: heat.surface(points.lon.to_numpy(), points.lat.to_numpy()), repeat)
        print(f"    {len(surface):,} cells kept")
    client = create_app(Settings(database_url=engine.url.render_as_string(hide_password=False)),
                        {"TESTING": True, "MINQING_DEMO_LOGIN": True}).test_client()
    query = "/api/analysis/hotspots?resolution=8&category=noise"
    start = time.perf_counter()
    first = client.get(query + "&refresh=true")
    cold = time.perf_counter() - start
    start = time.perf_counter()
    again = client.get(query)
    stored = time.perf_counter() - start
    print(f"  {'API hotspots, computed vs stored':<44} computed {cold:5.2f} s   stored {stored:5.2f} s   "
          f"(runs {first.get_json()['run']['id']} / {again.get_json()['run']['id']})")


PARTS = {"coverage": coverage_part, "hotspots": hotspots_part}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="minqing_bench")
    parser.add_argument("--part", choices=sorted(PARTS), action="append")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.from_env()
    url = make_url(settings.sqlalchemy_url).set(database=args.database).render_as_string(hide_password=False)
    engine = make_engine(Settings(database_url=url, statement_timeout_ms=600_000))
    for name in args.part or PARTS:
        PARTS[name](engine, args.repeat)
    engine.dispose()


if __name__ == "__main__":
    main()
