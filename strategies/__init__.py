"""Your strategies, seed-style: put ``my_strategy.py`` here and run
``python -m scripts.backtest -s AAPL -r 1d --strategy my_strategy``.

``from strategies.base import Strategy`` (as in the seed documents) is the platform's
:class:`algotrader.Strategy`.
"""
