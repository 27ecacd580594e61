"""Where people live: compounds of buildings, households in them, and the residents of each household."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from data.demo import names
from data.idcard import check_chars
from data.vocab import KEY_PERSON_TAGS

# Region codes in ID numbers: province 99 does not exist, so no generated number can be a real person's.
FAKE_REGIONS = np.array(["990101", "990102", "990103", "990201", "990202"])
HOUSEHOLD_SIZES = np.array([1, 2, 3, 4, 5, 6])
HOUSEHOLD_SIZE_P = np.array([0.25, 0.30, 0.22, 0.12, 0.07, 0.04])

# share of people carrying each tag (per person unless noted); behaviour tags make a key person
TAG_RATES = {
    "party_member": 0.08, "veteran": 0.02, "overseas": 0.002, "disabled": 0.015, "serious_illness": 0.01,
    "community_correction": 0.0005, "released_prisoner": 0.001, "drug_rehab": 0.0005,
    "mental_illness": 0.003, "petitioner": 0.0005,
}


def compounds(rng: np.random.Generator, boundary: BaseGeometry, households: int, typical: int) -> pd.DataFrame:
    """Compound centres, denser around a few town centres along the valley; sizes sum to `households`."""
    minx, miny, maxx, maxy = boundary.bounds
    towns = rng.uniform([minx, miny], [maxx, maxy], size=(max(2, int((maxx - minx) / 6_000)), 2))
    sizes = []
    while sum(sizes) < households:
        sizes.append(int(np.clip(rng.lognormal(np.log(typical), 0.7), 8, 2_500)))
    sizes[-1] -= sum(sizes) - households
    if sizes[-1] <= 0:
        sizes.pop()
        sizes[-1] += households - sum(sizes)
    centres = []
    while len(centres) < len(sizes):
        if rng.random() < 0.7:
            town = towns[rng.integers(len(towns))]
            xy = rng.normal(town, (maxx - minx) / 12)
        else:
            xy = rng.uniform([minx, miny], [maxx, maxy])
        if shapely.contains_xy(boundary, *xy):
            centres.append(xy)
    centres = np.array(centres)
    village = rng.random(len(sizes)) < 0.12
    return pd.DataFrame({
        "x": centres[:, 0], "y": centres[:, 1], "households": sizes, "village": village,
        "name": [n.replace("小区", "村") if v else n for n, v in zip(names.compound_names(rng, len(sizes)), village)],
    })


def houses(rng: np.random.Generator, boundary: BaseGeometry, comp: pd.DataFrame) -> pd.DataFrame:
    """Buildings laid out in rotated rows inside each compound; bungalows in villages hold one household."""
    rows = []
    for c in comp.itertuples():
        floors = 1 if c.village else int(rng.choice([2, 4, 6, 6, 11, 18, 26] if c.households > 60 else [2, 3, 4]))
        capacity = 1 if c.village else floors * 4
        count = -(-c.households // capacity)
        side = int(np.ceil(np.sqrt(count)))
        spacing = 18.0 if c.village else 45.0
        grid = np.indices((side, side)).reshape(2, -1).T[:count] - (side - 1) / 2
        angle = rng.uniform(0, np.pi)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        xy = grid @ rot.T * spacing + rng.normal(0, 3, size=(count, 2)) + (c.x, c.y)
        outside = ~shapely.contains_xy(boundary, xy[:, 0], xy[:, 1])
        xy[outside] = (c.x, c.y)  # the compound centre is inside the city; a building never strays out
        per = np.full(count, capacity)
        per[-1] = c.households - capacity * (count - 1)
        kind = "bungalow" if c.village else ("rental" if rng.random() < 0.08 else "residential")
        for b in range(count):
            rows.append((c.Index, xy[b, 0], xy[b, 1], floors, per[b], kind, f"{c.name}{b + 1}号楼" if not c.village
                         else f"{c.name}{b + 1}号"))
    frame = pd.DataFrame(rows, columns=["compound_idx", "x", "y", "floors", "households", "kind", "address"])
    frame["compound"] = comp.name.to_numpy()[frame.compound_idx]
    return frame


def households(rng: np.random.Generator, house: pd.DataFrame) -> pd.DataFrame:
    """One row per household, with its house, unit (单元/室) and whether it is registered here (户籍)."""
    house_idx = np.repeat(np.arange(len(house)), house.households.to_numpy())
    within = np.concatenate([np.arange(n) for n in house.households.to_numpy()])
    floor = within // 4 + 1
    unit = within % 4 // 2 + 1
    room = within % 2 + 1
    labels = [f"{u}单元{f}0{r}室" for u, f, r in zip(unit, floor, room)]
    return pd.DataFrame({
        "house_idx": house_idx,
        "unit": np.where(house.kind.to_numpy()[house_idx] == "bungalow", None, labels),
        "registered": rng.random(len(house_idx)) > 0.15,
    })


def persons(rng: np.random.Generator, hh: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Residents by household: a head, often a spouse, children, and older parents or grandchildren."""
    n_hh = len(hh)
    size = rng.choice(HOUSEHOLD_SIZES, size=n_hh, p=HOUSEHOLD_SIZE_P)
    head_age = np.clip(rng.normal(50, 16, n_hh), 20, 95).astype(int)
    hh_idx = np.repeat(np.arange(n_hh), size)
    pos = np.concatenate([np.arange(s) for s in size]) if n_hh else np.zeros(0, int)
    n = len(hh_idx)
    age = head_age[hh_idx].copy()
    relation = np.full(n, "head", dtype=object)
    has_spouse = (rng.random(n_hh) < 0.85)[hh_idx]
    spouse = (pos == 1) & has_spouse
    relation[spouse] = "spouse"
    age[spouse] = np.maximum(20, age[spouse] + rng.integers(-4, 5, spouse.sum()))
    child = (pos >= 1) & ~spouse & (pos < 4)
    relation[child] = "child"
    age[child] = _younger(rng, age[child], 22, 36)
    extra = pos >= 4
    young_head = head_age[hh_idx] < 55
    parent = extra & young_head
    relation[parent] = "parent"
    age[parent] += rng.integers(24, 32, parent.sum())
    grandchild = extra & ~young_head
    relation[grandchild] = "grandchild"
    age[grandchild] = _younger(rng, age[grandchild], 45, 60)
    age = np.clip(age, 0, 104)

    male = rng.random(n) < 0.5
    head_male = male[np.flatnonzero(pos == 0)][hh_idx]
    male[spouse] = ~head_male[spouse]
    family = names.surnames(rng, n_hh)[hh_idx]
    own = names.surnames(rng, n)
    surname = np.where(spouse | parent, own, family)

    days_old = (age * 365.25).astype(int) + rng.integers(0, 365, n)
    birth = np.datetime64(as_of, "D") - days_old.astype("timedelta64[D]")
    tags = _tags(rng, hh_idx, pos, size, age, hh.registered.to_numpy(), n_hh)
    return pd.DataFrame({
        "household_idx": hh_idx,
        "name": names.person_names(rng, surname, male),
        "gender": np.where(male, "M", "F"),
        "birth_date": birth,
        "id_number": id_numbers(rng, birth, male),
        "phone": np.where(age >= 16, np.char.add("10", np.char.zfill(np.arange(n).astype(str), 9)), None),
        "relation": relation,
        "tags": tags,
        "is_key_person": [bool(KEY_PERSON_TAGS.intersection(t)) for t in tags],
    })


def _younger(rng, elder: np.ndarray, low: int, high: int) -> np.ndarray:
    """Ages a generation below `elder`; where that would be before birth, a child's age instead
    (clipping at 0 piled 3 % of residents into their first year, five times the real share)."""
    age = elder - rng.integers(low, high, len(elder))
    unborn = age < 0
    age[unborn] = rng.integers(0, 18, unborn.sum())
    return age


def _tags(rng, hh_idx, pos, size, age, registered, n_hh) -> list[list[str]]:
    n = len(hh_idx)
    chosen: dict[str, np.ndarray] = {t: rng.random(n) < rate for t, rate in TAG_RATES.items()}
    chosen["party_member"] &= age >= 18
    chosen["veteran"] &= age >= 30
    for behaviour in KEY_PERSON_TAGS:
        chosen[behaviour] &= age >= 18
    chosen["elderly_alone"] = (size[hh_idx] == 1) & (age >= 65)
    chosen["subsistence"] = (rng.random(n_hh) < 0.03)[hh_idx]
    chosen["floating"] = ~registered[hh_idx]
    chosen["left_behind_child"] = (age < 16) & (rng.random(n) < 0.02)
    out: list[list[str]] = [[] for _ in range(n)]
    for tag, mask in chosen.items():
        for i in np.flatnonzero(mask):
            out[i].append(tag)
    return [sorted(t) for t in out]


def id_numbers(rng: np.random.Generator, birth: np.ndarray, male: np.ndarray) -> np.ndarray:
    """GB 11643 numbers: fake region, birth date (datetime64[D]), a sequence unique per (region, date, sex),
    and the check character."""
    region = rng.choice(FAKE_REGIONS, size=len(birth))
    dates = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "")
    key = pd.Series(np.char.add(np.char.add(region, dates), np.where(male, "1", "0")))
    rank = key.groupby(key).cumcount().to_numpy()
    seq = np.where(male, 2 * rank + 1, 2 * rank + 2)
    if seq.max(initial=0) > 999:
        raise ValueError("too many people share a birth date for unique ID sequences")
    body = np.char.add(np.char.add(region, dates), np.char.zfill(seq.astype(str), 3))
    digits = np.frombuffer("".join(body).encode(), dtype=np.uint8).reshape(-1, 17) - ord("0") if len(body) else \
        np.zeros((0, 17), int)
    return np.char.add(body, check_chars(digits)) if len(body) else body
