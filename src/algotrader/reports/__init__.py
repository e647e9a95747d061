"""Interactive HTML reports (Plotly), self-contained and offline.

>>> from algotrader import Backtest                                      # doctest: +SKIP
>>> result = Backtest(bars, "rsi").run()
>>> result.to_html("rsi.html", bars)            # one file, plotly.js embedded, no network
>>> result.plot(bars)                           # the main chart, inline in Jupyter

Requires the ``report`` extra (``pip install 'algotrader[report]'``).
"""

from algotrader.reports._deps import require_report_extra

require_report_extra()

from algotrader.reports.backtest import (  # noqa: E402
    Benchmark,
    RunInfo,
    backtest_figure,
    backtest_report,
)
from algotrader.reports.charts import lines_figure, monthly_returns, rolling_sharpe  # noqa: E402
from algotrader.reports.document import (  # noqa: E402
    FigureSection,
    NoteSection,
    Report,
    TableSection,
    plotly_js,
)
from algotrader.reports.extensions import (  # noqa: E402
    build_report,
    heatmap_section,
    lines_section,
    table_section,
)

__all__ = [
    "Benchmark",
    "FigureSection",
    "NoteSection",
    "Report",
    "RunInfo",
    "TableSection",
    "backtest_figure",
    "backtest_report",
    "build_report",
    "heatmap_section",
    "lines_figure",
    "lines_section",
    "monthly_returns",
    "plotly_js",
    "rolling_sharpe",
    "table_section",
]
