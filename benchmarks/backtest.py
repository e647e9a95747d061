"""Backtest speed and memory, ours beside the peers', measured in one run (figures, no verdict).

    .venv/bin/python benchmarks/backtest.py [--bars 1000000] [--repeat 7] [--quick]

Workload (issue 15): synthetic one-minute bars (OHLCV only), MA 20/50 rule, next-open fills.

* one vectorised backtest of a built-in strategy through the public API
  (``Backtest(frame, "ma_cross").run()``) and at engine level (``run_backtest``), and the same
  with a stop-loss and a take-profit (the generic order loop, every held bar checks its exits);
* a user ``signals()`` strategy whose own work is done beforehand (the engine's share);
* the seed-style ``on_bar`` MA rule (``row["ma20"] > row["ma50"]``) through the public API;
* 10,000-bar backtests end to end (public API);
* start-up of ``algotrader --help`` and ``algotrader strategies list`` (fresh processes);
* extra peak memory of one backtest, each in a fresh process (peak RSS after the frame is built
  minus RSS before the run), at 100k, 1M and 10M bars;
* peers in the same run when installed (``pip install -e ".[bench]"``): vectorbt
  (``Portfolio.from_signals``, rust engine when available), backtesting.py (event loop), a
  plain-numpy vectorised backtest and a hand-fused numba loop (the speed of light here).

Times are the best of ``--repeat`` runs (wall clock); the machine is shared, so compare the
columns of one run rather than runs on different days.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
os.environ.setdefault("TQDM_DISABLE", "1")  # peers' progress bars would break the tables


class SeedMACross:
    """The seed's MACrossStrategy, verbatim in spirit: a plain class, no base, state rule."""

    def on_bar(self, i: int, row: Any, df: Any) -> str | None:
        if row["ma20"] > row["ma50"]:
            return "BUY"
        if row["ma20"] < row["ma50"]:
            return "SELL"
        return None


class SeedPortfolioMACross:
    """The same rule in seed 000's form, on_bar(date, row, portfolio)."""

    def on_bar(self, date: Any, row: Any, portfolio: Any) -> str | None:
        if row["ma20"] > row["ma50"]:
            return "BUY"
        if row["ma20"] < row["ma50"]:
            return "SELL"
        return None


class Precomputed:
    """A user ``signals()`` strategy whose work was done before the backtest."""

    def __init__(self, signals: np.ndarray) -> None:
        self._signals = signals

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        return self._signals


def synthetic_frame(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` one-minute OHLCV bars (a random walk)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.empty(n)
    open_[0] = close[0]
    open_[1:] = close[:-1]
    index = pd.date_range("2020-01-01", periods=n, freq="1min", tz="UTC", name="ts")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": np.full(n, 1_000.0),
        },
        index=index,
    )


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall-clock seconds of ``repeat`` runs (after one warm-up) and the last result."""
    out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


# --------------------------------------------------------------------------- ours


def ours(frame: pd.DataFrame, repeat: int) -> list[tuple[str, str, str]]:
    from algotrader import Backtest
    from algotrader.backtest.engine import run_backtest
    from algotrader.strategies import get_strategy

    n = len(frame)
    rows = []
    t, r = best(lambda: Backtest(frame, "ma_cross").run(), repeat)
    rows.append(("vectorised built-in, public API", f"{t * 1e3:.1f} ms", _trades(r)))
    strategy = get_strategy("ma_cross")
    t, r = best(lambda: run_backtest(frame, strategy, resolution="1m"), repeat)
    rows.append(("vectorised built-in, engine level", f"{t * 1e3:.1f} ms", _trades(r)))
    try:  # the generic order loop: a held bar checks its exits
        t, r = best(lambda: Backtest(frame, "ma_cross", stop_loss=0.01, take_profit=0.02).run(),
                    repeat)
        rows.append(("vectorised, stop-loss and take-profit", f"{t * 1e3:.1f} ms", _trades(r)))
    except Exception as exc:  # an engine without exits (the "before" figures)
        rows.append(("vectorised, stop-loss and take-profit", "n/a", type(exc).__name__))
    maker = get_strategy("ma_cross")
    user = Precomputed(maker.signals(maker.prepare(frame)))
    t, r = best(lambda: run_backtest(frame, user, resolution="1m"), repeat)
    rows.append(("user signals() (engine share)", f"{t * 1e3:.1f} ms", _trades(r)))
    runs = max(1, repeat // 3)
    t, r = best(lambda: Backtest(frame, SeedMACross, path="on_bar").run(), runs)
    rows.append(("on_bar seed MA rule, public API", f"{n / t / 1e6:.2f} M bars/s", _trades(r)))
    t, r = best(lambda: Backtest(frame, SeedPortfolioMACross, path="on_bar").run(), runs)
    rows.append(("on_bar seed form (date, row, portfolio)", f"{n / t / 1e6:.2f} M bars/s",
                 _trades(r)))
    small = frame.iloc[:10_000].copy()
    t, r = best(lambda: Backtest(small, "ma_cross").run(), repeat * 20)
    rows.append(("10,000 bars, public API, end to end", f"{t * 1e3:.2f} ms", _trades(r)))
    try:
        t, r = best(
            lambda: Backtest(small, "ma_cross", stop_loss=0.01, take_profit=0.02).run(),
            repeat * 20,
        )
        rows.append(("10,000 bars with stop-loss and take-profit", f"{t * 1e3:.2f} ms",
                     _trades(r)))
    except Exception as exc:  # an engine without exits (the "before" figures)
        rows.append(("10,000 bars with stop-loss and take-profit", "n/a", type(exc).__name__))
    return rows


def _trades(result: Any) -> str:
    return f"{int(result.metrics['num_trades'])} trades, final {result.equity.iloc[-1]:,.2f}"


# --------------------------------------------------------------------------- peers


def peers(frame: pd.DataFrame, repeat: int, with_event_loop: bool) -> list[tuple[str, str, str]]:
    rows = [_numba_baseline(frame, repeat), _numpy_baseline(frame, repeat)]
    rows += _vectorbt(frame, repeat)
    if with_event_loop:
        rows.append(_backtesting_py(frame))
    return [row for row in rows if row is not None]


def _numpy_baseline(frame: pd.DataFrame, repeat: int) -> tuple[str, str, str]:
    """The same crossing rule with whole-array numpy operations (fractional shares)."""

    def run() -> float:
        close = frame["close"].to_numpy()
        open_ = frame["open"].to_numpy()
        c = np.cumsum(np.r_[0.0, close])
        fast = np.full(close.size, np.nan)
        slow = np.full(close.size, np.nan)
        fast[19:] = (c[20:] - c[:-20]) / 20
        slow[49:] = (c[50:] - c[:-50]) / 50
        above = fast > slow
        below = fast < slow
        cross = np.zeros(close.size, np.int8)
        up = above[1:] & ~above[:-1]
        down = below[1:] & ~below[:-1]
        cross[1:] = up.astype(np.int8) - down.astype(np.int8)
        last = np.where(cross != 0, np.arange(close.size), 0)
        np.maximum.accumulate(last, out=last)
        state = cross[last] > 0
        held = np.r_[False, state[:-1]]  # decided at t-1's close, held from t's open
        before = np.r_[False, held[:-1]]
        factor = np.ones(close.size)
        prev_close = np.r_[close[0], close[:-1]]
        factor[held & before] = close[held & before] / prev_close[held & before]
        entered = held & ~before
        factor[entered] = close[entered] / open_[entered]
        left = ~held & before
        factor[left] = open_[left] / prev_close[left]
        return float(100_000.0 * np.prod(factor))

    t, final = best(run, repeat)
    return ("numpy vectorised (same rule, no metrics)", f"{t * 1e3:.1f} ms", f"final {final:,.2f}")


def _numba_baseline(frame: pd.DataFrame, repeat: int) -> tuple[str, str, str] | None:
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None

    @numba.njit(cache=False)
    def fused(open_: Any, close: Any, cash0: float) -> Any:
        n = close.shape[0]
        equity = np.empty(n)
        sf = 0.0
        ss = 0.0
        pf = np.nan
        ps = np.nan
        cash = cash0
        qty = 0.0
        pending = 0
        trades = 0
        for t in range(n):
            if pending == 1 and qty == 0.0:
                qty = cash / open_[t]
                cash = 0.0
                trades += 1
            elif pending == -1 and qty > 0.0:
                cash = qty * open_[t]
                qty = 0.0
            pending = 0
            x = close[t]
            sf += x
            ss += x
            f = np.nan
            s = np.nan
            if t >= 19:
                f = sf / 20
                sf -= close[t - 19]
            if t >= 49:
                s = ss / 50
                ss -= close[t - 49]
            if f > s and pf <= ps:
                pending = 1
            elif f < s and pf >= ps:
                pending = -1
            pf = f
            ps = s
            equity[t] = cash + qty * x
        return equity, trades

    o = frame["open"].to_numpy()
    c = frame["close"].to_numpy()
    t, (equity, trades) = best(lambda: fused(o, c, 100_000.0), repeat)
    return ("hand-fused numba loop (no metrics)", f"{t * 1e3:.1f} ms",
            f"{trades} trades, final {equity[-1]:,.2f}")


def _vectorbt(frame: pd.DataFrame, repeat: int) -> list[tuple[str, str, str]]:
    """vectorbt on numpy arrays (pandas inputs with a minute index take seconds per call here)."""
    try:
        import vectorbt as vbt
    except ImportError:
        return [("vectorbt", "not installed", "pip install -e '.[bench]'")]
    close, open_ = frame["close"].to_numpy(), frame["open"].to_numpy()
    rows = []
    for engine in ("rust", None):

        def run(engine: str | None = engine, metrics: bool = True) -> Any:
            fast = vbt.MA.run(close, 20).ma.to_numpy()
            slow = vbt.MA.run(close, 50).ma.to_numpy()
            up = np.r_[False, (fast[1:] > slow[1:]) & (fast[:-1] <= slow[:-1])]
            down = np.r_[False, (fast[1:] < slow[1:]) & (fast[:-1] >= slow[:-1])]
            kwargs = {"engine": engine} if engine else {}
            pf = vbt.Portfolio.from_signals(
                close, np.r_[False, up[:-1]], np.r_[False, down[:-1]], price=open_,
                init_cash=100_000.0, freq="1min", **kwargs,
            )
            if metrics:
                pf.total_return(), pf.max_drawdown(), pf.sharpe_ratio()
            return pf

        name = engine or "numba"
        try:
            t_pf, pf = best(lambda run=run: run(metrics=False), max(1, repeat // 2))
            t, pf = best(run, max(1, repeat // 2))
        except Exception as exc:  # e.g. no rust engine in this build
            rows.append((f"vectorbt engine={name}", "failed", type(exc).__name__))
            continue
        result = f"{pf.trades.count()} trades, final {pf.final_value():,.2f}"
        rows.append((f"vectorbt ({name}): MAs + from_signals", f"{t_pf * 1e3:.1f} ms", result))
        rows.append((f"vectorbt ({name}): + return, drawdown, Sharpe", f"{t * 1e3:.1f} ms", ""))
    return rows


def _backtesting_py(frame: pd.DataFrame) -> tuple[str, str, str]:
    try:
        from backtesting import Backtest, Strategy
    except ImportError:
        return ("backtesting.py", "not installed", "pip install -e '.[bench]'")

    def sma(values: Any, n: int) -> Any:
        return pd.Series(values).rolling(n).mean().to_numpy()

    class MACross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, 20)
            self.slow = self.I(sma, self.data.Close, 50)

        def next(self) -> None:
            if self.fast[-1] > self.slow[-1]:
                if not self.position:
                    self.buy()
            elif self.fast[-1] < self.slow[-1] and self.position:
                self.position.close()

    data = frame.rename(columns=str.capitalize)
    t0 = time.perf_counter()
    stats = Backtest(data, MACross, cash=100_000.0, finalize_trades=True).run()
    t = time.perf_counter() - t0
    return ("backtesting.py event loop (state rule)", f"{len(frame) / t / 1e6:.2f} M bars/s",
            f"{stats['# Trades']} trades, final {stats['Equity Final [$]']:,.2f}")


# --------------------------------------------------------------------------- memory

_MEMORY_CODE = """
import sys; sys.path.insert(0, {here!r})
import backtest as b
frame = b.synthetic_frame({bars})
{setup}
warm = frame.iloc[:2000].copy()
{warm}
import gc; gc.collect()
def rss(field):
    for line in open('/proc/self/status'):
        if line.startswith(field):
            return int(line.split()[1])
before = rss('VmRSS:')
open('/proc/self/clear_refs', 'w').write('5')
result = {run}
print(rss('VmHWM:') - before)
"""

_MEMORY_CASES = {
    "ours vectorised (ma_cross)": (
        "from algotrader import Backtest",
        "Backtest(warm, 'ma_cross').run()",
        "Backtest(frame, 'ma_cross').run()",
    ),
    "ours on_bar (seed MA rule)": (
        "from algotrader import Backtest",
        "Backtest(warm, b.SeedMACross, path='on_bar').run()",
        "Backtest(frame, b.SeedMACross, path='on_bar').run()",
    ),
    "numpy vectorised": ("", "b._numpy_baseline(warm, 1)", "b._numpy_baseline(frame, 1)"),
    "vectorbt (rust)": ("", "b._vectorbt(warm, 1)", "b._vectorbt(frame, 1)"),
    "backtesting.py": ("", "b._backtesting_py(warm)", "b._backtesting_py(frame)"),
}


def extra_peak_mib(case: str, bars: int) -> float | None:
    setup, warm, run = _MEMORY_CASES[case]
    code = _MEMORY_CODE.format(here=str(HERE), bars=bars, setup=setup, warm=warm, run=run)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def numba_cache_report() -> str:
    """Compiling vs loading: the first backtest in two fresh processes."""
    code = (
        "import time; t = time.perf_counter(); "
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import backtest as b; "
        "from algotrader import Backtest; "
        "Backtest(b.synthetic_frame(1000), 'ma_cross').run(); "
        "print(time.perf_counter() - t)"
    )
    times = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        times.append(float(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else 0.0)
    return f"first backtest in a fresh process: {times[0]:.2f} s, then {times[1]:.2f} s"


def startup_report(repeat: int = 3) -> str:
    """``algotrader --help`` and ``algotrader strategies list`` in fresh processes: the best wall
    time of ``repeat`` and that run's CPU time (on a busy machine the CPU time is the fairer)."""
    command = str(Path(sys.executable).with_name("algotrader"))
    figures = []
    for args in (["--help"], ["strategies", "list"]):
        best_wall, best_cpu = float("inf"), 0.0
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([command, *args], capture_output=True, check=True)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            if wall < best_wall:
                best_wall, best_cpu = wall, cpu
        figures.append(f"`algotrader {' '.join(args)}` {best_wall:.2f} s (CPU {best_cpu:.2f} s)")
    return f"start-up (fresh process, best of {repeat}): " + "; ".join(figures)


# --------------------------------------------------------------------------- main


def _table(title: str, rows: list[tuple[str, str, str]]) -> None:
    print(f"\n{title}")
    print(f"| {'workload':<46} | {'figure':>16} | result")
    print(f"|{'-' * 48}|{'-' * 18}|{'-' * 40}")
    for name, figure, note in rows:
        print(f"| {name:<46} | {figure:>16} | {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="skip memory and event-loop peers")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.bars:,} bars")
    print(startup_report())
    frame = synthetic_frame(args.bars)
    _table("algotrader", ours(frame, args.repeat))
    _table("peers (same run)", peers(frame, args.repeat, with_event_loop=not args.quick))
    if args.quick:
        return
    print("\nextra peak memory of one backtest (fresh process, MiB)")
    sizes = (100_000, 1_000_000, 10_000_000)
    print(f"| {'case':<30} | " + " | ".join(f"{n:>10,}" for n in sizes))
    for case in _MEMORY_CASES:
        cells = []
        for n in sizes:
            if case == "backtesting.py" and n > 1_000_000:
                cells.append(f"{'-':>10}")
                continue
            mib = extra_peak_mib(case, n)
            cells.append(f"{mib:>10.0f}" if mib is not None else f"{'n/a':>10}")
        print(f"| {case:<30} | " + " | ".join(cells))
    print("\n" + numba_cache_report())


if __name__ == "__main__":
    main()
