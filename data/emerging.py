"""Emerging hot spots: per hexagon, how its weekly Gi* and counts have moved over the recent weeks.

The rule follows the space-time hot spot categories (ArcGIS's Emerging Hot Spot Analysis), simplified:
a week is hot for a cell when its analytic Gi* z of that week's counts exceeds 1.96 (95 %, one-sided
upper tail at 2.5 %), and the trend is Mann-Kendall (Kendall's tau of counts against week, p < 0.05).

- new: hot in the final week and in no earlier week
- intensifying: hot in at least 90 % of weeks, the final one included, counts trending up
- persistent: hot in at least 90 % of weeks, no significant trend
- diminishing: hot in at least 90 % of weeks, the final one included, counts trending down
- sporadic: hot in some weeks, on and off (none of the above)
- none: never hot
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from data.hotspots import hex_weights

HOT_Z = 1.96
TRENDS = ("new", "intensifying", "persistent", "diminishing", "sporadic", "none")


def weekly_counts(cells: np.ndarray, reported_at: pd.Series, end, weeks: int) -> pd.DataFrame:
    """cells × weeks (oldest first) counts of the `weeks` whole weeks ending at `end`."""
    age = (pd.Timestamp(end) - pd.to_datetime(reported_at, utc=True)).dt.total_seconds() // (7 * 86400)
    week = (weeks - 1 - age).astype(int)
    keep = (week >= 0) & (week < weeks)
    frame = pd.DataFrame({"cell": cells[keep.to_numpy()], "week": week[keep].to_numpy()})
    table = frame.groupby(["cell", "week"]).size().unstack(fill_value=0)
    return table.reindex(columns=range(weeks), fill_value=0)


def weekly_z(table: pd.DataFrame, w) -> pd.DataFrame:
    """Analytic Gi* z per cell and week (permutations per week would cost 52 times the single run)."""
    from esda import G_Local

    ids = list(w.id_order)
    counts = table.reindex(ids, fill_value=0)
    z = np.zeros(counts.shape)
    for k in counts.columns:
        y = counts[k].to_numpy(dtype=float)
        if y.std() == 0:
            continue
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            z[:, k] = np.nan_to_num(np.asarray(G_Local(y, w, transform="B", star=True, permutations=0).Zs))
    return pd.DataFrame(z, index=counts.index, columns=counts.columns)


def classify(hot: np.ndarray, counts: np.ndarray) -> str:
    """One cell's trend from its hot weeks (booleans) and weekly counts, oldest first."""
    if not hot.any():
        return "none"
    if hot[-1] and not hot[:-1].any():
        return "new"
    if hot.mean() >= 0.9 and hot[-1]:
        tau, p = kendalltau(np.arange(len(counts)), counts) if counts.std() > 0 else (0.0, 1.0)
        if p < 0.05 and tau > 0:
            return "intensifying"
        if p < 0.05 and tau < 0:
            return "diminishing"
        return "persistent"
    return "sporadic"


def emerging(cells: np.ndarray, reported_at: pd.Series, domain: set[str], end, weeks: int = 52) -> pd.DataFrame:
    """Per cell of `domain` (plus any with events): total count, final-week z and the trend class."""
    table = weekly_counts(cells, reported_at, end, weeks)
    w = hex_weights(sorted(domain | set(table.index)))
    z = weekly_z(table, w)
    counts = table.reindex(z.index, fill_value=0)
    hot = z.to_numpy() > HOT_Z
    trend = [classify(hot[i], counts.iloc[i].to_numpy()) for i in range(len(z))]
    return pd.DataFrame({"cell": z.index, "count": counts.sum(axis=1).to_numpy(), "z": z.iloc[:, -1].to_numpy(),
                         "trend": trend})
