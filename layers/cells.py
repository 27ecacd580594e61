"""Cells (网格) and dedicated grids (专属网格): the finest grids, which every pin belongs to."""
from layers.catalogue import LegendEntry
from layers.grids import grid_layer

LAYER = grid_layer(
    "cells", "网格", "cells", "g.level = 'cell'", minzoom=11,
    style={"color": "#5d6d7e", "weight": 1, "fillOpacity": 0.05, "label": "name",
           "dedicated": {"color": "#8e44ad", "weight": 2, "dashArray": "4 3"}},
    legend=(LegendEntry("网格", "cell", "#5d6d7e", "line"),
            LegendEntry("专属网格（学校、医院、市场）", "dedicated grid (school, hospital, market)", "#8e44ad", "line")),
)
