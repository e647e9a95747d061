"""The seed's example strategy (seed 001, "Example Strategy Development")."""

from strategies.base import Strategy


class MyStrategy(Strategy):
    """BUY when the close is above its 20-bar average, SELL when below."""

    name = "my_strategy"
    rule = "BUY when close > ma20, SELL when close < ma20"

    def on_bar(self, i, row, df):  # type: ignore[no-untyped-def]
        if row["close"] > row["ma20"]:
            return "BUY"
        elif row["close"] < row["ma20"]:
            return "SELL"
        return None
