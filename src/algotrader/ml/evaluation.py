"""Out-of-sample evaluation of forecasts: IC, rank IC, hit rate, calibration, regime statistics.

* **IC**: Pearson correlation of forecast and realised forward return; **rank IC**: the same on
  ranks (Spearman), robust to outliers. Both pooled over each period's rows (all symbols).
* **Cross-sectional rank IC** (alphalens' definition): the mean over dates of the Spearman
  correlation across symbols, when there are at least 3 symbols.
* **IC t-statistic**: ``ic * sqrt(n_eff - 2) / sqrt(1 - ic**2)`` with ``n_eff = n / horizon``
  (overlapping forward returns are not independent).
* **Hit rate**: share of rows where forecast and realised return have the same sign.
* **Calibration**: rows bucketed by forecast decile; mean forecast vs mean realised return.

All numbers are plain floats (``None`` for undefined), ready to be stored as JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from algotrader.ml.splits import Period


def _num(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation (NaN when fewer than 3 rows or a constant input)."""
    if a.size < 3:
        return math.nan
    a = a - a.mean()
    b = b - b.mean()
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else math.nan


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation (average ranks for ties)."""
    if a.size < 3:
        return math.nan
    ranks_a = pd.Series(a).rank().to_numpy(np.float64)
    ranks_b = pd.Series(b).rank().to_numpy(np.float64)
    return correlation(ranks_a, ranks_b)


def hit_rate(forecast: np.ndarray, realised: np.ndarray) -> float:
    decided = (forecast != 0) & (realised != 0)
    if not decided.any():
        return math.nan
    return float((np.sign(forecast[decided]) == np.sign(realised[decided])).mean())


def _scores(forecast: np.ndarray, realised: np.ndarray) -> dict[str, float | None]:
    return {
        "n": int(forecast.size),
        "ic": _num(correlation(forecast, realised)),
        "rank_ic": _num(rank_correlation(forecast, realised)),
        "hit_rate": _num(hit_rate(forecast, realised)),
    }


def calibration(
    forecast: np.ndarray, realised: np.ndarray, buckets: int = 10
) -> list[dict[str, Any]]:
    """Forecast-quantile buckets: mean forecast, mean realised return, share of rises."""
    if forecast.size == 0:
        return []
    count = max(1, min(buckets, forecast.size // 20))
    order = np.argsort(forecast, kind="stable")
    out = []
    for number, rows in enumerate(np.array_split(order, count), start=1):
        out.append(
            {
                "bucket": number,
                "n": int(rows.size),
                "forecast_mean": _num(float(forecast[rows].mean())),
                "realised_mean": _num(float(realised[rows].mean())),
                "up_share": _num(float((realised[rows] > 0).mean())),
            }
        )
    return out


def cross_sectional_rank_ic(frame: pd.DataFrame) -> float:
    """Mean over dates of the rank IC across symbols (NaN with fewer than 3 symbols)."""
    if frame["symbol"].nunique() < 3:
        return math.nan
    forecast = frame.pivot(index="ts", columns="symbol", values="forecast")
    realised = frame.pivot(index="ts", columns="symbol", values="realised")
    both = forecast.notna() & realised.notna()
    ranks_f = forecast.where(both).rank(axis=1)
    ranks_r = realised.where(both).rank(axis=1)
    ranks_f = ranks_f.sub(ranks_f.mean(axis=1), axis=0)
    ranks_r = ranks_r.sub(ranks_r.mean(axis=1), axis=0)
    numerator = (ranks_f * ranks_r).sum(axis=1)
    denominator = np.sqrt((ranks_f**2).sum(axis=1) * (ranks_r**2).sum(axis=1))
    valid = (both.sum(axis=1) >= 3) & (denominator > 0)
    if not valid.any():
        return math.nan
    return float((numerator[valid] / denominator[valid]).mean())


def evaluate_forecasts(
    predictions: pd.DataFrame, periods: Sequence[Period], horizon: int
) -> dict[str, Any]:
    """Metrics of out-of-sample forecasts (columns symbol, ts, period, forecast, realised)."""
    known = predictions[np.isfinite(predictions["realised"]) & np.isfinite(predictions["forecast"])]
    forecast = known["forecast"].to_numpy(np.float64)
    realised = known["realised"].to_numpy(np.float64)
    per_period = []
    for period in periods:
        rows = known["period"].to_numpy() == period.number
        per_period.append({**period.to_dict(), **_scores(forecast[rows], realised[rows])})
    ics = np.array([p["ic"] for p in per_period if p["ic"] is not None], dtype=np.float64)
    overall: dict[str, Any] = _scores(forecast, realised)
    ic = overall["ic"]
    n_eff = forecast.size / max(horizon, 1)
    overall["ic_t_stat"] = (
        _num(ic * math.sqrt(n_eff - 2) / math.sqrt(1 - ic * ic))
        if ic is not None and n_eff > 2 and abs(ic) < 1
        else None
    )
    overall["ic_mean"] = _num(float(ics.mean())) if ics.size else None
    overall["ic_std"] = _num(float(ics.std(ddof=1))) if ics.size > 1 else None
    overall["ic_ir"] = _num(overall["ic_mean"] / overall["ic_std"]) if overall["ic_std"] else None
    overall["cs_rank_ic"] = _num(cross_sectional_rank_ic(known))
    return {
        "overall": overall,
        "periods": per_period,
        "calibration": calibration(forecast, realised),
    }


def evaluate_regimes(
    predictions: pd.DataFrame, periods: Sequence[Period], states: int
) -> dict[str, Any]:
    """How the out-of-sample regimes differ: share of bars, forward return, its volatility."""
    known = predictions[np.isfinite(predictions["forecast"])]
    realised = known["realised"].to_numpy(np.float64)
    labels = known["forecast"].to_numpy(np.float64)
    table = []
    for state in range(states):
        rows = labels == state
        values = realised[rows & np.isfinite(realised)]
        table.append(
            {
                "regime": state,
                "n": int(rows.sum()),
                "share": _num(float(rows.mean())) if labels.size else None,
                "realised_mean": _num(float(values.mean())) if values.size else None,
                "realised_std": _num(float(values.std(ddof=1))) if values.size > 1 else None,
            }
        )
    per_period = [
        {**p.to_dict(), "n": int((known["period"].to_numpy() == p.number).sum())} for p in periods
    ]
    return {"overall": {"n": int(labels.size)}, "regimes": table, "periods": per_period}


__all__ = [
    "calibration",
    "correlation",
    "cross_sectional_rank_ic",
    "evaluate_forecasts",
    "evaluate_regimes",
    "hit_rate",
    "rank_correlation",
]
