"""Staff load (网格员负荷): households per full-time grid worker in each cell, under, within or over the band.

Tiles use the default band (300–500 households per worker); the configured one through
/api/analysis/coverage?kind=staff.
"""
from data.coverage import STAFF_SQL, for_tile
from data.settings import Settings
from layers.catalogue import Band, Layer, LegendEntry

LOW, HIGH = Settings.household_band  # the default, not the configured band
COLUMNS = ("code", "name", "households", "workers", "per_worker", "load")
COLORS = {"under": "#4575b4", "within": "#1a9850", "over": "#d73027", "unstaffed": "#636363"}

LAYER = Layer(
    id="staff_load", title="网格员负荷", title_en="staff load", geometry="polygon",
    reads=("grid", "house", "household"),
    bands=(Band(11, 22, for_tile(STAFF_SQL.replace("{low}", str(LOW)).replace("{high}", str(HIGH))), COLUMNS),),
    properties={"*": COLUMNS},
    style={"load": COLORS, "weight": 1, "color": "#ffffff", "fillOpacity": 0.5, "label": "name"},
    legend=(LegendEntry(f"每名专职网格员 < {LOW} 户", f"under {LOW} households per full-time worker", COLORS["under"],
                        "fill"),
            LegendEntry(f"{LOW}–{HIGH} 户", f"{LOW}–{HIGH} households per worker", COLORS["within"], "fill"),
            LegendEntry(f"> {HIGH} 户", f"over {HIGH} households per worker", COLORS["over"], "fill"),
            LegendEntry("无专职网格员", "no full-time worker", COLORS["unstaffed"], "fill")),
    description="staff is not versioned, so a change of workers shows once the grid or households change.",
)
