"""Situation (态势): every grid coloured by its open events — green none, yellow open, red overdue or major.

Streets when zoomed out, communities in between, cells up close; a grid counts the open events of its
whole subtree (pins point at leaf grids), so a street is red when any of its cells is. Only grids in
the caller's scope are drawn, hence only their events counted. Event filters (category, time…) apply.
"""
from data.generalize import BANDS, FINEST_BAND_ZOOM
from layers.catalogue import Band, Layer, LegendEntry
from layers.events import CLOSED

COLUMNS = ("code", "name", "level", "open", "overdue", "major", "situation")

# open events only, so the join reads the few live cases, not the archive
_SQL = f"""
WITH g AS (
  SELECT g.id, g.code, g.name, g.level, g.path, {{shape}} AS geom
  FROM grid g {{join}}, env
  WHERE g.valid_to IS NULL AND g.level = '{{level}}' AND g.geom && env.bbox {{{{in_scope_grid:g.path}}}}
), c AS (
  SELECT g.id, count(*) AS open, count(*) FILTER (WHERE e.overdue) AS overdue,
         count(*) FILTER (WHERE e.is_major) AS major
  FROM g JOIN grid leaf ON leaf.path <@ g.path JOIN event e ON e.grid_id = leaf.id
  WHERE e.status NOT IN {CLOSED} {{{{filters}}}} {{{{in_department:e}}}}
  GROUP BY g.id
)
SELECT g.code, g.name, g.level, coalesce(c.open, 0) AS open, coalesce(c.overdue, 0) AS overdue,
       coalesce(c.major, 0) AS major,
       CASE WHEN c.overdue > 0 OR c.major > 0 THEN 'red' WHEN c.open > 0 THEN 'yellow' ELSE 'green' END
         AS situation, g.geom
FROM g LEFT JOIN c ON c.id = g.id
"""


def _band(minzoom: int, maxzoom: int, level: str) -> Band:
    shape_band = next((b for b, (top, _) in sorted(BANDS.items()) if maxzoom <= top), None)
    if maxzoom >= FINEST_BAND_ZOOM or shape_band is None:
        shape, join = "g.geom", ""
    else:  # a grid added since the last refresh falls back to its own geometry rather than vanishing
        shape = "coalesce(s.geom, g.geom)"
        join = f"LEFT JOIN grid_shape s ON s.grid_id = g.id AND s.band = {shape_band}"
    return Band(minzoom, maxzoom, _SQL.format(shape=shape, join=join, level=level), COLUMNS)


COLORS = {"green": "#2ca02c", "yellow": "#f1c40f", "red": "#d62728"}

LAYER = Layer(
    id="situation", title="态势", title_en="situation", geometry="polygon", reads=("grid", "grid_shape", "event"),
    bands=(_band(8, 10, "street"), _band(11, 12, "community"), _band(13, 13, "cell"), _band(14, 22, "cell")),
    properties={"*": COLUMNS},
    style={"situation": COLORS, "weight": 1, "color": "#ffffff", "fillOpacity": 0.45, "label": "name"},
    legend=(LegendEntry("无待办事件", "no open events", COLORS["green"], "fill"),
            LegendEntry("有待办事件", "open events", COLORS["yellow"], "fill"),
            LegendEntry("超期或重大事件", "overdue or major open events", COLORS["red"], "fill")),
    filters=("category", "source", "from", "to", "level", "department"),
    description="Streets to zoom 10, communities to 12, cells from 13; counts of open events in each subtree.",
)
