"""Communities (社区/村): the middle grids."""
from layers.catalogue import LegendEntry
from layers.grids import grid_layer

LAYER = grid_layer(
    "communities", "社区", "communities", "g.level = 'community'", minzoom=10,
    style={"color": "#2e86c1", "weight": 2, "fillOpacity": 0.0, "label": "name"},
    legend=(LegendEntry("社区边界", "community boundary", "#2e86c1", "line"),),
)
