"""Tiles in a basemap's datum: GCJ-02 (AMap, Tencent) as per-tile affines fitted with data/crs.py.

PostGIS knows no GCJ-02, and its offset (hundreds of metres near the demo city) has terms like sin(6πx), x in
degrees: a 1/3-degree period that no single affine follows across a low-zoom tile. So each tile gets one affine
for lines and polygons, and an 8 x 8 set of affines for points (pins, clusters, counts), one per sub-cell.
Worst error against the exact conversion over the 3 x 3 tiles around the demo city, 33 x 33 points each, in
units of a 4096 tile (tests/test_datum.py measures it again):

    zoom              8     9     10    11    12    13    14    15    16    17    18
    whole tile       2.02  1.93  3.26  2.47  1.43  0.70  0.37  0.19  0.09  0.05  0.02
    8 x 8 (points)   0.38  0.21  0.11  0.06  0.02  0.01  0.01  0.00  0.00  0.00  0.00

Lines and polygons stay within 3.3 units: a fifth of a screen pixel of a 256-pixel tile, invisible, while the
shift itself is 12 units at z8 and 118 at z12. CGCS2000 is WGS 84 within centimetres: drawn unchanged.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from data import crs
from data.settings import BASEMAP_DATUMS
from layers.errors import BadTileRequest

DATUMS = BASEMAP_DATUMS
SHIFTED = frozenset({"gcj02"})
FIT_SAMPLES = 5  # a 5 x 5 grid of points across each (sub-)tile
CELLS = 8  # points: an affine per cell of an 8 x 8 split of the tile
HALF_WORLD = 20037508.342789244  # Web Mercator metres

# {g}: a geometry in Web Mercator at its true place; env.tile the rows' true region (see layers/tiles.py)
CELL = (f", LATERAL (SELECT 1 + LEAST({CELLS - 1}, GREATEST(0, floor((ST_XMin({{g}}) - ST_XMin(env.tile)) * {CELLS}"
        " / (ST_XMax(env.tile) - ST_XMin(env.tile)))))::int"
        f" + {CELLS} * LEAST({CELLS - 1}, GREATEST(0, floor((ST_YMax(env.tile) - ST_YMin({{g}})) * {CELLS}"
        " / (ST_YMax(env.tile) - ST_YMin(env.tile)))))::int) AS point_cell(i)")
FORWARD = ("CASE WHEN GeometryType({g}) = 'POINT' THEN ST_Affine({g}, "
           + ", ".join(f"(CAST(:p_{k} AS float8[]))[point_cell.i]" for k in "abdeuv")
           + ") ELSE ST_Affine({g}, :f_a, :f_b, :f_d, :f_e, :f_u, :f_v) END")
BACKWARD = "ST_Affine({g}, :b_a, :b_b, :b_d, :b_e, :b_u, :b_v)"


def parse_datum(value: str | None) -> str:
    """The datum a tile is drawn in: wgs84 (default), cgcs2000 (the same at tile scale) or gcj02."""
    datum = (value or "wgs84").strip().lower()
    if datum not in DATUMS:
        raise BadTileRequest(f"datum must be one of {', '.join(DATUMS)}, got {value!r}", "datum")
    return datum


def envelope(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """The tile in Web Mercator metres (xmin, ymin, xmax, ymax), as ST_TileEnvelope gives it."""
    size = 2 * HALF_WORLD / (1 << z)
    return (-HALF_WORLD + x * size, HALF_WORLD - (y + 1) * size,
            -HALF_WORLD + (x + 1) * size, HALF_WORLD - y * size)


def gcj02_to_true_mercator(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator metres of GCJ-02 positions -> Web Mercator metres of the true (WGS 84) places."""
    lon, lat = crs.to_wgs84(x, y, 3857)
    return crs.from_wgs84(*crs.gcj02_to_wgs84(lon, lat), 3857)


def fit(x0: float, y0: float, x1: float, y1: float, samples: int = FIT_SAMPLES) -> tuple[float, ...]:
    """(a, b, d, e, xoff, yoff) for ST_Affine taking true Web Mercator positions to GCJ-02 ones over the box
    (GCJ-02 metres): least squares over a samples x samples grid of it, each point taken back exactly to
    its true place. Solved about the box's centre, so coordinates of 1e7 m keep their precision."""
    gx, gy = (g.ravel() for g in np.meshgrid(np.linspace(x0, x1, samples), np.linspace(y0, y1, samples)))
    tx, ty = gcj02_to_true_mercator(gx, gy)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    design = np.column_stack([tx - cx, ty - cy, np.ones_like(tx)])
    (a, b, u), *_ = np.linalg.lstsq(design, gx - cx, rcond=None)
    (d, e, v), *_ = np.linalg.lstsq(design, gy - cy, rcond=None)
    return float(a), float(b), float(d), float(e), float(cx + u - a * cx - b * cy), float(cy + v - d * cx - e * cy)


def cell_boxes(z: int, x: int, y: int, cells: int = CELLS) -> list[tuple[float, float, float, float]]:
    """The tile's cells x cells boxes, row by row from the top, as the SQL's cell index counts them."""
    x0, y0, x1, y1 = envelope(z, x, y)
    w, h = (x1 - x0) / cells, (y1 - y0) / cells
    return [(x0 + i * w, y1 - (j + 1) * h, x0 + (i + 1) * w, y1 - j * h) for j in range(cells) for i in range(cells)]


@lru_cache(maxsize=4096)
def gcj02_params(z: int, x: int, y: int) -> dict:
    """The bound parameters of the tile's affines: forward (f_), its inverse (b_), per point cell (p_)."""
    a, b, d, e, u, v = fit(*envelope(z, x, y))
    inverse = np.linalg.inv([[a, b], [d, e]])
    bu, bv = -inverse @ [u, v]
    per_cell = np.array([fit(*box) for box in cell_boxes(z, x, y)])
    return {"f_a": a, "f_b": b, "f_d": d, "f_e": e, "f_u": u, "f_v": v,
            "b_a": float(inverse[0, 0]), "b_b": float(inverse[0, 1]), "b_d": float(inverse[1, 0]),
            "b_e": float(inverse[1, 1]), "b_u": float(bu), "b_v": float(bv),
            **{f"p_{k}": per_cell[:, n].tolist() for n, k in enumerate("abdeuv")}}


def params(z: int, x: int, y: int, datum: str) -> dict:
    """What a tile's statement binds for `datum` ({} when drawn unchanged)."""
    return dict(gcj02_params(z, x, y)) if datum in SHIFTED else {}
