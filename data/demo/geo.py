"""The generator works in metres on a local transverse Mercator; this owns the trip to and from WGS 84."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

# A valley city on the upper Yellow River: roughly where Lanzhou's districts lie.
DEFAULT_ORIGIN = (103.75, 36.06)


@dataclass(frozen=True)
class LocalFrame:
    """A metric frame centred on the city, so Voronoi cells and distances are in true metres."""

    lon0: float
    lat0: float

    @property
    def crs(self) -> CRS:
        return CRS.from_proj4(
            f"+proj=tmerc +lat_0={self.lat0} +lon_0={self.lon0} +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"
        )

    def to_wgs84(self, geoms):
        forward = Transformer.from_crs(self.crs, 4326, always_xy=True)
        return shapely.transform(geoms, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1])))

    def xy_to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return Transformer.from_crs(self.crs, 4326, always_xy=True).transform(x, y)

    def from_wgs84(self, geoms):
        back = Transformer.from_crs(4326, self.crs, always_xy=True)
        return shapely.transform(geoms, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))


def read_boundary(path: str | Path) -> tuple[LocalFrame, BaseGeometry]:
    """A real boundary file (any CRS it declares) as one metric (Multi)Polygon and its frame."""
    frame = gpd.read_file(path)
    if frame.crs is None:
        raise ValueError(f"{path}: the file declares no CRS")
    polygons = frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        raise ValueError(f"{path}: no Polygon or MultiPolygon features")
    wgs = shapely.make_valid(polygons.to_crs(4326).union_all())
    centre = wgs.centroid
    local = LocalFrame(round(centre.x, 4), round(centre.y, 4))
    return local, shapely.make_valid(local.from_wgs84(wgs))


def valley_boundary(rng: np.random.Generator, length_m: float, width_m: float) -> BaseGeometry:
    """An elongated, irregular valley: a meandering band with side gullies, centred on the origin."""
    x = np.linspace(-length_m / 2, length_m / 2, 240)
    phase = rng.uniform(0, 2 * np.pi)
    centre = 0.12 * width_m * np.sin(2 * np.pi * x / (length_m / 2.3) + phase)
    wobble = np.convolve(rng.normal(0, 1, x.size + 20), np.ones(21) / 21, mode="valid")[: x.size]
    half = width_m / 2 * (0.75 + 0.2 * np.sin(2 * np.pi * x / length_m * 3 + phase) + 0.25 * wobble)
    half *= np.clip(1.6 * (1 - (2 * x / length_m) ** 8), 0.2, 1.0)  # ends taper like a valley
    upper = np.column_stack([x, centre + half])
    lower = np.column_stack([x[::-1], (centre - half * rng.uniform(0.8, 1.1))[::-1]])
    body = shapely.Polygon(np.vstack([upper, lower]))
    gullies = []
    for _ in range(3):
        gx = rng.uniform(-0.35, 0.35) * length_m
        side = rng.choice([-1, 1])
        gy = np.interp(gx, x, centre)
        tip = (gx + rng.uniform(-0.1, 0.1) * width_m, gy + side * width_m * rng.uniform(0.7, 1.0))
        gullies.append(shapely.LineString([(gx, gy), tip]).buffer(width_m * 0.12, quad_segs=3))
    shape = shapely.union_all([body, *gullies])
    return shapely.make_valid(shapely.simplify(shape, 5.0))
