"""Compiled code is cached on disk, and the cache never serves code older than its sources."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from numba.core.caching import NullCache
from numba.core.dispatcher import Dispatcher
from tests.conftest import build_frame

from algotrader import Backtest
from algotrader.backtest import _kernel
from algotrader.backtest.engine import engine_compiled

MODULES = (
    "algotrader.backtest._kernel",
    "algotrader.backtest._orders",
    "algotrader.backtest.metrics",
    "algotrader.strategies._rules",
    "algotrader.strategies._util",
    "algotrader.indicators._kernels",
)


def test_every_compiled_function_is_cached_on_disk() -> None:
    import importlib

    for name in MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, Dispatcher):
                assert not isinstance(value._cache, NullCache), f"{name}.{attr}"


def _run(folder: Path) -> str:
    code = "import user; print(user.f(2.0))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_editing_an_inlined_dependency_recompiles_its_callers(tmp_path: Path) -> None:
    (tmp_path / "dep.py").write_text(
        "import numba\n\n@numba.njit(inline='always')\ndef g(x):\n    return x + 1.0\n"
    )
    (tmp_path / "user.py").write_text(
        textwrap.dedent(
            """
            import numba
            import dep
            from algotrader.backtest._cache_guard import guard

            @numba.njit(cache=True)
            def f(x):
                return dep.g(x)

            guard(globals(), [dep.__file__])
            """
        )
    )
    assert _run(tmp_path) == "3.0"
    assert _run(tmp_path) == "3.0"  # from the cache
    (tmp_path / "dep.py").write_text(
        "import numba\n\n@numba.njit(inline='always')\ndef g(x):\n    return x + 10.0\n"
    )
    assert _run(tmp_path) == "12.0"


def test_the_kernel_is_compiled_once_whatever_mix_of_inputs_a_strategy_reads() -> None:
    # Inputs read from the frame are read-only under pandas' copy-on-write, computed ones are
    # writable: each mix used to be another argument type, so another minute of compiling.
    closes = 100.0 + np.cumsum(np.random.default_rng(3).standard_normal(300))
    frame = build_frame(closes)
    for strategy in ("hello_world", "ma_cross", "macd", "bollinger", "ath_breakout"):
        Backtest(frame, strategy).run()
    assert len(_kernel.run.signatures) == 1


def test_the_engine_is_reported_compiled_once_a_backtest_has_run() -> None:
    Backtest(build_frame(100.0 + np.arange(80.0)), "ma_cross").run()
    assert engine_compiled()


def _with_empty_cache(tmp_path: Path, code: str) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout


def test_an_empty_cache_is_reported_as_a_compile_to_come(tmp_path: Path) -> None:
    code = "from algotrader.backtest.engine import engine_compiled; print(engine_compiled())"
    assert _with_empty_cache(tmp_path, code).strip() == "False"


def test_the_cli_announces_the_first_compile(tmp_path: Path) -> None:
    code = "from algotrader.cli.backtest import announce_compile; announce_compile()"
    assert "compiling the engine" in _with_empty_cache(tmp_path, code)
