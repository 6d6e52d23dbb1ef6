"""Slash commands: deferred within Discord's 3 s, answers streamed into the follow-up."""

from __future__ import annotations

from bot import wording
from bot.allowance import UsageReport
from bot.domain import ThreadKey
from bot.fetch import Fetcher
from bot.image_flow import ImageFlow
from bot.models import ModelCatalog
from bot.settings import ImageSettings
from tests.discord.harness import MANAGE_CHANNELS, REGENERATE, Rig, button
from tests.fakes.discord.interactions import AUTOCOMPLETE, DEFERRED_MESSAGE, MESSAGE
from tests.fakes.discord.model import EPHEMERAL, LOADING
from tests.fakes.discord.payloads import EVERYONE_PERMISSIONS
from tests.fakes.upstream import Answer, FakeUpstream
from tests.fakes.upstream.seeds import TINY_PNG

COMMANDS = ["ask", "image", "model", "system", "reset", "usage", "settings"]


async def test_commands_are_synced_at_start(rig: Rig) -> None:
    async with rig.bot():
        pass
    assert sorted(c.name for c in rig.fake.commands()) == sorted(COMMANDS)
    [system] = [c for c in rig.fake.commands() if c.name == "system"]
    # Anyone may see the system prompt; changing it is checked by bot.conversation_settings.
    assert system.raw["default_member_permissions"] is None


async def test_a_dev_guild_gets_the_commands_instantly(rig: Rig) -> None:
    guild = rig.fake.guild.id
    async with rig.bot(dev_guild_id=guild):
        pass
    assert sorted(c.name for c in rig.fake.commands(guild)) == sorted(COMMANDS)


async def test_ask_is_deferred_and_streams_into_the_follow_up(
    rig: Rig, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="Forty-two, as always.")
    async with rig.bot():
        interaction = await rig.fake.dispatch_slash_command("ask", {"prompt": "The answer?"})
        answer = await rig.interaction_done(interaction)

    assert interaction.response_type == DEFERRED_MESSAGE
    assert interaction.rejected_callbacks == []  # acknowledged within the 3 s
    assert answer.id == interaction.original_message_id
    assert answer.content == "Forty-two, as always."
    assert answer.history[0] == ""  # Discord's "is thinking…" (LOADING), then ours
    assert wording.THINKING_PLACEHOLDER in answer.history[1]
    assert not answer.flags & LOADING
    button(answer, REGENERATE)
    [request] = upstream.requests
    assert request["messages"][-1] == {"role": "user", "content": "The answer?"}
    written = [b for b in rig.fake.message_bodies() if "content" in b]
    assert written
    assert all(b["allowed_mentions"] == {"parse": []} for b in written)
    stored = await rig.store.find_by_message("discord", f"interaction:{interaction.id}")
    assert stored is not None
    assert stored.key.thread == str(interaction.id)  # a conversation of its own


async def test_ask_with_a_model_uses_it_and_refuses_unknown_ones(
    rig: Rig, upstream: FakeUpstream
) -> None:
    async with rig.bot():
        unknown = await rig.fake.dispatch_slash_command("ask", {"prompt": "hi", "model": "gpt-9"})
        await rig.fake.wait_for(lambda: unknown.acknowledged)
        chosen = await rig.fake.dispatch_slash_command("ask", {"prompt": "hi", "model": "gpt-4"})
        await rig.interaction_done(chosen)

    assert unknown.response_type == MESSAGE
    assert unknown.response_data is not None
    assert unknown.response_data["flags"] & EPHEMERAL
    assert unknown.response_data["content"].startswith("threadline does not know the model `gpt-9`")
    [request] = upstream.requests
    assert request["model"] == "gpt-4"


async def test_image_asks_the_image_model(rig: Rig, upstream: FakeUpstream) -> None:
    async with rig.bot():
        interaction = await rig.fake.dispatch_slash_command("image", {"prompt": "a red fox"})
        await rig.interaction_done(interaction)
    assert upstream.requests[-1]["model"] == "gpt-4o-image"


async def test_model_autocompletes_from_the_catalog(rig: Rig) -> None:
    async with rig.bot():
        typed = await rig.autocomplete("model", "name", "4o")
        await rig.fake.wait_for(lambda: typed.acknowledged)
        everything = await rig.autocomplete("ask", "model", "")
        await rig.fake.wait_for(lambda: everything.acknowledged)

    assert typed.response_type == AUTOCOMPLETE
    assert typed.response_data is not None
    assert [c["value"] for c in typed.response_data["choices"]] == [
        "gpt-4o",
        "gpt-4o-image",
        "gpt-4o-mini",
    ]
    assert everything.response_data is not None
    assert len(everything.response_data["choices"]) == 8


async def test_model_shows_sets_and_refuses(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    general = fake.channel()
    async with rig.bot():
        shown = await fake.dispatch_slash_command("model")
        before = await rig.interaction_reply(shown)
        refused = await fake.dispatch_slash_command("model", {"name": "gpt-9"})
        await fake.wait_for(lambda: refused.acknowledged)
        chosen = await rig.slash(
            "model", {"name": "gpt-4"}, permissions=EVERYONE_PERMISSIONS | MANAGE_CHANNELS
        )
        after = await rig.interaction_reply(chosen)
        asked = await fake.dispatch_message(content="which model?", mentions_bot=True)
        await rig.answered(await rig.thread_of(asked))

    assert before == wording.model_shown(
        "gpt-4o-mini", "channel", is_default=True, known=ModelCatalog(rig.upstream_settings).names()
    )
    assert refused.response_type == MESSAGE
    assert refused.response_data is not None
    assert refused.response_data["content"] == wording.unknown_model(
        "gpt-9",
        [
            "gpt-3.5-browsing",
            "gpt-3.5-turbo",
            "gpt-4",
            "gpt-4-browsing",
            "gpt-4-turbo",
            "gpt-4o",
            "gpt-4o-image",
            "gpt-4o-mini",
        ],
    )
    assert after == "Alice set this channel's model to `gpt-4`."
    settings = await rig.store.settings(
        ThreadKey("discord", str(general.guild_id), str(general.id), "")
    )
    assert settings.model == "gpt-4"
    assert upstream.requests[-1]["model"] == "gpt-4"  # the thread follows its channel


async def test_changing_the_system_prompt_needs_manage_channels(
    rig: Rig, upstream: FakeUpstream
) -> None:
    fake = rig.fake
    async with rig.bot():
        refused = await rig.slash("system", {"text": "Answer in French."})
        await fake.wait_for(lambda: refused.acknowledged)
        allowed = await rig.slash(
            "system",
            {"text": "Answer in French."},
            permissions=EVERYONE_PERMISSIONS | MANAGE_CHANNELS,
        )
        done = await rig.interaction_reply(allowed)
        asked = await fake.dispatch_message(content="bonjour", mentions_bot=True)
        await rig.answered(await rig.thread_of(asked))

    assert refused.response_data is not None
    assert refused.response_data["content"] == wording.settings_need_admin("discord")
    assert refused.response_data["flags"] & EPHEMERAL
    assert done == wording.system_set("Alice", "channel")
    assert (
        not fake.message(allowed.original_message_id or 0).flags & EPHEMERAL
    )  # a change is public
    assert upstream.requests[-1]["messages"][0]["content"].startswith("Answer in French.")


async def test_reset_starts_a_fresh_context(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    async with rig.bot():
        asked = await fake.dispatch_message(content="Remember 42.", mentions_bot=True)
        thread_id = await rig.thread_of(asked)
        await rig.answered(thread_id)
        reset = await fake.dispatch_slash_command("reset", channel_id=thread_id)
        assert await rig.interaction_reply(reset) == wording.reset_done("thread")
        await fake.dispatch_message(thread_id, content="Which number?")
        await rig.answered(thread_id, count=2)

    assert [m["content"] for m in upstream.requests[-1]["messages"][1:]] == ["Which number?"]


async def test_usage_counts_your_tokens_and_the_channels(rig: Rig, upstream: FakeUpstream) -> None:
    fake = rig.fake
    upstream.answer = Answer(text="one two three", usage_chunk=True)
    async with rig.bot():
        asked = await fake.dispatch_message(content="count", mentions_bot=True)
        await rig.answered(await rig.thread_of(asked))
        mine = await fake.dispatch_slash_command("usage")
        mine_text = await rig.interaction_reply(mine)
        theirs = await fake.dispatch_slash_command("usage", user="bob")
        theirs_text = await rig.interaction_reply(theirs)

    # The fake reports 10 prompt tokens and one per streamed token.
    assert mine_text == wording.usage_report(UsageReport(13, 13, 13, 0, 0, 0.0), "server")
    assert theirs_text == wording.usage_report(UsageReport(0, 13, 13, 0, 0, 0.0), "server")
    assert mine_text == "Tokens used today (UTC): 13 by you, 13 in this channel, 13 in this server."
    assert fake.message(mine.original_message_id or 0).flags & EPHEMERAL


async def test_image_posts_the_made_image_as_a_file_with_link_free_text(
    rig: Rig, upstream: FakeUpstream
) -> None:
    async with Fetcher(ImageSettings(allow_private_addresses=True)) as fetcher:
        rig.images = ImageFlow(ImageSettings(allow_private_addresses=True), fetcher=fetcher)
        async with rig.bot():
            interaction = await rig.fake.dispatch_slash_command("image", {"prompt": "a red fox"})
            answer = await rig.interaction_done(interaction)
    assert upstream.requests[-1]["model"] == "gpt-4o-image"
    files = [
        a
        for m in rig.fake.world.messages.values()
        if m.channel_id == answer.channel_id
        for a in m.attachments
    ]
    assert [(f.filename, f.data) for f in files] == [
        ("s8EFrYVqeRWc5SfTmF1SbgBS2WFGXb.png", TINY_PNG)
    ]
    assert "http" not in answer.content
    assert "下载" not in answer.content
    assert "吉卜力" in answer.content


async def test_image_keeps_the_link_when_the_download_fails(
    rig: Rig, upstream: FakeUpstream
) -> None:
    upstream.missing_files.add("20250412/s8EFrYVqeRWc5SfTmF1SbgBS2WFGXb.webp")
    async with Fetcher(ImageSettings(allow_private_addresses=True)) as fetcher:
        rig.images = ImageFlow(ImageSettings(allow_private_addresses=True), fetcher=fetcher)
        async with rig.bot():
            interaction = await rig.fake.dispatch_slash_command("image", {"prompt": "a red fox"})
            answer = await rig.interaction_done(interaction)
    assert "/cdn/20250412/s8EFrYVqeRWc5SfTmF1SbgBS2WFGXb.webp" in answer.content
    assert wording.image_upload_failed(1) in answer.content
