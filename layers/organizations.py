"""Organizations (组织): party branches, property companies, owners' committees, social organizations."""
from layers.catalogue import Layer, LegendEntry
from layers.points import pinned_layer_bands

COLUMNS = ("id", "name", "kind", "members")

LAYER = Layer(
    id="organizations", title="组织", title_en="organizations", geometry="point", reads=("grid", "organization"),
    bands=pinned_layer_bands(
        "organization", "p.id, p.name, p.kind, p.members", COLUMNS, points_from=13,
        count_sql="count(*) AS count, count(*) FILTER (WHERE p.kind = 'party_branch') AS party_branches",
        count_columns=("count", "party_branches")),
    properties={"*": ("code", "name", "count", "party_branches", *COLUMNS)},
    style={"color": "#6c3483", "radius": 4, "party_branch": "#c0392b"},
    legend=(LegendEntry("组织", "organization", "#6c3483"), LegendEntry("党组织", "party organisation", "#c0392b")),
)
