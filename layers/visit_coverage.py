"""Visit coverage (六必查六必访): each cell coloured by the share of its households visited in the last 90 days.

Tiles use the default window (90 days up to now); other windows and the list of unvisited key households
come from /api/analysis/coverage?kind=visits. Key-person counts only for roles that may see people.
"""
from data.coverage import for_tile
from data.coverage_visits import VISITS_SQL
from data.vocab import PERSON_LEVEL_ROLES, STAFF_USER_ROLES
from layers.catalogue import Band, Layer, LegendEntry

DAYS = 90
PUBLIC = ("code", "name", "households", "visited", "share")
STAFF = (*PUBLIC, "unvisited_elderly_alone")
PERSON = (*STAFF, "unvisited_key", "unvisited_key_person")
SQL = for_tile(VISITS_SQL.replace("{since}", f"now() - make_interval(days => {DAYS})").replace("{until}", "now()"))
STEPS = ((0.5, "#d73027"), (0.8, "#fee08b"), (1.0, "#1a9850"))

LAYER = Layer(
    id="visit_coverage", title="走访覆盖", title_en="visit coverage", geometry="polygon",
    reads=("grid", "house", "household", "person", "visit"),
    bands=(Band(11, 22, SQL, PERSON),),
    properties={"*": PUBLIC, **{role: STAFF for role in STAFF_USER_ROLES},
                **{role: PERSON for role in PERSON_LEVEL_ROLES}},
    style={"share": {"steps": [list(s) for s in STEPS], "null": "#bdbdbd"}, "weight": 1, "color": "#ffffff",
           "fillOpacity": 0.5, "label": "name"},
    small_counts=("unvisited_elderly_alone", "unvisited_key", "unvisited_key_person"),
    legend=(LegendEntry(f"近{DAYS}天走访户数占比 < 50%", f"under 50 % of households visited in {DAYS} days", STEPS[0][1],
                        "fill"),
            LegendEntry("50%–80%", "50–80 %", STEPS[1][1], "fill"),
            LegendEntry("≥ 80%", "80 % or more", STEPS[2][1], "fill"),
            LegendEntry("无住户", "no households", "#bdbdbd", "fill")),
    description=f"Share of each cell's households with a visit in the last {DAYS} days.",
)
