"""Benchmark: generate and load a demo city, against the plain-COPY floor measured in the same run.

    .venv/bin/python bench/load.py               # city scale: ~1 M residents, ~1 M events
    .venv/bin/python bench/load.py --scale demo  # a quicker look

Uses a scratch database `minqing_bench` on the server in DATABASE_URL (dropped and made again).
The floor is the same frames, through the same client path (formatting + COPY), into tables made
`LIKE` the real ones: no indexes, no constraints, no triggers, so no grid assignment.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402
from tqdm import tqdm  # noqa: E402

from data import migrate  # noqa: E402
from data.bulk import copy_frame  # noqa: E402
from data.db import make_engine  # noqa: E402
from data.demo.city import generate  # noqa: E402
from data.demo.load import ORDER, as_copy_frame, load  # noqa: E402
from data.provision import fresh_database  # noqa: E402

PINNED = ("house", "place", "thing", "organization", "event", "visit")
TARGET_PINNED_RATE = 50_000
TARGET_RATIO = 3.0


def floor_rates(engine, city) -> dict[str, float]:
    """Rows per second into bare copies of each table, in one transaction that is rolled back."""
    rates = {}
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur, tqdm(total=sum(len(city.tables[t]) for t in ORDER), desc="floor", unit="row") as bar:
            for table in ORDER:
                frame = as_copy_frame(table, city.tables[table])
                cur.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING IDENTITY INCLUDING DEFAULTS)")
                started = time.perf_counter()
                copy_frame(cur, f"floor_{table}", frame, progress=bar.update)
                rates[table] = len(frame) / max(time.perf_counter() - started, 1e-9)
    finally:
        raw.rollback()
        raw.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="city", choices=["tiny", "demo", "city"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    settings = fresh_database("minqing_bench")
    engine = make_engine(settings)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        server = conn.execute(text("SELECT version()")).scalar_one().split(" on ")[0]

    started = time.perf_counter()
    city = generate(args.scale, seed=args.seed, as_of=datetime(2026, 11, 1, tzinfo=timezone.utc))
    generated = time.perf_counter() - started
    floor = floor_rates(engine, city)
    started = time.perf_counter()
    real = load(engine, city, progress=True)
    loaded = time.perf_counter() - started
    engine.dispose()

    print(f"\n## Load benchmark — scale `{args.scale}`, seed {args.seed}; {server}\n")
    print("| table | rows | load rows/s | floor rows/s | load / floor |")
    print("|---|---:|---:|---:|---:|")
    for table in ORDER:
        rows = len(city.tables[table])
        print(f"| {table}{' (pinned)' if table in PINNED else ''} | {rows:,} | {real[table]:,.0f} | "
              f"{floor[table]:,.0f} | {floor[table] / real[table]:.2f}× slower |")
    pinned_rows = sum(len(city.tables[t]) for t in PINNED)
    pinned_time = sum(len(city.tables[t]) / real[t] for t in PINNED)
    floor_time = sum(len(city.tables[t]) / floor[t] for t in PINNED)
    pinned_rate = pinned_rows / pinned_time
    ratio = pinned_time / floor_time
    print(f"\ngenerate: {generated:.1f} s; load (all tables, indexes, ANALYZE): {loaded:.1f} s")
    print(f"pinned rows incl. grid assignment: {pinned_rows:,} at {pinned_rate:,.0f} rows/s "
          f"(target ≥ {TARGET_PINNED_RATE:,}: {'met' if pinned_rate >= TARGET_PINNED_RATE else 'MISSED'})")
    print(f"pinned load vs plain COPY floor: {ratio:.2f}× (target ≤ {TARGET_RATIO}×: "
          f"{'met' if ratio <= TARGET_RATIO else 'MISSED'})")


if __name__ == "__main__":
    main()
