"""Settings as the environment gives them: every bad name or value is refused with a sentence."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

from bench.e2e import QUOTAS_OFF
from bot.errors import ConfigError
from bot.setting_names import name_problems
from bot.settings import Settings, load_settings

SEED_ENV_FILE = (
    # The API docs' .env (../shared/seeds), verbatim: quotes and a trailing comment.
    'OPENAI_API_KEY="sk-xxx"\n'
    'OPENAI_BASE_URL="https://api.acedata.cloud/openai"  # Reminder: If you use the '
    "official OpenAI key, do not use this address.\n"
)


def docker_env_file(text: str) -> dict[str, str]:
    """What ``docker run --env-file`` puts in the environment: each ``NAME=value`` line as
    written, quotes and comments kept; only whole-line comments and blank lines skipped
    (https://docs.docker.com/reference/cli/docker/container/run/#env)."""
    found = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            found[name] = value
    return found


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if "__" in name or name.startswith(("OPENAI_", "DISCORD_", "SLACK_")):
            monkeypatch.delenv(name)


def refused(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    return caught.value.user_message


def test_docker_env_file_values_arrive_without_quotes(monkeypatch: pytest.MonkeyPatch) -> None:
    env = docker_env_file(SEED_ENV_FILE)
    assert env["OPENAI_API_KEY"] == '"sk-xxx"'  # what Docker really passes
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(env_file=None)
    assert settings.upstream.api_key is not None
    assert settings.upstream.api_key.get_secret_value() == "sk-xxx"
    assert settings.upstream.base_url == "https://api.acedata.cloud/openai"


@pytest.mark.parametrize(
    ("name", "written", "meant"),
    [
        ("DISCORD_TOKEN", "'MTA.x.y'", "MTA.x.y"),
        ("SLACK_BOT_TOKEN", '"xoxb-1-2"', "xoxb-1-2"),
        ("SLACK__APP_TOKEN", '"xapp-1"  # Socket Mode', "xapp-1"),
        ("SLACK_SIGNING_SECRET", "abc  # comment", "abc"),
    ],
)
def test_tokens_lose_one_pair_of_quotes(
    monkeypatch: pytest.MonkeyPatch, name: str, written: str, meant: str
) -> None:
    monkeypatch.setenv(name, written)
    settings = load_settings(env_file=None)
    values = [settings.discord.token, settings.slack.bot_token, settings.slack.app_token]
    values.append(settings.slack.signing_secret)
    assert meant in [v.get_secret_value() for v in values if v is not None]


def test_a_quote_that_is_part_of_a_value_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMITS__SYSTEM_PROMPT", '"Be brief." said the operator')
    monkeypatch.setenv("OPENAI_API_KEY", '"sk-a\'b"x')
    settings = load_settings(env_file=None)
    assert settings.limits.system_prompt == '"Be brief." said the operator'
    assert settings.upstream.api_key is not None
    assert settings.upstream.api_key.get_secret_value() == '"sk-a\'b"x'


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("LIMITS__MAX_CONCURRENT_REPLIES", "-1", "must be at least 0"),
        ("UPSTREAM__MODELS", "notjson", "must be written as JSON"),
        ("LOGGING__LEVEL", "LOUD", "must be one of"),
        ("UPSTREAM__TIMEOUT_IDLE", "-1", "must be more than 0"),
        ("UPSTREAM__MAX_TOKENS", "-5", "must be at least 1"),
        ("LIMITS__CONTEXT_TOKENS", "0", "must be at least 1"),
        ("UPSTREAM__RETRY_ATTEMPTS", "0", "must be at least 1"),
        ("STORAGE__FLUSH_INTERVAL", "0", "must be more than 0"),
        ("SLACK__HTTP_PORT", "70000", "must be at most 65535"),
        ("DISCORD__BLOCKED_USER_IDS", "123,456", "must be written as JSON"),
        ("UPSTREAM__MODELS", '{"m": {"context_tokens": 0}}', "must be at least 1"),
        ("IMAGES__FETCH_TIMEOUT", "soon", "must be a number"),
    ],
)
def test_a_bad_value_is_one_sentence_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, rule: str
) -> None:
    sentence = refused(monkeypatch, **{name: value})
    assert sentence.startswith("The configuration is not valid: ")
    assert name in sentence
    assert rule in sentence
    assert sentence.endswith(".")
    assert ". " not in sentence  # one sentence
    assert "Traceback" not in sentence
    assert "pydantic" not in sentence


@pytest.mark.parametrize(
    ("name", "closest"),
    [
        ("UPSTREAM__TIMEOUT_IDEL", "UPSTREAM__TIMEOUT_IDLE"),
        ("UPSTRAEM__TIMEOUT_IDLE", "UPSTREAM__TIMEOUT_IDLE"),
        ("UPSTREAM_TEMPERATURE", "UPSTREAM__TEMPERATURE"),
        ("LIMITS__MAX_CONCURRENT_REPLY", "LIMITS__MAX_CONCURRENT_REPLIES"),
        ("QUOTA_USER_PER_MINUTE", "QUOTA__USER_PER_MINUTE"),
    ],
)
def test_a_misspelled_name_is_refused_with_the_closest_one(
    monkeypatch: pytest.MonkeyPatch, name: str, closest: str
) -> None:
    sentence = refused(monkeypatch, **{name: "1"})
    assert name in sentence
    assert closest in sentence


def test_an_unknown_field_without_a_close_name_is_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sentence = refused(monkeypatch, UPSTREAM__TYPO="1")
    assert "UPSTREAM__TYPO is not a setting" in sentence


def test_other_programs_names_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_WEBHOOK_URL", "DOCKER__HOST", "PYTEST__X", "HOME", "UPSTREAMS"):
        monkeypatch.setenv(name, "x")
    load_settings(env_file=None)


def test_a_whole_section_that_is_not_json_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # pydantic-settings reads UPSTREAM as the whole section, written as JSON.
    assert "UPSTREAM must be written as JSON" in refused(monkeypatch, UPSTREAM="x")


def test_the_names_the_tests_and_benchmarks_set_are_all_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used = {
        **QUOTAS_OFF,
        "LIMITS__MAX_CONCURRENT_REPLIES": "200",
        "LOGGING__LEVEL": "WARNING",
        "STORAGE__FLUSH_INTERVAL": "0.05",
        "DISCORD__API_BASE": "http://127.0.0.1:1/api/v10",
        "DISCORD__GATEWAY_URL": "ws://127.0.0.1:1/gateway",
        "SLACK__API_URL": "http://127.0.0.1:1/api/",
        "SLACK__STREAM_APPEND_INTERVAL": "0.1",
        "SLACK__STREAM_APPENDS_PER_MINUTE": "6000",
        "OPS__PORT": "off",
        "OPS__UPSTREAM_CACHE_SECONDS": "0",
    }
    for name, value in used.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(env_file=None)
    assert settings.quota.max_in_flight == 0
    assert settings.ops.port is None


def test_every_nested_name_the_tests_and_benchmarks_write_is_a_setting() -> None:
    """A name in an env dict of a test or benchmark that start-up would refuse breaks them."""
    on_purpose = {
        Path(__file__).name,
        "test_cli_habits.py",
        "test_docs.py",
    }  # these spell bad names
    root = Path(__file__).resolve().parent.parent
    sources = [*root.glob("tests/**/*.py"), *root.glob("bench/*.py")]
    written = {
        name: "1"
        for path in sources
        if path.name not in on_purpose
        for name in re.findall(r'"([A-Z]+__[A-Z_]+)"', path.read_text())
    }
    assert "LIMITS__MAX_CONCURRENT_REPLIES" in written  # bench/e2e.py's, among others
    assert name_problems(Settings, written) == []


def test_the_issue_endpoint_names_are_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_API_BASE_URL", "http://127.0.0.1:8082/api/v10")
    monkeypatch.setenv("DISCORD_GATEWAY_URL", "ws://127.0.0.1:8082/gateway")
    monkeypatch.setenv("SLACK_API_BASE_URL", "http://127.0.0.1:8083/api")
    settings = load_settings(env_file=None)
    assert settings.discord.api_base == "http://127.0.0.1:8082/api/v10"
    assert settings.discord.gateway_url == "ws://127.0.0.1:8082/gateway"
    assert settings.slack.api_url == "http://127.0.0.1:8083/api/"


def test_an_alias_is_named_as_it_was_written(monkeypatch: pytest.MonkeyPatch) -> None:
    sentence = refused(monkeypatch, SLACK_API_BASE_URL="slack.com/api")
    assert "SLACK_API_BASE_URL must start with http:// or https://" in sentence


def test_the_nested_name_wins_over_its_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_API_BASE_URL", "http://127.0.0.1:1/api/")
    monkeypatch.setenv("SLACK__API_URL", "http://127.0.0.1:2/api/")
    assert load_settings(env_file=None).slack.api_url == "http://127.0.0.1:2/api/"


@pytest.mark.parametrize("prefix", ["SLACK_", "SLACK__"])
def test_slack_oauth_credentials_take_bolts_names_and_ours(
    monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    monkeypatch.setenv(f"{prefix}CLIENT_ID", "1111.2222")
    monkeypatch.setenv(f"{prefix}CLIENT_SECRET", '"s3cret"')
    slack = load_settings(env_file=None).slack
    assert slack.client_id == "1111.2222"
    assert slack.client_secret is not None
    assert slack.client_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(slack)


def test_a_retired_setting_still_starts_and_says_what_replaced_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLACK__RECENT_EVENTS", "2048")  # read until issue 18's workers
    with caplog.at_level(logging.WARNING, logger="bot.settings"):
        load_settings(env_file=None)
    assert "SLACK__DEDUP_SECONDS replaced it" in caplog.text
