"""The ``algotrader`` command itself: help pages, exit codes, interruptions, start-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import typer.main

from algotrader.cli.app import app, main

ALGOTRADER = str(Path(sys.executable).with_name("algotrader"))


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        if isinstance(command, click.Group):
            found += _commands(command, path)
        else:
            found.append((path, command))
    return found


ALL_COMMANDS = _commands(typer.main.get_command(app))  # type: ignore[arg-type]


@pytest.mark.parametrize("name,command", ALL_COMMANDS, ids=[n for n, _ in ALL_COMMANDS])
def test_every_option_and_command_says_what_it_does(name: str, command: click.Command) -> None:
    assert command.help, f"`algotrader {name}` has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"`algotrader {name}` option {param.opts} has no description"


@pytest.mark.parametrize("args", [["--help"], ["ingest", "--help"], ["backtest", "--help"]])
def test_help_pages_show_defaults_without_escape_characters(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "\\[" not in out
    if args != ["--help"]:
        assert "[default: 1d]" in out and "Examples" in out


def test_a_command_that_exits_with_a_code_keeps_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A batch where every symbol fails exits 1 after its table (typer.Exit(1) inside a command).
    code = main(["--data-dir", str(workdir), "backtest", "-s", "AAA,BBB"])
    assert code == 1
    assert "failed: no 1d bars of AAA" in capsys.readouterr().out


def test_ctrl_c_prints_one_line_and_exits_130(workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    env["ALGOTRADER_DATA_DIR"] = str(workdir / "data")
    env["ALGOTRADER_LOG_DIR"] = str(workdir / "logs")
    command = [ALGOTRADER, "ingest", "-s", "AAPL", "-r", "1m", "-d", "20 Y", "--source",
               "synthetic"]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    # Wait until the command is running (it printed its first line), then interrupt it.
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("Running ingest pipeline"), first
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["error: interrupted"], err


_HEAVY = ("pandas", "numba", "sqlalchemy", "matplotlib", "ib_async", "scipy", "asyncio")


@pytest.mark.parametrize("argv", [["--help"], ["strategies", "list"]])
def test_quick_commands_import_no_heavy_library(argv: list[str], workdir: Path) -> None:
    # Start-up time is dominated by imports: these commands must not pay for the engine's.
    code = (
        "import sys; from algotrader.cli.app import main; main(sys.argv[1:]); "
        f"print([m for m in {_HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=workdir,
        check=True, timeout=120,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_command_lists_show_each_summary_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # rich keeps a docstring's line breaks: summaries were cut mid-sentence in the command list
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "at 1d and 1h (synthetic bars), backtest every built-in strategy" in out
    assert "last DURATION of bars with indicators and a PNG chart" in out
