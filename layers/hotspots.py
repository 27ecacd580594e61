"""Hot spots (热点): Getis-Ord Gi* classes of the latest stored run, cold blue to hot red, FDR-corrected."""
from layers.analysis_cells import latest_run_band
from layers.catalogue import Layer, LegendEntry

COLORS = {3: "#b2182b", 2: "#ef8a62", 1: "#fddbc7", 0: "#f7f7f7", -1: "#d1e5f0", -2: "#67a9cf", -3: "#2166ac"}
LABELS = {3: ("热点（99%置信）", "hot spot, 99 %"), 2: ("热点（95%置信）", "hot spot, 95 %"),
          1: ("热点（90%置信）", "hot spot, 90 %"), 0: ("不显著", "not significant"),
          -1: ("冷点（90%置信）", "cold spot, 90 %"), -2: ("冷点（95%置信）", "cold spot, 95 %"),
          -3: ("冷点（99%置信）", "cold spot, 99 %")}

LAYER = Layer(
    id="hotspots", title="事件热点", title_en="event hot spots", geometry="polygon", reads=("grid", "analysis_run"),
    bands=(latest_run_band("hotspots", {"z": "round(c.z::numeric, 3)", "p": "c.p", "cls": "c.cls"}),),
    properties={"*": ("cell", "count", "z", "p", "cls")},
    style={"cls": {str(k): v for k, v in COLORS.items()}, "opacity": 0.6},
    legend=tuple(LegendEntry(zh, en, COLORS[k], "fill") for k, (zh, en) in LABELS.items()),
    description="Gi* of event counts in excess of all events' spatial distribution, on H3 hexagons; classes after "
                "a Benjamini–Hochberg false-discovery-rate correction. Refreshed by `minqing analyse hotspots`.",
)
