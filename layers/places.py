"""Places (场所): schools, clinics, markets…; key places (重点场所) marked."""
from layers.catalogue import Layer, LegendEntry
from layers.points import pinned_layer_bands

COLUMNS = ("id", "name", "kind", "is_key")

LAYER = Layer(
    id="places", title="场所", title_en="places", geometry="point", reads=("grid", "place"),
    bands=pinned_layer_bands(
        "place", "p.id, p.name, p.kind, p.is_key", COLUMNS, points_from=12,
        count_sql="count(*) AS count, count(*) FILTER (WHERE p.is_key) AS key_places",
        count_columns=("count", "key_places")),
    properties={"*": ("code", "name", "count", "key_places", *COLUMNS)},
    style={"color": "#2874a6", "radius": 5, "is_key": {"color": "#c0392b", "radius": 7}},
    legend=(LegendEntry("场所", "place", "#2874a6"), LegendEntry("重点场所", "key place", "#c0392b")),
)
