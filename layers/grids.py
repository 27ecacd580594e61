"""What the three grid layers share: generalised polygons per band, with names for labels."""
from __future__ import annotations

from data.generalize import BANDS, FINEST_BAND_ZOOM
from layers.catalogue import Band, Layer, LegendEntry

GRID_PROPERTIES = ("code", "name", "level", "kind", "dedicated_for")

_SQL = """
SELECT g.code, g.name, g.level, g.kind, g.dedicated_for, {shape} AS geom
FROM grid g {join}, env
WHERE g.valid_to IS NULL AND {levels} AND g.geom && env.bbox
"""


def _band(minzoom: int, maxzoom: int, band: int | None, levels: str) -> Band:
    if band is None:
        sql = _SQL.format(shape="g.geom", join="", levels=levels)
    else:
        # a grid added since the last refresh falls back to its own geometry rather than vanishing
        sql = _SQL.format(shape="coalesce(s.geom, g.geom)",
                          join=f"LEFT JOIN grid_shape s ON s.grid_id = g.id AND s.band = {band}", levels=levels)
    return Band(minzoom, maxzoom, sql, GRID_PROPERTIES)


def grid_layer(layer_id: str, title: str, title_en: str, levels: str, minzoom: int, style: dict,
               legend: tuple[LegendEntry, ...]) -> Layer:
    """`levels` is a SQL predicate on g written in the layer module (e.g. g.level = 'street')."""
    bands, low = [], minzoom
    for band, (maxzoom, _) in sorted(BANDS.items()):
        if maxzoom >= low:
            bands.append(_band(low, maxzoom, band, levels))
            low = maxzoom + 1
    bands.append(_band(max(low, FINEST_BAND_ZOOM), 22, None, levels))
    return Layer(
        id=layer_id, title=title, title_en=title_en, geometry="polygon", bands=tuple(bands),
        properties={"*": GRID_PROPERTIES}, style=style, legend=legend, reads=("grid", "grid_shape"),
    )
