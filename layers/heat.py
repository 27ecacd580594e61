"""Heat (热力): a binned Gaussian kernel-density surface of events from the latest stored run."""
from layers.analysis_cells import latest_run_band
from layers.catalogue import Layer, LegendEntry

RAMP = (("低", "low", "#ffffb2"), ("较低", "lower", "#fecc5c"), ("较高", "higher", "#fd8d3c"),
        ("高", "high", "#e31a1c"))

LAYER = Layer(
    id="heat", title="事件热力", title_en="event heat", geometry="polygon", reads=("grid", "analysis_run"),
    bands=(latest_run_band("heat", {"density": "round(c.density::numeric, 1)"}),),
    properties={"*": ("cell", "count", "density")},
    style={"ramp": [color for _, _, color in RAMP], "by": "density", "opacity": 0.5},
    legend=tuple(LegendEntry(zh, en, color, "fill") for zh, en, color in RAMP),
    description="Events per km², counted on a 100 m raster and smoothed by a Gaussian of 250 m (binned KDE).",
)
