"""What a PortfolioStrategy sees: the view cut at the decision bar and the book at its close."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.portfolio import Portfolio, PortfolioStrategy, build_panel
from algotrader.portfolio.strategy import PanelView, PortfolioState

from .conftest import hand_bars

DAYS = ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05"]


@pytest.fixture
def bars() -> dict[str, pd.DataFrame]:
    return {
        "A": hand_bars([(DAYS[0], 10, 10), (DAYS[1], 10, 11), (DAYS[2], 11, 12), (DAYS[3], 12, 9)]),
        "B": hand_bars([(DAYS[0], 20, 20), (DAYS[2], 21, 22), (DAYS[3], 22, 23)]),
    }


def test_the_view_holds_wide_frames_and_own_frames_up_to_the_bar(
    bars: dict[str, pd.DataFrame],
) -> None:
    view = PanelView(build_panel(bars).upto(2))
    assert view.date == pd.Timestamp(DAYS[2], tz="UTC") and len(view) == 3
    assert np.isnan(view.close.loc[pd.Timestamp(DAYS[1], tz="UTC"), "B"])
    assert view.prices["B"].tolist() == [20, 20, 22]
    returns = view.returns(1)
    assert returns.index.tolist() == [pd.Timestamp(DAYS[2], tz="UTC")]
    assert returns.loc[:, "A"].tolist() == pytest.approx([12 / 11 - 1])
    assert returns.loc[:, "B"].tolist() == pytest.approx([22 / 20 - 1])
    assert view["B"].index.tolist() == [pd.Timestamp(d, tz="UTC") for d in (DAYS[0], DAYS[2])]
    assert view.listed == ("A", "B")
    close = view.close
    with contextlib.suppress(ValueError):  # pandas copies on write or refuses: either is fine
        close.iloc[0, 0] = 1.0
    assert view.panel.close[0, 0] == 10.0 and view.close.iloc[0, 0] == 10.0


class Watcher(PortfolioStrategy):
    def __init__(self) -> None:
        super().__init__()
        self.books: list[PortfolioState] = []

    def rebalance(self, date: pd.Timestamp, view: PanelView, portfolio: PortfolioState) -> Any:
        self.books.append(portfolio)
        return {"A": 0.5, "B": 0.5} if len(view) == 1 else None


def test_the_book_is_the_one_at_the_decision_close(bars: dict[str, pd.DataFrame]) -> None:
    watcher = Watcher()
    result = Portfolio(bars, watcher, "daily", cash=1000).run()
    first, second, third, _ = watcher.books
    assert (first.cash, first.equity, first.shares.sum()) == (1000, 1000, 0)
    # Bought on 07-02's open: 50 A at 10 and, B having no bar, nothing else yet.
    assert second.shares["A"] == pytest.approx(50) and second.shares["B"] == 0
    assert second.equity == pytest.approx(500 + 50 * 11)
    assert third.shares["B"] == pytest.approx(500 / 21)
    assert third.weights["B"] == pytest.approx(500 / 21 * 22 / third.equity)
    assert third.targets.tolist() == [0.5, 0.5]
    assert len(result.targets) == 1  # None left the book alone
