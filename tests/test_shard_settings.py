"""DISCORD__SHARD_COUNT and DISCORD__SHARD_IDS: which shards this process runs, and
each bad combination refused with one sentence."""

from __future__ import annotations

import pytest

from bot.settings import Settings, load_settings
from tests.test_settings import clean_environment, refused

__all__ = ["clean_environment"]  # autouse here too: no DISCORD_* from outside


@pytest.mark.parametrize(
    ("env", "rule"),
    [
        ({"DISCORD__SHARD_IDS": "[0]"}, "DISCORD__SHARD_IDS needs DISCORD__SHARD_COUNT too"),
        ({"DISCORD__SHARD_COUNT": "0"}, "DISCORD__SHARD_COUNT must be at least 1"),
        (
            {"DISCORD__SHARD_COUNT": "2", "DISCORD__SHARD_IDS": "[2]"},
            "DISCORD__SHARD_IDS must be a JSON list of different shard numbers from 0 to 1",
        ),
        (
            {"DISCORD__SHARD_COUNT": "2", "DISCORD__SHARD_IDS": "[1, 1]"},
            "DISCORD__SHARD_IDS must be a JSON list of different shard numbers from 0 to 1",
        ),
        ({"DISCORD__SHARD_COUNT": "2", "DISCORD__SHARD_IDS": "[]"}, "(DISCORD__SHARD_COUNT is 2)"),
        ({"DISCORD__SHARD_COUNT": "3", "DISCORD__SHARD_IDS": "1"}, "must be a JSON list"),
    ],
)
def test_a_bad_shard_combination_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], rule: str
) -> None:
    sentence = refused(monkeypatch, **env)
    assert rule in sentence
    assert sentence.endswith(".")
    assert ". " not in sentence


def test_the_shards_of_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).discord.shard_count is None  # unset: Discord recommends
    monkeypatch.setenv("DISCORD__SHARD_COUNT", "4")
    monkeypatch.setenv("DISCORD__SHARD_IDS", "[3, 0]")
    settings = load_settings(env_file=None)
    assert (settings.discord.shard_count, settings.discord.shard_ids) == (4, [3, 0])
