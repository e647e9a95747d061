"""Bar providers by name: ``get_provider("ibkr" | "ibsim" | "synthetic" | "csv", settings)``,
``get_provider("lake", settings, url=URL)``.

``ibsim`` is the IBKR client path pointed at ``algotrader ib-sim``: the same requests, but its
bars are synthetic and stored (and labelled) as such.

>>> from algotrader.config import Settings
>>> get_provider("synthetic", Settings()).label
'synthetic data (not market prices)'
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

from algotrader.config import Settings
from algotrader.data.providers.base import BarProvider, InstrumentInfo
from algotrader.errors import InvalidInputError

__all__ = [
    "PROVIDER_NAMES",
    "SYNTHETIC_SOURCES",
    "BarProvider",
    "InstrumentInfo",
    "get_provider",
    "is_synthetic",
]

# Sources whose bars are made up: charts and reports label them as not market prices.
SYNTHETIC_SOURCES = frozenset({"synthetic", "ibsim"})


def is_synthetic(sources: set[str] | frozenset[str]) -> bool:
    """True when any of ``sources`` (stored ``market_prices.source`` values) is synthetic."""
    return bool(SYNTHETIC_SOURCES & set(sources))


def _synthetic(settings: Settings, csv_path: Path | None) -> BarProvider:
    from algotrader.data.providers.synthetic import SyntheticProvider

    return SyntheticProvider()


def _csv(settings: Settings, csv_path: Path | None) -> BarProvider:
    from algotrader.data.providers.csv import CsvProvider

    if csv_path is None:
        raise InvalidInputError(
            "the csv source needs a file", "pass --csv PATH (a CSV file of one symbol's bars)"
        )
    return CsvProvider(csv_path)


def _ibkr(settings: Settings, csv_path: Path | None) -> BarProvider:
    from algotrader.ibkr.provider import IbkrProvider

    # Connects lazily (on the first describe/fetch), so building it never needs a gateway.
    return IbkrProvider(settings)


def _ibsim(settings: Settings, csv_path: Path | None) -> BarProvider:
    from algotrader.ibkr.provider import IbkrProvider

    return IbkrProvider(settings, name="ibsim", label="the IBKR simulator (synthetic data)")


# Builders are imported lazily so that, e.g., the CSV path never imports ib_async.
_BUILDERS: dict[str, Callable[[Settings, Path | None], BarProvider]] = {
    "ibkr": _ibkr,
    "ibsim": _ibsim,
    "synthetic": _synthetic,
    "csv": _csv,
}
PROVIDER_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def _lake(settings: Settings, url: str | None) -> BarProvider:
    try:
        from algotrader.data.providers.lake import LakeProvider
    except ImportError as exc:
        raise InvalidInputError(
            f"the lake source needs packages that are not installed ({exc.name})",
            "install them with: pip install 'algotrader[stream]'",
        ) from None
    if not url:
        raise InvalidInputError(
            "the lake source needs the lake's URL",
            "pass --lake URL (a folder, or s3://bucket/prefix)",
        )
    return LakeProvider(url)


# Providers that read a location given as a URL (``url=`` of get_provider).
_URL_BUILDERS: dict[str, Callable[[Settings, str | None], BarProvider]] = {"lake": _lake}
PROVIDER_NAMES = (*PROVIDER_NAMES, *_URL_BUILDERS)


def get_provider(
    name: str, settings: Settings, csv_path: Path | None = None, *, url: str | None = None
) -> BarProvider:
    """The provider called ``name`` (case-insensitive), configured from ``settings``.

    ``csv_path`` is required for ``"csv"`` and ignored otherwise; ``url`` likewise for
    ``"lake"``. An unknown name raises :class:`InvalidInputError` suggesting the closest valid
    one.
    """
    key = str(name).strip().lower()
    if key in _URL_BUILDERS:
        return _URL_BUILDERS[key](settings, url)
    builder = _BUILDERS.get(key)
    if builder is None:
        close = difflib.get_close_matches(key, PROVIDER_NAMES, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InvalidInputError(
            f"unknown data source {name!r}", f"{hint}use one of {', '.join(PROVIDER_NAMES)}"
        )
    return builder(settings, Path(csv_path) if csv_path is not None else None)
