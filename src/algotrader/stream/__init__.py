"""The price stream (an adapter): Kafka messages of bars, dead letters, indicator jobs, and the
Parquet data lake.

* :mod:`.settings`: ``ALGOTRADER_KAFKA_*`` settings (SASL/TLS; secrets never shown);
* :mod:`.schema`: the versioned JSON messages (``algotrader.bars/1``, indicator jobs);
* :mod:`.kafka`: topics, the idempotent :class:`~.kafka.Publisher`, group lag;
* :mod:`.consumer`: a consumer-group member committing offsets only after its handler;
* :mod:`.dlq`: the dead-letter topic (list, replay);
* :mod:`.lake`: Parquet files partitioned by resolution/symbol/date over fsspec;
* :mod:`.metrics`: Prometheus metrics.

The use cases that combine these with the database are in :mod:`algotrader.app.stream`.
"""
