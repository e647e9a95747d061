"""Named universes: stored lists, and what ``--universe`` resolves to."""

from __future__ import annotations

from pathlib import Path

import pytest

from algotrader.app.universes import (
    get_universe,
    list_universes,
    remove_universe,
    resolve_universe,
    save_universe,
)
from algotrader.config import Settings, load_settings
from algotrader.errors import DataNotFoundError, InvalidInputError


@pytest.fixture
def settings(db_url: str, workdir: Path) -> Settings:
    return load_settings(
        database_url=db_url, data_dir=str(workdir / "data"), log_dir=str(workdir / "logs")
    )


def test_a_list_is_created_added_to_and_replaced_in_order(settings: Settings) -> None:
    first = save_universe(settings, "Tech", ["aapl", "MSFT"])
    assert first.created and first.added == 2 and first.universe.name == "tech"
    more = save_universe(settings, "tech", ["NVDA", "AAPL"])
    assert not more.created and more.added == 1
    assert get_universe(settings, "TECH").symbols == ("AAPL", "MSFT", "NVDA")
    swapped = save_universe(settings, "tech", ["SPY"], replace=True)
    assert swapped.universe.symbols == ("SPY",) and not swapped.created
    save_universe(settings, "bonds", ["TLT"])
    assert [u.name for u in list_universes(settings)] == ["bonds", "tech"]


def test_removing_symbols_keeps_the_rest_and_an_emptied_list_goes(settings: Settings) -> None:
    save_universe(settings, "mix", ["SPY", "TLT", "GLD"])
    left = remove_universe(settings, "mix", ["TLT"])
    assert left is not None and left.symbols == ("SPY", "GLD")
    with pytest.raises(DataNotFoundError, match="QQQ not in universe mix"):
        remove_universe(settings, "mix", ["QQQ"])
    assert remove_universe(settings, "mix", ["SPY", "GLD"]) is None
    assert list_universes(settings) == []


def test_a_file_wins_over_a_stored_list_of_the_same_name(settings: Settings) -> None:
    save_universe(settings, "pair", ["SPY", "TLT"])
    assert resolve_universe(settings, "pair") == ["SPY", "TLT"]
    Path("pair").write_text("# a file\nGLD\nqqq, iwm\n", encoding="utf-8")
    assert resolve_universe(settings, "pair") == ["GLD", "QQQ", "IWM"]


def test_an_unknown_universe_names_the_closest_stored_lists(settings: Settings) -> None:
    save_universe(settings, "tech", ["AAPL"])
    save_universe(settings, "energy", ["XOM"])
    with pytest.raises(InvalidInputError) as err:
        resolve_universe(settings, "tehc")
    assert str(err.value).startswith("no universe file or stored list named tehc:")
    assert "(did you mean tech?)" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InvalidInputError, match="stored lists: energy, tech"):
        resolve_universe(settings, "nothing-like-it")


def test_bad_names_and_symbols_are_refused(settings: Settings) -> None:
    with pytest.raises(InvalidInputError, match="invalid universe name"):
        save_universe(settings, "my list", ["SPY"])
    with pytest.raises(InvalidInputError, match="invalid symbol"):
        save_universe(settings, "ok", ["SPY", "A$B"])
    assert list_universes(settings) == []
