"""Things (部件): hydrants, cameras, AEDs and other facilities."""
from layers.catalogue import Layer, LegendEntry
from layers.points import pinned_layer_bands

COLUMNS = ("id", "name", "kind", "in_service")

LAYER = Layer(
    id="things", title="部件", title_en="things", geometry="point", reads=("grid", "thing"),
    bands=pinned_layer_bands(
        "thing", "p.id, p.name, p.kind, p.in_service", COLUMNS, points_from=15,
        count_sql="count(*) AS count, count(*) FILTER (WHERE NOT p.in_service) AS out_of_service",
        count_columns=("count", "out_of_service")),
    properties={"*": ("code", "name", "count", "out_of_service", *COLUMNS)},
    style={"color": "#117a65", "radius": 3, "out_of_service": "#922b21"},
    legend=(LegendEntry("部件", "facility", "#117a65"), LegendEntry("故障停用", "out of service", "#922b21")),
)
