"""The app manifest asks Slack for exactly what the adapter listens to and needs.

Limits checked are the manifest schema's
(https://github.com/slackapi/manifest-schema, schemas/manifest.schema.1.0.0.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import adapters.slack
from adapters.slack.app import EVENTS, REVOCATION_EVENTS
from adapters.slack.commands import COMMANDS
from bot import wording
from bot.settings import SlackSettings

MANIFEST_PATH = Path(adapters.slack.__file__).parent / "manifest.json"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    parsed = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    assert isinstance(parsed, dict)
    return parsed


def test_it_lists_exactly_the_slash_commands_the_adapter_registers(
    manifest: dict[str, Any],
) -> None:
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == list(COMMANDS)
    for command in commands:
        assert 2 <= len(command["command"]) <= 32
        assert 1 <= len(command["description"]) <= 2_000
        assert command.get("should_escape") is False  # prompts arrive as typed: @name, not <@U…>
    hints = {c["command"]: c.get("usage_hint") for c in commands}
    # the flag parse_prompt reads, and the words parse_ask_prefix reads
    assert hints["/ask"] == (
        "[--model NAME] [temperature=0.7 max_tokens=500 format=json n=3] your question"
    )


def test_it_subscribes_to_exactly_the_events_the_adapter_handles(manifest: dict[str, Any]) -> None:
    bot_events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert len(bot_events) == len(set(bot_events))
    # message.channels / .groups / .im all arrive as the "message" event.
    assert {event.split(".", 1)[0] for event in bot_events} == set(EVENTS + REVOCATION_EVENTS)
    messages = {event for event in bot_events if event.startswith("message.")}
    assert messages == {"message.channels", "message.groups", "message.im"}


def test_it_asks_for_the_scopes_the_adapter_uses(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert sorted(scopes) == [
        "app_mentions:read",
        "assistant:write",  # assistant.threads.setStatus / setTitle / setSuggestedPrompts
        "channels:history",  # message.channels, conversations.replies
        "chat:write",  # posts, edits, chat.*Stream
        "commands",
        "files:read",  # url_private downloads
        "files:write",  # files_upload_v2 (image answers)
        "groups:history",
        "im:history",
        "im:read",
        "im:write",
        "users:read",  # display names
    ]
    assert sorted(SlackSettings().scopes) == sorted(scopes)  # asked for on OAuth installs


def test_it_is_a_socket_mode_assistant_app(manifest: dict[str, Any]) -> None:
    assert 1 <= len(manifest["display_information"]["name"]) <= 35
    assert len(manifest["display_information"]["description"]) <= 140
    assert manifest["features"]["bot_user"]["display_name"]
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assistant = manifest["features"]["assistant_view"]
    assert assistant["assistant_description"]
    prompts = [(p["title"], p["message"]) for p in assistant["suggested_prompts"]]
    assert prompts == wording.slack_suggested_prompts()
