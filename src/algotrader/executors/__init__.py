"""Executors: where research tasks run (adapters of :class:`algotrader.ports.executor.Executor`).

* :class:`InlineExecutor`: this process, one task after another.
* :class:`LocalExecutor`: ``jobs`` spawned worker processes on this machine (default: all cores).
* :class:`DaskExecutor`: a Dask cluster, ``"tcp://scheduler:8786"`` or ``"local"``
  (``pip install -e ".[dask]"``).

>>> with make_executor(jobs=4) as ex:                      # doctest: +SKIP
...     study = run_study(bars, config, executor=ex)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from algotrader.errors import InvalidInputError
from algotrader.executors.local import InlineExecutor, LocalExecutor, probe

if TYPE_CHECKING:
    from algotrader.executors.dask_executor import DaskExecutor

__all__ = ["DaskExecutor", "InlineExecutor", "LocalExecutor", "make_executor", "probe"]

_DASK_SCHEMES = ("tcp://", "tls://", "ucx://", "inproc://", "ws://", "wss://")


def make_executor(
    spec: str | None = None, *, jobs: int | None = None, dask: str | None = None
) -> Any:
    """The executor the CLI flags ask for.

    ``dask`` (``--dask ADDRESS`` or ``--dask local``) wins; otherwise ``spec`` may be ``"local"``
    (processes), ``"inline"``, ``"dask-local"`` or a scheduler address; by default ``jobs=1``
    means this process and anything else a pool of ``jobs`` processes (all cores when ``None``).
    """
    if dask is not None:
        return _dask(dask.strip() or "local", jobs)
    text = (spec or "").strip()
    if text in ("dask-local", "dask:local"):
        return _dask("local", jobs)
    if text.startswith(_DASK_SCHEMES):
        return _dask(text, jobs)
    if text in ("inline", "serial") or (text in ("", "local") and jobs == 1):
        return InlineExecutor()
    if text in ("", "local", "processes"):
        return LocalExecutor(jobs)
    raise InvalidInputError(
        f"unknown executor {spec!r}",
        'use "local", "inline", "dask-local" or a Dask address like tcp://scheduler:8786',
    )


def _dask(address: str, jobs: int | None) -> Any:
    from algotrader.executors.dask_executor import DaskExecutor

    if address != "local" and not address.startswith(_DASK_SCHEMES):
        address = f"tcp://{address}"
    return DaskExecutor(address, workers=jobs)


def __getattr__(name: str) -> Any:
    if name == "DaskExecutor":
        from algotrader.executors.dask_executor import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module 'algotrader.executors' has no attribute {name!r}")
