"""Party organisation coverage (党组织覆盖): cells with and without a party branch pinned inside them."""
from data.coverage import PARTY_SQL, for_tile
from layers.catalogue import Band, Layer, LegendEntry

COLUMNS = ("code", "name", "party_branches", "covered")
COLORS = {True: "#c0392b", False: "#bdbdbd"}

LAYER = Layer(
    id="party_coverage", title="党组织覆盖", title_en="party organisation coverage", geometry="polygon",
    reads=("grid", "organization"),
    bands=(Band(11, 22, for_tile("SELECT t.*, t.party_branches > 0 AS covered FROM (" + PARTY_SQL + ") t"),
                COLUMNS),),
    properties={"*": COLUMNS},
    style={"covered": {"true": COLORS[True], "false": COLORS[False]}, "weight": 1, "color": "#ffffff",
           "fillOpacity": 0.5, "label": "name"},
    legend=(LegendEntry("有党支部", "has a party branch", COLORS[True], "fill"),
            LegendEntry("无党支部", "no party branch", COLORS[False], "fill")),
)
