"""Ports: the interfaces the application layer talks to, and the value objects they exchange.

Adapters implement them: ``db`` (SQLite and PostgreSQL stores), ``ibkr`` (TWS / IB Gateway through
``ib_async``), ``data.providers`` (CSV, synthetic). The application layer (``algotrader.app``)
depends on these protocols, so a new data source or storage backend is an adapter and nothing
else changes.
"""
