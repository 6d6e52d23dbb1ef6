"""Parameters from Discord: /settings on a channel reaches its threads' requests,
/ask options reach one request, and values out of range get a sentence, not a request."""

from __future__ import annotations

from bot import wording
from bot.domain import ThreadKey
from tests.discord.harness import EVERYONE_PERMISSIONS, MANAGE_CHANNELS, Rig
from tests.fakes.discord.interactions import MESSAGE
from tests.fakes.discord.model import EPHEMERAL
from tests.fakes.upstream import FakeUpstream


async def test_settings_on_a_channel_reach_its_threads_requests(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    general = fake.channel()
    async with rig.bot():
        chosen = await rig.slash(
            "settings",
            {"temperature": 0.3, "max_tokens": 200, "response_format": "json_object"},
            permissions=EVERYONE_PERMISSIONS | MANAGE_CHANNELS,
        )
        said = await rig.interaction_reply(chosen)
        shown = await fake.dispatch_slash_command("settings")
        listed = await rig.interaction_reply(shown)
        asked = await fake.dispatch_message(content="a list of colours", mentions_bot=True)
        await rig.answered(await rig.thread_of(asked))

    assert said == (
        "Alice set this channel's temperature to 0.3, max_tokens to 200, "
        "response_format to json_object."
    )
    assert "temperature: 0.3 (set for this channel)" in listed
    stored = await rig.store.settings(
        ThreadKey("discord", str(general.guild_id), str(general.id), "")
    )
    assert (stored.temperature, stored.max_tokens, stored.response_format) == (
        0.3,
        200,
        "json_object",
    )
    [request] = upstream.requests  # the mention's thread inherits the channel's values
    assert request["temperature"] == 0.3
    assert request["max_tokens"] == 200
    assert request["response_format"] == {"type": "json_object"}


async def test_ask_options_reach_the_request(rig: Rig, upstream: FakeUpstream) -> None:
    async with rig.bot():
        interaction = await rig.fake.dispatch_slash_command(
            "ask", {"prompt": "hi", "temperature": 1.5, "max_tokens": 64, "json": True}
        )
        answer = await rig.interaction_done(interaction)
    assert answer.content == '```json\n{"you_said": "hi"}\n```'  # checked: no notice
    [request] = upstream.requests
    assert request["temperature"] == 1.5
    assert request["max_tokens"] == 64
    assert request["response_format"] == {"type": "json_object"}
    assert "n" not in request


async def test_values_out_of_range_are_refused_without_a_request(
    rig: Rig, upstream: FakeUpstream
) -> None:
    """Discord's client enforces the ranges; a crafted interaction meets the core's check."""
    fake = rig.fake
    async with rig.bot():
        too_long = await fake.dispatch_slash_command(
            "ask", {"prompt": "hi", "max_tokens": 10_000_000}
        )
        await fake.wait_for(lambda: too_long.acknowledged)
        too_hot = await rig.slash(
            "settings", {"temperature": 2.5}, permissions=EVERYONE_PERMISSIONS | MANAGE_CHANNELS
        )
        refused = await rig.interaction_reply(too_hot)

    assert too_long.response_type == MESSAGE
    assert too_long.response_data is not None
    assert too_long.response_data["flags"] & EPHEMERAL
    assert too_long.response_data["content"].startswith("max_tokens must be between 1 and ")
    assert refused == wording.temperature_out_of_range(2.5)
    assert upstream.requests == []
    general = fake.channel()
    key = ThreadKey("discord", str(general.guild_id), str(general.id), "")
    assert (await rig.store.settings(key)).temperature is None


async def test_n_candidates_each_get_a_keep_button_and_the_kept_one_is_context(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    async with rig.bot():
        opened = await fake.dispatch_message(content="hello there", mentions_bot=True)
        thread_id = await rig.thread_of(opened)
        await rig.answered(thread_id)
        asked = await fake.dispatch_slash_command(
            "ask", {"prompt": "a colour", "n": 3}, channel_id=thread_id
        )
        answer = await rig.interaction_done(asked)
        keeps = [b.custom_id or "" for b in answer.buttons if "keep" in (b.custom_id or "")]
        click = await fake.click_button(answer.id, keeps[1])
        await fake.wait_for(lambda: click.acknowledged)
        await fake.wait_for(lambda: click.followup_ids)
        await fake.dispatch_message(thread_id, content="and another?")
        await fake.wait_for(lambda: len(upstream.requests) == 3)

    assert upstream.requests[1]["n"] == 3
    assert answer.content == (
        "**Candidate 1 of 3**\nYou said: a colour\n\n"
        "**Candidate 2 of 3**\nYou said: a colour (candidate 2)\n\n"
        "**Candidate 3 of 3**\nYou said: a colour (candidate 3)"
    )
    assert [b.label for b in answer.buttons] == ["Regenerate", "Keep 1", "Keep 2", "Keep 3"]
    told = fake.world.messages[click.followup_ids[0]]
    assert told.content == wording.candidate_kept(2)
    carried = [m["content"] for m in upstream.requests[2]["messages"] if m["role"] == "assistant"]
    assert carried == ["You said: hello there", "You said: a colour (candidate 2)"]
