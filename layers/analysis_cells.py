"""What the hotspots, emerging and heat layers share: the cells of the latest stored run of one kind computed
for the caller's own scope (another scope's run would show where its events are)."""
from __future__ import annotations

from layers.catalogue import Band

_SQL = """
SELECT c.cell, c.count, {columns}, c.geom
FROM analysis_cell c, env
WHERE c.run_id = (SELECT r.id FROM analysis_run r WHERE r.kind = '{kind}' {{run_scope:r}}
                  ORDER BY r.computed_at DESC, r.id DESC LIMIT 1)
  AND c.geom && env.bbox {where}
  AND EXISTS (SELECT 1 FROM grid g WHERE g.valid_to IS NULL AND g.geom && c.geom AND ST_Intersects(g.geom, c.geom)
              {{in_scope_grid:g.path}})
"""


def latest_run_band(kind: str, columns: dict[str, str], where: str = "") -> Band:
    """Cells of the newest `kind` run for the caller's scope, kept where they touch the caller's grids."""
    selected = ", ".join(f"{sql} AS {name}" for name, sql in columns.items())
    return Band(8, 22, _SQL.format(kind=kind, columns=selected, where=where), ("cell", "count", *columns))
