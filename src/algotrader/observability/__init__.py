"""Prometheus metrics of the platform, with the official ``prometheus_client``.

Every metric is defined once in :mod:`.metrics` (names follow Prometheus' conventions: an
``algotrader_`` prefix, base units, ``_total`` on counters; labels take a few known values
only, never ids or timestamps). Use cases and adapters record through the helpers there;
services serve :data:`REGISTRY` over HTTP, and one-shot commands write it to a textfile or push it
to a Pushgateway when asked (:mod:`.export`).
"""

from algotrader.observability.metrics import REGISTRY

__all__ = ["REGISTRY"]
