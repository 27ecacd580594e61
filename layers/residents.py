"""Residents (人口): never individual people — counts per grid, then per building, with tag breakdowns.

Roles without person-level access get totals and service tags only; key-person and other sensitive
counts are absent from their tiles, not merely hidden by style.
"""
from layers.catalogue import PERSON_LEVEL_ROLES, Band, Layer, LegendEntry
from layers.points import per_cell_band

COUNTS = """count(*) AS count, count(DISTINCT hh.id) AS households,
  count(*) FILTER (WHERE 'elderly_alone' = ANY(r.tags)) AS elderly_alone,
  count(*) FILTER (WHERE 'left_behind_child' = ANY(r.tags)) AS left_behind_children,
  count(*) FILTER (WHERE 'subsistence' = ANY(r.tags)) AS subsistence,
  count(*) FILTER (WHERE 'disabled' = ANY(r.tags)) AS disabled,
  count(*) FILTER (WHERE 'floating' = ANY(r.tags)) AS floating,
  count(*) FILTER (WHERE r.is_key_person) AS key_persons"""
COUNT_COLUMNS = ("count", "households", "elderly_alone", "left_behind_children", "subsistence", "disabled",
                 "floating", "key_persons")
PUBLIC = ("code", "name", "count", "households", "elderly_alone", "left_behind_children")

PER_HOUSE = f"""
SELECT h.address AS name, {COUNTS}, h.geom
FROM house h JOIN household hh ON hh.house_id = h.id JOIN person r ON r.household_id = hh.id, env
WHERE h.geom && env.bbox {{in_scope_pin:h.grid_id}}
GROUP BY h.id
"""

LAYER = Layer(
    id="residents", title="人口", title_en="residents", geometry="point", reads=("grid", "house", "household", "person"),
    bands=(
        per_cell_band(8, 15, f"SELECT {COUNTS} FROM house h JOIN household hh ON hh.house_id = h.id "
                             "JOIN person r ON r.household_id = hh.id WHERE h.grid_id = placed.id", COUNT_COLUMNS),
        Band(16, 22, PER_HOUSE, ("name", *COUNT_COLUMNS)),
    ),
    properties={"*": PUBLIC, **{role: ("code", "name", *COUNT_COLUMNS) for role in PERSON_LEVEL_ROLES}},
    style={"color": "#b9770e", "radius_by": "count", "elderly_alone": "#cb4335"},
    legend=(LegendEntry("常住人口（按网格/楼栋汇总）", "residents, counted per grid or building", "#b9770e"),
            LegendEntry("独居老人", "elderly living alone", "#cb4335")),
)
