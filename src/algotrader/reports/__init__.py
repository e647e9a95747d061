"""Interactive HTML reports (Plotly), self-contained and offline.

>>> from algotrader import Backtest                                      # doctest: +SKIP
>>> result = Backtest(bars, "rsi").run()
>>> result.to_html("rsi.html", bars)            # one file, plotly.js embedded, no network
>>> result.plot(bars)                           # the main chart, inline in Jupyter
>>> build_report(portfolio_result).write("portfolio.html")    # any result: see build_report
>>> build_report(study, bars=bars).write("study.html")

Requires the ``report`` extra (``pip install 'algotrader[report]'``).
"""

from algotrader.reports._deps import MissingExtraError, require_report_extra

require_report_extra()

from algotrader.reports.backtest import (  # noqa: E402
    Benchmark,
    RunInfo,
    backtest_figure,
    backtest_report,
)
from algotrader.reports.charts import (  # noqa: E402
    drawdown,
    lines_figure,
    monthly_returns,
    rolling_sharpe,
)
from algotrader.reports.document import (  # noqa: E402
    FigureSection,
    NoteSection,
    Report,
    TableSection,
    plotly_js,
)
from algotrader.reports.downsample import MAX_POINTS, Buckets, buckets_for  # noqa: E402
from algotrader.reports.extensions import (  # noqa: E402
    build_report,
    heatmap_section,
    lines_section,
    table_section,
)
from algotrader.reports.portfolio import portfolio_figure, portfolio_report  # noqa: E402
from algotrader.reports.study import PointView, StudyView, study_report  # noqa: E402
from algotrader.reports.tables import format_metric  # noqa: E402
from algotrader.reports.walkforward import (  # noqa: E402
    FoldView,
    WalkForwardView,
    walkforward_figure,
    walkforward_report,
)

__all__ = [
    "MAX_POINTS",
    "Benchmark",
    "Buckets",
    "FigureSection",
    "FoldView",
    "MissingExtraError",
    "NoteSection",
    "PointView",
    "Report",
    "RunInfo",
    "StudyView",
    "TableSection",
    "WalkForwardView",
    "backtest_figure",
    "backtest_report",
    "buckets_for",
    "build_report",
    "drawdown",
    "format_metric",
    "heatmap_section",
    "lines_figure",
    "lines_section",
    "monthly_returns",
    "plotly_js",
    "portfolio_figure",
    "portfolio_report",
    "require_report_extra",
    "rolling_sharpe",
    "study_report",
    "table_section",
    "walkforward_figure",
    "walkforward_report",
]
