"""Matplotlib charts saved as PNG (no display needed)."""

from algotrader.plotting.charts import plot_path, price_chart

__all__ = ["plot_path", "price_chart"]
