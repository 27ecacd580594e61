"""What a layer is (declarative data) and the registry of all of them, keyed by id."""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from data.small_counts import THRESHOLD
from data.vocab import PERSON_LEVEL_ROLES
from layers.errors import UnknownLayer



@dataclass(frozen=True)
class Band:
    """A zoom range served one way: `sql` selects `geom` (SRID 4326) and attribute columns.

    The SQL selects FROM the CTE `env` (env.bbox: the tile and its buffer in SRID 4326; env.tile:
    the exact tile in SRID 3857) and may use :z and the filter parameters. `{filters}` becomes the
    AND-ed filter clauses the layer's own code builds (never user text); `{in_scope_pin:EXPR}` and
    `{in_scope_grid:EXPR}` become the caller's scope test on a pin's grid id or a grid's path;
    `{in_department:ALIAS}` on an event row keeps a department's own cases.
    """

    minzoom: int
    maxzoom: int
    sql: str
    columns: tuple[str, ...]  # the attributes this band's SQL selects besides geom
    aggregate: bool = False  # rows are counts, each in exactly one tile, so sums over tiles are exact
    properties: Mapping[str, tuple[str, ...]] | None = None  # narrower than the layer's, for this band only


@dataclass(frozen=True)
class LegendEntry:
    label: str
    label_en: str
    color: str
    shape: str = "circle"  # circle | fill | line


@dataclass(frozen=True)
class Layer:
    id: str
    title: str
    title_en: str
    geometry: str  # point | polygon
    bands: tuple[Band, ...]
    properties: Mapping[str, tuple[str, ...]]  # role -> visible attributes; "*" (any other role) is the least
    style: Mapping[str, object]
    legend: tuple[LegendEntry, ...]
    filters: tuple[str, ...] = ()
    reads: tuple[str, ...] = ("grid",)  # tables whose data_version makes up the tile's ETag
    description: str = ""
    attribution: str = "民情地图 Minqing Map"
    extra: Mapping[str, object] = field(default_factory=dict)
    small_counts: tuple[str, ...] = ()  # sensitive counts sent as null when 1-4 to roles that may not see people

    @property
    def minzoom(self) -> int:
        return min(b.minzoom for b in self.bands)

    @property
    def maxzoom(self) -> int:
        return max(b.maxzoom for b in self.bands)

    def band(self, z: int) -> Band | None:
        return next((b for b in self.bands if b.minzoom <= z <= b.maxzoom), None)

    def visible(self, role: str, z: int | None = None) -> tuple[str, ...]:
        """The attributes this role may receive (at zoom z); the rest never leave the database."""
        allowed = self.properties.get(role, self.properties["*"])
        if z is None:
            return allowed
        band = self.band(z)
        if band.properties is not None:
            narrower = band.properties.get(role, band.properties["*"])
            allowed = tuple(c for c in allowed if c in narrower)
        return tuple(c for c in band.columns if c in allowed)

    def value_sql(self, column: str, role: str) -> str:
        """The SQL for one attribute of `src` as this role receives it: "2 living alone here" names them to a
        neighbour, so a small sensitive count never leaves the database for a role without person access."""
        value = f'src."{column}"'
        if column in self.small_counts and role not in PERSON_LEVEL_ROLES:
            return f"CASE WHEN {value} BETWEEN 1 AND {THRESHOLD - 1} THEN NULL ELSE {value} END"
        return value



def _build() -> Mapping[str, Layer]:
    from layers import (cells, communities, coverage_gaps, emerging, events, heat, hotspots, houses, organizations,
                        party_coverage, places, residents, service_reach, situation, staff_load, streets, things,
                        visit_coverage)

    modules = (streets, communities, cells, events, residents, houses, places, things, organizations, situation,
               hotspots, emerging, heat, coverage_gaps, visit_coverage, service_reach, staff_load, party_coverage)
    out = {}
    for module in modules:
        layer = module.LAYER
        assert layer.id == module.__name__.rsplit(".", 1)[1], "one name end to end: module = layer id"
        out[layer.id] = layer
    return MappingProxyType(out)


_REGISTRY: Mapping[str, Layer] | None = None


def registry() -> Mapping[str, Layer]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _build()
    return _REGISTRY


def get(layer_id: str) -> Layer:
    try:
        return registry()[layer_id]
    except KeyError:
        raise UnknownLayer(f"unknown layer {layer_id!r}; known: {', '.join(registry())}", "layer") from None


def all_layers() -> tuple[Layer, ...]:
    return tuple(registry().values())


@functools.cache
def fingerprint() -> str:
    """Changes whenever any layer's SQL, attributes or style does, so cached tiles from an older
    catalogue are never revalidated as current."""
    return hashlib.blake2b(repr(all_layers()).encode(), digest_size=8).hexdigest()
