"""The application layer: every use case of the platform, as plain functions with typed inputs
and results.

Front ends (the CLI, the Python API, the dashboard, the services) call these and nothing below
them; the use cases work through ports (``algotrader.ports``) on adapters (``algotrader.db``,
``algotrader.ibkr``, ``algotrader.data.providers``) and on the domain packages (strategies,
backtest engine, indicators). One module per use case family:

* :mod:`.ingest` and :mod:`.pipeline`: fetching bars into the store, with indicators;
* :mod:`.bars`: making sure stored bars cover a window, loading them with the symbol's stored
  signals and events aligned to them;
* :mod:`.backtests`: running, storing, listing, showing and rerunning backtests (one or a batch);
* :mod:`.charts` and :mod:`.export`: PNG charts and JSON exports;
* :mod:`.ml`: training models into the registry, forecasts into ``external_signals``, reports;
* :mod:`.events`, :mod:`.instruments`, :mod:`.database`, :mod:`.demo`.
"""
