"""Matplotlib charts saved as PNG (no display needed), and the plot declarations
(:class:`PlotSpec`) that PNG charts and HTML reports share."""

from algotrader.plotting.backtest_chart import backtest_chart, backtest_png_figure
from algotrader.plotting.charts import SYNTHETIC_NOTE, plot_path, price_chart
from algotrader.plotting.spec import Band, Histogram, Line, Panel, PlotSpec, Trend, plot_spec_for

__all__ = [
    "SYNTHETIC_NOTE",
    "Band",
    "Histogram",
    "Line",
    "Panel",
    "PlotSpec",
    "Trend",
    "backtest_chart",
    "backtest_png_figure",
    "plot_path",
    "plot_spec_for",
    "price_chart",
]
