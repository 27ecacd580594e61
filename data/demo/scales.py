"""How big each demo city is: one table of counts, so tests, demo and benchmarks differ only here."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType

DEFAULT_AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)  # fixed, so the seed alone decides the city


@dataclass(frozen=True)
class Scale:
    name: str
    streets: int
    communities: int
    households: int
    households_per_cell: int
    dedicated: int
    events: int
    hotspots: int
    compound_households: int
    length_m: float
    width_m: float


SCALES = MappingProxyType({
    "tiny": Scale("tiny", streets=1, communities=3, households=400, households_per_cell=34, dedicated=1,
                  events=1_000, hotspots=2, compound_households=30, length_m=3_000, width_m=1_200),
    "demo": Scale("demo", streets=4, communities=24, households=23_000, households_per_cell=150, dedicated=10,
                  events=100_000, hotspots=6, compound_households=220, length_m=22_000, width_m=4_500),
    "city": Scale("city", streets=12, communities=90, households=350_000, households_per_cell=380, dedicated=24,
                  events=1_000_000, hotspots=10, compound_households=300, length_m=40_000, width_m=7_000),
})


def get_scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}") from None
