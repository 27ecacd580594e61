"""Emerging hot spots (新兴热点): each hexagon's weekly trend from the latest stored run."""
from layers.analysis_cells import latest_run_band
from layers.catalogue import Layer, LegendEntry

TRENDS = {"new": ("新出现", "new", "#7b3294"), "intensifying": ("加剧", "intensifying", "#d7191c"),
          "persistent": ("持续", "persistent", "#fdae61"), "diminishing": ("减弱", "diminishing", "#a6d96a"),
          "sporadic": ("零星", "sporadic", "#f1b6da"), "none": ("无趋势", "no trend", "#f0f0f0")}

LAYER = Layer(
    id="emerging", title="新兴热点", title_en="emerging hot spots", geometry="polygon",
    reads=("grid", "analysis_run"),
    bands=(latest_run_band("emerging", {"trend": "c.trend", "z": "round(c.z::numeric, 3)"}),),
    properties={"*": ("cell", "count", "trend", "z")},
    style={"trend": {k: color for k, (_, _, color) in TRENDS.items()}, "opacity": 0.6},
    legend=tuple(LegendEntry(zh, en, color, "fill") for zh, en, color in TRENDS.values()),
    description="Weekly Gi* (hot when z > 1.96) and a Mann-Kendall trend of counts over 52 weeks: new, "
                "intensifying, persistent, diminishing or sporadic (see data/emerging.py for the rule).",
)
