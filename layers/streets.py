"""Streets (街道): the big grids, outlined for the whole city."""
from layers.catalogue import LegendEntry
from layers.grids import grid_layer

LAYER = grid_layer(
    "streets", "街道", "streets", "g.level = 'street'", minzoom=8,
    style={"color": "#1f3a93", "weight": 3, "fillOpacity": 0.0, "label": "name"},
    legend=(LegendEntry("街道边界", "street boundary", "#1f3a93", "line"),),
)
