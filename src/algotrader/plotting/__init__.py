"""Matplotlib charts saved as PNG (no display needed)."""

from algotrader.plotting.backtest_chart import backtest_chart
from algotrader.plotting.charts import plot_path, price_chart

__all__ = ["backtest_chart", "plot_path", "price_chart"]
