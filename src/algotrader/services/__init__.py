"""Long-running front ends over the application layer.

* :mod:`.scheduler`: ``algotrader serve scheduler`` keeps the watchlist fresh on the exchange
  calendar (APScheduler 3);
* :mod:`.worker`: ``algotrader serve worker`` runs queued jobs (backtests, batches);
* :mod:`.endpoint`: ``/metrics`` and ``/healthz`` of each service;
* :mod:`.logs`: one line per event, text or JSON (``ALGOTRADER_LOG_FORMAT=json``).

Like every front end they call use cases in :mod:`algotrader.app` and nothing below it.
"""
