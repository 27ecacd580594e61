"""Grid coverage gaps (覆盖缺口): parts of the district no current cell covers, and cells that overlap.

Both should be empty, so the area checked is drawn too (kind `checked`, an outline); a tile shows what lies in its own extent, so a gap's `area_m2` is the part in view
(an overlap's is the whole pair's). Areas in the district's UTM zone, as in data/coverage.grid_coverage.
"""
from data.coverage import GRID_SQL, for_tile
from layers.catalogue import Band, Layer, LegendEntry

COLUMNS = ("kind", "cells", "area_m2")
COLORS = {"gap": "#e74c3c", "overlap": "#8e44ad", "checked": "#2c3e50"}

LAYER = Layer(
    id="coverage_gaps", title="网格覆盖缺口", title_en="grid coverage gaps", geometry="polygon",
    reads=("grid",),
    bands=(Band(8, 22, for_tile(GRID_SQL.replace("{clip}", "ST_Intersection(u.geom, env.bbox)")), COLUMNS),),
    properties={"*": COLUMNS},
    style={"kind": COLORS, "checked": {"fillOpacity": 0, "weight": 1}, "weight": 2, "color": "#000000", "fillOpacity": 0.6},
    legend=(LegendEntry("检查范围（无缺口、无重叠时仅此轮廓）", "area checked (only this outline when no gaps or overlaps)",
                        COLORS["checked"], "line"),
            LegendEntry("无网格覆盖", "covered by no cell", COLORS["gap"], "fill"),
            LegendEntry("网格重叠", "cells overlapping", COLORS["overlap"], "fill")),
    description="Should be empty: every point of the district in exactly one finest-level grid.",
)
