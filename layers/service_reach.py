"""Service reach (15分钟生活圈): per cell, the share of residents within a 15-minute walk of each facility kind.

One property per kind (share_clinic, share_school, …), so a map picks the kind by style, not by request.
Tiles use the default walk (80 m/min × 15 min = 1,200 m); other speeds and minutes through
/api/analysis/coverage?kind=reach. The method is in the legend: straight lines, not streets.
"""
from data.coverage import for_tile
from data.coverage_reach import FACILITIES, REACH_SQL, reach_metres
from data.settings import Settings
from layers.catalogue import Band, Layer, LegendEntry

MINUTES = 15
REACH_M = reach_metres(Settings.walk_speed_m_per_min, MINUTES)  # the default, not the configured speed
COLUMNS = ("code", "name", "residents", *FACILITIES, *(f"share_{k}" for k in FACILITIES))
STEPS = ((0.5, "#d73027"), (0.8, "#fee08b"), (1.0, "#1a9850"))

LAYER = Layer(
    id="service_reach", title="15分钟生活圈", title_en="15-minute service reach", geometry="polygon",
    reads=("grid", "house", "household", "person", "place"),
    bands=(Band(11, 22, for_tile(REACH_SQL.replace("{reach_m}", repr(REACH_M))), COLUMNS),),
    properties={"*": COLUMNS},
    style={"property": "share_clinic", "choices": [f"share_{k}" for k in FACILITIES],
           "steps": [list(s) for s in STEPS], "null": "#bdbdbd", "weight": 1, "color": "#ffffff", "fillOpacity": 0.5},
    legend=(LegendEntry(f"步行{MINUTES}分钟可达居民 < 50%（直线距离 ≤ {REACH_M:.0f} 米，按 80 米/分钟）",
                        f"under 50 % of residents within {REACH_M:.0f} m in a straight line "
                        f"(80 m/min × {MINUTES} min, UTM metres)", STEPS[0][1], "fill"),
            LegendEntry("50%–80%", "50–80 %", STEPS[1][1], "fill"),
            LegendEntry("≥ 80%", "80 % or more", STEPS[2][1], "fill"),
            LegendEntry("无居民", "no residents", "#bdbdbd", "fill")),
    description="Residents at their house point; straight-line distance to the nearest facility of each kind.",
)
