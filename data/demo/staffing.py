"""Who works the grids (一格八员), the household visits they make, and the demo's user accounts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from data.demo import names
from data.demo.grids import DISTRICT_CODE
from data.vocab import STAFF_ROLES

CELL_ROLES = ("leader", "worker", "auxiliary", "police", "legal_advisor", "doctor", "supervisor", "party_liaison")


def staff(rng, grid: pd.DataFrame) -> pd.DataFrame:
    """The eight roles for every regular cell, a leader for every larger grid, special workers for dedicated."""
    rows = []
    for g in grid.itertuples():
        if g.level == "cell" and g.kind == "regular":
            roles = list(CELL_ROLES) + ["worker"] * int(rng.random() < 0.3)
        elif g.level == "cell":
            roles = ["leader", "special"]
        else:
            roles = ["leader"]
        rows += [(g.code, r) for r in roles]
    frame = pd.DataFrame(rows, columns=["grid_code", "role"])
    male = rng.random(len(frame)) < 0.5
    frame["name"] = names.person_names(rng, names.surnames(rng, len(frame)), male)
    frame["phone"] = np.char.add("109", np.char.zfill(np.arange(len(frame)).astype(str), 8))
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    assert set(frame.role) <= set(STAFF_ROLES)
    return frame


def visits(rng, household, house_rows, grid, staff_rows, as_of) -> pd.DataFrame:
    """Household visits over the last 120 days by a worker of the cell the house is in."""
    n_visits = rng.poisson(1.1, len(household))
    hh_idx = np.repeat(np.arange(len(household)), n_visits)
    house_idx = household.house_id.to_numpy()[hh_idx] - 1
    geoms = house_rows.geom.to_numpy()[house_idx]
    cells = grid[grid.level == "cell"].reset_index(drop=True)
    tree = shapely.STRtree(cells.geom.to_numpy())
    point_i, cell_i = tree.query(geoms, predicate="intersects")
    cell_of = np.full(len(geoms), -1)
    cell_of[point_i[::-1]] = cell_i[::-1]  # first match wins, as with the smallest code in the database
    workers = staff_rows[staff_rows.role.isin(["worker", "special"])].groupby("grid_code").id.first()
    staff_id = pd.Series(cells.code.to_numpy()[cell_of]).map(workers).to_numpy()
    when = pd.Timestamp(as_of) - pd.to_timedelta(rng.uniform(0, 120 * 24, len(hh_idx)), unit="h")
    return pd.DataFrame({
        "id": np.arange(1, len(hh_idx) + 1), "household_id": hh_idx + 1,
        "staff_id": pd.array(np.where(cell_of >= 0, staff_id, np.nan), dtype="Int64"),
        "visited_at": when.round("s"), "note": rng.choice(["入户走访", "政策宣传", "安全检查", "矛盾排查"], len(hh_idx)),
        "geom": geoms,
    })


def users(grid: pd.DataFrame) -> pd.DataFrame:
    """Demo accounts: one of each role, grid leaders scoped to a community (one to a street), workers to a
    cell, and one handler per department (ids follow data.vocab.DEPARTMENTS, as the department table does)."""
    from data.vocab import DEPARTMENTS

    streets = grid[grid.level == "street"].code.tolist()
    communities = grid[grid.level == "community"].code.tolist()
    cells = grid[(grid.level == "cell") & (grid.kind == "regular")].code.tolist()
    rows = [("admin", "系统管理员", "admin", []), ("commander", "指挥中心值班员", "commander", [DISTRICT_CODE]),
            ("analyst", "数据分析员", "analyst", [DISTRICT_CODE])]
    rows += [(f"leader{i + 1}", f"网格长{i + 1}", "grid_leader", [c]) for i, c in enumerate(communities[:3])]
    rows += [(f"worker{i + 1}", f"网格员{i + 1}", "grid_worker", [c]) for i, c in enumerate(cells[:3])]
    rows += [("street1", "街道综治中心值班员", "grid_leader", streets[:1])]
    rows = [(*row, None) for row in rows]
    rows += [(f"dept_{code}", f"{name}处置员", "department", [DISTRICT_CODE], i + 1)
             for i, (code, name, _) in enumerate(DEPARTMENTS)]
    frame = pd.DataFrame(rows, columns=["username", "display_name", "role", "scope", "department_id"])
    frame["department_id"] = frame.department_id.astype("Int64")
    frame["scope"] = ["{" + ",".join(s) + "}" for s in frame.scope]
    return frame
