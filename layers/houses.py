"""Houses (房屋): buildings and units where households live."""
from data.vocab import STAFF_USER_ROLES
from layers.catalogue import Layer, LegendEntry
from layers.points import pinned_layer_bands

COLUMNS = ("id", "address", "compound", "kind", "floors", "households")

LAYER = Layer(
    id="houses", title="房屋", title_en="houses", geometry="point", reads=("grid", "house", "household"),
    bands=pinned_layer_bands(
        "house",
        "p.id, p.address, p.compound, p.kind, p.floors, "
        "(SELECT count(*) FROM household h WHERE h.house_id = p.id) AS households",
        COLUMNS, points_from=14),
    properties={"*": ("code", "name", "count"),
                **{role: ("code", "name", "count", *COLUMNS) for role in STAFF_USER_ROLES}},
    style={"color": "#7f8c8d", "radius": 3, "kind": {"rental": "#e67e22", "bungalow": "#a04000"}},
    legend=(LegendEntry("房屋", "house", "#7f8c8d"), LegendEntry("出租房", "rental", "#e67e22")),
)
