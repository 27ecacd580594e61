"""Residents (人口): never individual people — counts per grid, then per building, with tag breakdowns.

Roles without person-level access get totals and service tags only; key-person and other sensitive
counts are absent from their tiles, not merely hidden by style.
"""
from data.vocab import PERSON_LEVEL_ROLES, STAFF_USER_ROLES
from layers.catalogue import Band, Layer, LegendEntry
from layers.points import per_cell_band

SUMS = """sum(s.residents) AS count, sum(s.households) AS households, sum(s.elderly_alone) AS elderly_alone,
  sum(s.left_behind_children) AS left_behind_children, sum(s.subsistence) AS subsistence,
  sum(s.disabled) AS disabled, sum(s.floating) AS floating, sum(s.key_persons) AS key_persons"""
COUNT_COLUMNS = ("count", "households", "elderly_alone", "left_behind_children", "subsistence", "disabled",
                 "floating", "key_persons")
PUBLIC = ("code", "name", "count", "households")
STAFF = (*PUBLIC, "elderly_alone", "left_behind_children")  # per grid: what the command centre plans with

# house_residents is kept by triggers on person and household (migration 0004), so no tile joins people
PER_HOUSE = f"""
SELECT h.address AS name, {SUMS}, h.geom
FROM house h JOIN house_residents s ON s.house_id = h.id, env
WHERE h.geom && env.bbox {{in_scope_pin:h.grid_id}}
GROUP BY h.id
"""

LAYER = Layer(
    id="residents", title="人口", title_en="residents", geometry="point", reads=("grid", "house", "household", "person"),
    bands=(
        per_cell_band(8, 15, f"SELECT h.grid_id, {SUMS} FROM house h JOIN house_residents s ON s.house_id = h.id "
                             "WHERE h.grid_id IN (SELECT id FROM placed) GROUP BY h.grid_id", COUNT_COLUMNS),
        # one building's tag counts can point at one person: only roles that may see people get them
        Band(16, 22, PER_HOUSE, ("name", *COUNT_COLUMNS),
             properties={"*": ("name", "count", "households"),
                         **{role: ("name", *COUNT_COLUMNS) for role in PERSON_LEVEL_ROLES}}),
    ),
    properties={"*": PUBLIC, **{role: STAFF for role in STAFF_USER_ROLES},
                **{role: ("code", "name", *COUNT_COLUMNS) for role in PERSON_LEVEL_ROLES}},
    style={"color": "#b9770e", "radius_by": "count", "elderly_alone": "#cb4335"},
    small_counts=("elderly_alone", "left_behind_children", "subsistence", "disabled", "key_persons"),
    legend=(LegendEntry("常住人口（按网格/楼栋汇总）", "residents, counted per grid or building", "#b9770e"),
            LegendEntry("独居老人", "elderly living alone", "#cb4335")),
)
