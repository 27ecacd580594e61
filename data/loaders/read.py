"""Reading a GeoJSON, GeoPackage, Shapefile or CSV into rows, original cells and source-CRS geometries.

Row numbers are 1-based data rows in file order: the first feature, or the first line after a CSV's
header, is row 1 (a CSV's header line is not counted, so row n is on line n + 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from data import crs as crs_module
from data.errors import LoadError
from data.loaders.checks import Problems, require_columns
from data.loaders.kinds import Kind

CSV_SUFFIXES = {".csv", ".txt"}
COORDINATE_PAIRS = (("lon", "lat"), ("lng", "lat"), ("longitude", "latitude"), ("x", "y"))
WKT_COLUMNS = ("wkt", "geometry")
CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # Excel in China saves CSV as GBK unless told otherwise


@dataclass
class Source:
    """A file as read: `original` keeps its cells for the rejects file; `frame` has lower-case names."""

    original: pd.DataFrame
    frame: pd.DataFrame
    geoms: np.ndarray | None  # shapely geometries in the source CRS, None where absent
    crs: str | pyproj.CRS  # resolved: 'wgs84', 'gcj02', 'bd09' or a pyproj CRS
    problems: Problems = field(default_factory=dict)  # coordinates that could not even be read


def _lowered(frame: pd.DataFrame, kind: Kind) -> pd.DataFrame:
    """Names matched case-insensitively; a Shapefile's 10-character stump stands for the full name."""
    lowered = frame.copy()
    lowered.columns = [str(c).strip().lower() for c in frame.columns]
    lowered = lowered.loc[:, ~lowered.columns.duplicated()]
    stumps = {c.name[:10]: c.name for c in kind.columns if len(c.name) > 10 and c.name not in lowered.columns}
    return lowered.rename(columns=stumps)


def read_csv_text(path: Path) -> pd.DataFrame:
    """Every cell as text, UTF-8 or GB18030: shared with the hotline import so both read what Excel in China saves."""
    for encoding in CSV_ENCODINGS:
        try:
            # every cell as text: ID numbers and codes keep their leading zeros, "NA" stays a name
            return pd.read_csv(path, dtype=object, keep_default_na=False, encoding=encoding)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise LoadError(f"cannot read {path.name}: {exc}") from exc
    raise LoadError(f"cannot read {path.name}: not UTF-8 or GB18030 text")


def _csv_geometries(frame: pd.DataFrame) -> tuple[np.ndarray | None, Problems]:
    """Geometries from a WKT column, or points from the first lon/lat-style pair of columns."""
    problems: Problems = {}
    for name in WKT_COLUMNS:
        if name in frame.columns:
            cells = [None if pd.isna(t) or not str(t).strip() else str(t) for t in frame[name]]
            geoms = shapely.from_wkt(np.array(cells, dtype=object), on_invalid="ignore")
            for pos, (cell, geom) in enumerate(zip(cells, geoms)):
                if cell is not None and geom is None:
                    problems[pos] = [f"{name}: unreadable WKT"]
            return geoms, problems
    for x_name, y_name in COORDINATE_PAIRS:
        if x_name in frame.columns and y_name in frame.columns:
            cells = [frame[n].astype(str).str.strip() for n in (x_name, y_name)]
            numbers = [pd.to_numeric(c.replace("", None), errors="coerce").to_numpy(dtype=float) for c in cells]
            blank = (cells[0] == "").to_numpy() | (cells[1] == "").to_numpy()
            unreadable = [np.isnan(num) & (c != "").to_numpy() & (c.str.lower() != "nan").to_numpy()
                          for c, num in zip(cells, numbers)]
            ok = ~blank & ~unreadable[0] & ~unreadable[1]
            for pos in np.flatnonzero(~ok).tolist():
                bad = [f"{name} {cell[pos]!r} is not a number"
                       for name, cell, flags in zip((x_name, y_name), cells, unreadable) if flags[pos]]
                problems[pos] = bad or [f"missing coordinates ({x_name}/{y_name})"]
            geoms = np.full(len(frame), None, dtype=object)
            geoms[ok] = shapely.points(numbers[0][ok], numbers[1][ok])
            return geoms, problems
    return None, problems


def read_source(path: str | Path, kind: Kind, crs: crs_module.CRSLike | None = None) -> Source:
    """Read `path`; `crs` overrides the file's own (GeoJSON always says WGS 84, so GCJ-02 GeoJSON needs it).

    Without either, coordinates are taken as WGS 84. Missing required columns raise LoadError here.
    """
    path = Path(path)
    try:
        user_crs = None if crs is None else crs_module.resolve(crs)
    except crs_module.UnknownCRS as exc:
        raise LoadError(str(exc)) from exc
    if not path.exists():
        raise LoadError(f"cannot read {path}: no such file")
    if path.suffix.lower() in CSV_SUFFIXES:
        original = read_csv_text(path)
        frame = _lowered(original, kind)
        geoms, problems = _csv_geometries(frame) if kind.geometry else (None, {})
        file_crs = None
    else:
        try:
            # invalid WKB (a ring of three points) becomes None here and is reported as missing/unreadable
            gdf = pyogrio.read_dataframe(path, datetime_as_string=True, on_invalid="ignore")
        except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, OSError…
            raise LoadError(f"cannot read {path.name}: {exc}") from exc
        has_geometry = "geometry" in gdf.columns and hasattr(gdf, "crs")
        geoms = np.asarray(gdf.geometry.array, dtype=object) if has_geometry else None
        file_crs = gdf.crs if has_geometry else None
        original = pd.DataFrame(gdf.drop(columns="geometry") if has_geometry else gdf)
        if has_geometry:
            original["wkt"] = shapely.to_wkt(geoms)  # so a rejected row can be fixed and loaded again as CSV
        frame = _lowered(original.drop(columns="wkt", errors="ignore"), kind)
        problems = {}
    require_columns(set(frame.columns), kind,
                    "geometry (lon/lat, lng/lat, longitude/latitude, x/y or wkt)"
                    if kind.geometry and geoms is None else None)
    original.index = frame.index = pd.RangeIndex(len(frame))
    source_crs = user_crs if user_crs is not None else crs_module.resolve(file_crs)
    return Source(original, frame, geoms, source_crs, problems)
