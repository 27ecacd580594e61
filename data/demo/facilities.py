"""Places, things and organizations, placed where the people are, and the dedicated grids around some places."""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
import shapely.affinity
from shapely.geometry.base import BaseGeometry

from data.demo import names
from data.vocab import KEY_PLACE_KINDS, PLACE_KINDS, THING_KINDS

# households served by one place of each kind
PLACE_EVERY = {
    "school": 2_500, "kindergarten": 1_200, "clinic": 900, "hospital": 12_000, "elderly_care": 1_500,
    "market": 3_000, "party_center": 1_000, "construction_site": 2_000, "rental_housing": 600,
    "restaurant": 120, "internet_cafe": 2_500, "gas_station": 5_000, "hazmat_store": 9_000, "park": 2_000,
    "religious": 8_000,
}
THING_EVERY = {"hydrant": 120, "camera": 60, "aed": 1_500, "manhole": 80, "streetlight": 40, "charger": 150}
ORG_EVERY = {"party_branch": 350, "social_org": 1_500, "volunteer_team": 800, "firm": 150}
DEDICATED_KINDS = ("school", "hospital", "market")


def _near_homes(rng, boundary: BaseGeometry, house: pd.DataFrame, n: int, spread: float) -> np.ndarray:
    """Points scattered around houses weighted by households, kept inside the boundary."""
    weights = house.households.to_numpy() / house.households.sum()
    picks = rng.choice(len(house), size=n, p=weights)
    xy = house[["x", "y"]].to_numpy()[picks] + rng.normal(0, spread, size=(n, 2))
    outside = ~shapely.contains_xy(boundary, xy[:, 0], xy[:, 1])
    xy[outside] = house[["x", "y"]].to_numpy()[picks[outside]]
    return xy


def _count(households: int, every: int) -> int:
    return max(1, round(households / every))


def places(rng, boundary: BaseGeometry, house: pd.DataFrame) -> pd.DataFrame:
    total = int(house.households.sum())
    frames = []
    for kind, every in PLACE_EVERY.items():
        n = _count(total, every)
        xy = _near_homes(rng, boundary, house, n, 80.0)
        label = PLACE_KINDS[kind][0]
        frames.append(pd.DataFrame({
            "name": [f"{rng.choice(names.PLACE_WORDS)}{label}" + (f"{i + 1}" if n > 1 else "") for i in range(n)],
            "kind": kind, "is_key": kind in KEY_PLACE_KINDS, "x": xy[:, 0], "y": xy[:, 1],
        }))
    return pd.concat(frames, ignore_index=True)


def dedicated_areas(rng, boundary: BaseGeometry, place: pd.DataFrame, n: int) -> tuple[list[BaseGeometry], list[int]]:
    """Rotated rectangles around some schools, hospitals and markets, inside the boundary and apart."""
    candidates = place.index[place.kind.isin(DEDICATED_KINDS)].to_numpy().copy()
    rng.shuffle(candidates)
    chosen, areas = [], []
    for i in candidates:
        if len(areas) == n:
            break
        x, y = place.loc[i, ["x", "y"]]
        w, h, angle = rng.uniform(160, 320), rng.uniform(120, 240), rng.uniform(0, 90)
        for shrink in (1.0, 0.7, 0.5):  # near the valley's edge a smaller campus still fits
            rect = shapely.affinity.rotate(
                shapely.box(x - w * shrink / 2, y - h * shrink / 2, x + w * shrink / 2, y + h * shrink / 2), angle)
            if boundary.contains(rect.buffer(60)) and not any(rect.buffer(80).intersects(a) for a in areas):
                areas.append(rect)
                chosen.append(int(i))
                break
    return areas, chosen


def things(rng, boundary: BaseGeometry, house: pd.DataFrame) -> pd.DataFrame:
    total = int(house.households.sum())
    frames = []
    for kind, every in THING_EVERY.items():
        n = _count(total, every)
        xy = _near_homes(rng, boundary, house, n, 40.0)
        frames.append(pd.DataFrame({
            "name": [f"{THING_KINDS[kind][0]}-{i + 1:05d}" for i in range(n)], "kind": kind,
            "in_service": rng.random(n) > 0.04, "x": xy[:, 0], "y": xy[:, 1],
        }))
    return pd.concat(frames, ignore_index=True)


def organizations(rng, boundary: BaseGeometry, house: pd.DataFrame, compounds: pd.DataFrame) -> pd.DataFrame:
    """Property companies and owners' committees per compound; the rest spread by population."""
    total = int(house.households.sum())
    estates = compounds[~compounds.village]
    frames = [
        pd.DataFrame({"name": estates.name + "物业服务中心", "kind": "property_company",
                      "members": rng.integers(5, 60, len(estates)), "x": estates.x, "y": estates.y}),
    ]
    committees = estates[rng.random(len(estates)) < 0.4]
    frames.append(pd.DataFrame({"name": committees.name + "业主委员会", "kind": "owners_committee",
                                "members": rng.integers(5, 15, len(committees)),
                                "x": committees.x + 15, "y": committees.y + 15}))
    labels = {"party_branch": "党支部", "social_org": "社工服务站", "volunteer_team": "志愿服务队", "firm": "有限公司"}
    for kind, every in ORG_EVERY.items():
        n = _count(total, every)
        xy = _near_homes(rng, boundary, house, n, 60.0)
        frames.append(pd.DataFrame({
            "name": [f"{rng.choice(names.PLACE_WORDS)}{labels[kind]}" for _ in range(n)], "kind": kind,
            "members": rng.integers(3, 120, n), "x": xy[:, 0], "y": xy[:, 1],
        }))
    out = pd.concat(frames, ignore_index=True)
    inside = shapely.contains_xy(boundary, out.x.to_numpy(), out.y.to_numpy())
    return out[inside].reset_index(drop=True)
