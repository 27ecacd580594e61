"""The grid table of a generated city: codes, Chinese names and exact polygons from the partition's faces."""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from data.demo import names
from data.vocab import DEDICATED_FOR

DISTRICT_CODE = "990101"  # province 99 does not exist: a fictional district


def build(faces_wgs: np.ndarray, labels: np.ndarray, dedicated_kinds: list[str], rng) -> pd.DataFrame:
    """Cells are unions of faces; every parent is the union of its children, so tiling is exact."""
    keys = pd.DataFrame(labels, columns=["street", "community", "cell"])
    rows = []
    comm_names = iter(names.compound_names(rng, 400))
    used_names: set[str] = set()

    def union(mask) -> shapely.MultiPolygon:
        merged = shapely.coverage_union_all(faces_wgs[np.asarray(mask)])
        return merged if merged.geom_type == "MultiPolygon" else shapely.MultiPolygon([merged])

    for s in sorted(keys.street.unique()):
        in_s = keys.street == s
        s_code = f"{DISTRICT_CODE}.{s + 1:03d}"
        street_name = unique_name(f"{rng.choice(names.PLACE_WORDS)}路街道", used_names)
        rows.append((s_code, street_name, "street", "regular", None, union(in_s)))
        for c in sorted(keys[in_s].community.unique()):
            in_c = in_s & (keys.community == c)
            c_code = f"{s_code}.{c + 1:03d}"
            c_name = unique_name(next(comm_names).replace("小区", "").rstrip("苑里") + "社区", used_names)
            rows.append((c_code, c_name, "community", "regular", None, union(in_c)))
            regular = sorted(k for k in keys[in_c].cell.unique() if k >= 0)
            for n, k in enumerate(regular, start=1):
                rows.append((f"{c_code}.{n:03d}", f"{c_name}第{names.ordinal(n)}网格", "cell", "regular", None,
                             union(in_c & (keys.cell == k))))
            for n, k in enumerate(sorted((k for k in keys[in_c].cell.unique() if k < 0), reverse=True), start=1):
                kind = dedicated_kinds[-1 - k]
                rows.append((f"{c_code}.{900 + n}", f"{c_name}{DEDICATED_FOR[kind][0]}专属网格", "cell", "dedicated",
                             kind, union(in_c & (keys.cell == k))))
    frame = pd.DataFrame(rows, columns=["code", "name", "level", "kind", "dedicated_for", "geom"])
    district = shapely.coverage_union_all(frame.geom[frame.level == "street"].to_numpy())
    district = district if district.geom_type == "MultiPolygon" else shapely.MultiPolygon([district])
    top = pd.DataFrame([(DISTRICT_CODE, "民清区", "district", "regular", None, district)], columns=frame.columns)
    frame = pd.concat([top, frame], ignore_index=True)
    frame["household_target"] = np.where(frame.level == "cell", 400, None)
    return frame


def unique_name(name: str, used: set[str]) -> str:
    """Grid names double as labels on the map, so no two may read the same."""
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = name.replace("街道", f"{names.ordinal(n)}街道").replace("社区", f"{names.ordinal(n)}社区") \
            if n < 100 else f"{name}{n}"
    used.add(candidate)
    return candidate
