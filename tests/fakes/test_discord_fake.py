"""The fake Discord, driven by the real discord.py over real sockets.

Every test starts a fake on a free port, points discord.py at it, and asserts
on what discord.py saw and on the fake's own record of what arrived.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import pytest

from tests.fakes.discord import FakeConfig, FakeDiscord, FakeFile  # imports discord quietly

import discord  # isort: skip
from discord import app_commands  # isort: skip
from tests.fakes.discord.harness import client_options, run_client
from tests.fakes.discord.model import LOADING

pytest_plugins = ["tests.fakes.discord.fixtures"]  # discord_fake, discord_fake_config


class Recorder(discord.Client):
    """A client that queues the events tests wait on."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**client_options(**options))
        self.seen: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.threads: asyncio.Queue[discord.Thread] = asyncio.Queue()
        self.edits: asyncio.Queue[discord.RawMessageUpdateEvent] = asyncio.Queue()
        self.deletes: asyncio.Queue[discord.RawMessageDeleteEvent] = asyncio.Queue()
        self.resumed = asyncio.Event()

    async def on_raw_message_edit(self, event: discord.RawMessageUpdateEvent) -> None:
        await self.edits.put(event)

    async def on_raw_message_delete(self, event: discord.RawMessageDeleteEvent) -> None:
        await self.deletes.put(event)

    async def on_message(self, message: discord.Message) -> None:
        await self.seen.put(message)

    async def on_thread_create(self, thread: discord.Thread) -> None:
        await self.threads.put(thread)

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def next_message(self, timeout: float = 5.0) -> discord.Message:
        return await asyncio.wait_for(self.seen.get(), timeout)

    async def next_from(self, author_id: int, timeout: float = 5.0) -> discord.Message:
        """The next message by `author_id`, skipping the bot's own echoes."""
        while True:
            message = await self.next_message(timeout)
            if message.author.id == author_id:
                return message


def text_channel(
    client: discord.Client, fake: FakeDiscord, name: str = "general"
) -> discord.TextChannel:
    channel = client.get_channel(fake.channel(name).id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_login_gets_ready_with_the_guild(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    async with run_client(Recorder(), fake) as client:
        assert client.user is not None
        assert client.user.id == fake.bot.id
        assert client.application_id == fake.application_id
        guild = client.get_guild(fake.guild.id)
        assert guild is not None
        assert guild.name == "threadline-test"
        assert {c.name for c in guild.text_channels} == {"general", "random"}
        assert guild.me is not None
        assert guild.me.guild_permissions.send_messages
    routes = [r.route for r in fake.requests]
    assert routes[:2] == ["GET /users/@me", "GET /oauth2/applications/@me"]
    connect = next(e for e in fake.world.events if e["kind"] == "gateway_connect")
    assert connect["data"]["query"] == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert fake.stats().counts["identifies"] == 1


async def test_injected_message_reaches_on_message(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    async with run_client(Recorder(), fake) as client:
        first = await fake.dispatch_message(content="earlier")
        await client.next_message()
        picture = FakeFile("cat.png", b"\x89PNG fake bytes")
        await fake.dispatch_message(
            author="bob",
            content="what is in this picture?",
            attachments=[picture],
            mentions_bot=True,
            reference=first,
        )
        message = await client.next_message()

        assert message.content == f"<@{fake.bot.id}> what is in this picture?"
        assert message.author.name == "bob"
        assert not message.author.bot
        assert client.user in message.mentions
        assert message.reference is not None
        assert message.reference.message_id == first
        assert message.guild is not None
        assert message.channel.id == fake.channel().id
        [attachment] = message.attachments
        assert (attachment.filename, attachment.size) == ("cat.png", len(picture.data))
        assert attachment.content_type == "image/png"
        assert "ex=" in attachment.url
        assert "hm=" in attachment.url
        assert await attachment.read() == picture.data

        fake.advance_time(fake.config.attachment_url_ttl + 1)
        with pytest.raises(discord.NotFound):
            await attachment.read()


async def test_injected_edit_and_delete_reach_discord_py(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    client = Recorder()
    async with run_client(client, fake):
        message_id = await fake.dispatch_message(content="tpyo")
        await client.next_message()
        await fake.dispatch_message_update(message_id, "typo")
        edited = await asyncio.wait_for(client.edits.get(), 5)
        assert (edited.message_id, edited.message.content) == (message_id, "typo")
        await fake.dispatch_message_delete(message_id)
        deleted = await asyncio.wait_for(client.deletes.get(), 5)
        assert deleted.message_id == message_id
    assert fake.messages(include_deleted=True)[0].history == ["tpyo", "typo"]


async def test_direct_message_and_reply(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    dm_id = fake.open_dm("alice")
    async with run_client(Recorder(), fake) as client:
        await fake.dispatch_message(dm_id, content="psst")
        message = await client.next_message()
        assert isinstance(message.channel, discord.DMChannel)
        assert message.guild is None
        assert message.content == "psst"
        await message.channel.send("hello in private")
    [_, reply] = fake.messages(dm_id)
    assert reply.content == "hello in private"
    assert reply.author is fake.bot


async def test_without_message_content_intent_only_mentions_are_readable(
    discord_fake: FakeDiscord,
) -> None:
    fake = discord_fake
    client = Recorder(intents=discord.Intents.default())
    async with run_client(client, fake):
        await fake.dispatch_message(content="chatter")
        assert (await client.next_message()).content == ""
        await fake.dispatch_message(content="ping", mentions_bot=True)
        assert (await client.next_message()).content == f"<@{fake.bot.id}> ping"


async def test_send_edit_delete_land_in_the_fake(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    async with run_client(Recorder(), fake) as client:
        channel = text_channel(client, fake)
        sent = await channel.send("draft", file=discord.File(io.BytesIO(b"data"), "notes.txt"))
        echo = await client.next_message()
        assert echo.id == sent.id  # Discord echoes own messages
        assert echo.author == client.user

        [stored] = fake.messages()
        assert stored.content == "draft"
        assert stored.author is fake.bot
        [upload] = stored.attachments
        assert (upload.filename, upload.data, upload.content_type) == (
            "notes.txt",
            b"data",
            "text/plain",
        )

        await sent.edit(content="final")
        assert (stored.content, stored.edit_count, stored.history) == (
            "final",
            1,
            ["draft", "final"],
        )
        assert [a.filename for a in stored.attachments] == ["notes.txt"]

        await sent.delete()
        assert fake.messages() == []
        assert stored.deleted


async def test_rest_answers_carry_rate_limit_headers(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    url = f"{fake.api_base}/channels/{fake.channel().id}/messages"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"content": "hi"}) as response:
            assert response.status == 401
        auth = {"Authorization": f"Bot {fake.token}"}
        async with http.post(url, json={"content": "hi"}, headers=auth) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"  # exactly
            assert response.headers["Via"] == "1.1 google"
            assert response.headers["X-RateLimit-Limit"] == "5"
            assert response.headers["X-RateLimit-Remaining"] == "4"
            assert float(response.headers["X-RateLimit-Reset-After"]) <= 5.0
            assert response.headers["X-RateLimit-Bucket"]
        eleven = {
            "embeds": [{"title": str(n)} for n in range(11)]
        }  # discord.py refuses these itself
        async with http.post(url, json=eleven, headers=auth) as response:
            assert response.status == 400
            body = await response.json()
            assert body["code"] == 50035
            assert body["message"] == "Invalid Form Body"
            assert body["errors"]["embeds"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
        fake.exhaust_channel(fake.channel().id)
        async with http.post(url, json={"content": "hi"}, headers=auth) as response:
            assert response.status == 429
            body = await response.json()
            assert body["message"] == "You are being rate limited."
            assert body["global"] is False
            assert 0 < body["retry_after"] <= 5.0
            assert response.headers["X-RateLimit-Scope"] == "user"
            assert int(response.headers["Retry-After"]) >= 1


async def test_too_long_content_is_invalid_form_body(discord_fake: FakeDiscord) -> None:
    async with run_client(Recorder(), discord_fake) as client:
        channel = text_channel(client, discord_fake)
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)
        assert (too_long.value.status, too_long.value.code) == (400, 50035)
        assert "Must be 2000 or fewer in length" in too_long.value.text

        with pytest.raises(discord.HTTPException) as too_big:
            await channel.send(embeds=[discord.Embed(description="y" * 4000) for _ in range(2)])
        assert too_big.value.code == 50035
        assert "6000" in too_big.value.text

        await channel.send("x" * 2000)
    assert [m.content for m in discord_fake.messages()] == ["x" * 2000]


@pytest.mark.parametrize("discord_fake_config", [FakeConfig(upload_limit=1024)])
async def test_file_over_the_upload_cap_is_413(discord_fake: FakeDiscord) -> None:
    async with run_client(Recorder(), discord_fake) as client:
        channel = text_channel(client, discord_fake)
        with pytest.raises(discord.HTTPException) as error:
            await channel.send(file=discord.File(io.BytesIO(b"x" * 1025), "big.bin"))
        assert (error.value.status, error.value.code) == (413, 40005)


@pytest.mark.parametrize("discord_fake_config", [FakeConfig(message_bucket_period=1.0)])
async def test_rate_limited_edits_are_retried_and_all_land(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    post_route = "POST /channels/{channel_id}/messages"
    edit_route = "PATCH /channels/{channel_id}/messages/{message_id}"
    async with run_client(Recorder(), fake) as client:
        channel = text_channel(client, fake)
        message = await channel.send("0")
        # A second process with the same token (the old replica during a deploy)
        # fills the channel's shared message bucket: 1 + 4 = 5 of 5. discord.py
        # honours the headers, so one client alone would never see a 429.
        async with discord.Client(intents=discord.Intents.none()) as other:
            await other.login(fake.token)
            target = other.get_partial_messageable(channel.id)
            drain = asyncio.gather(*(target.send(f"other {n}") for n in range(4)))
            await fake.wait_for(lambda: len(fake.requests_to(post_route, 200)) == 5)

            contents = [str(n) for n in range(1, 8)]
            await asyncio.gather(*(message.edit(content=c) for c in contents))
            await drain

    stored = fake.message(message.id)
    assert stored.edit_count == 7
    assert sorted(stored.history[1:]) == contents
    assert len(fake.requests_to(edit_route, 200)) == 7
    assert len(fake.requests_to(edit_route, 429)) >= 1
    assert fake.stats().rate_limited.get("user", 0) >= 1
    assert fake.stats().rate_limited.get("global", 0) == 0


@pytest.mark.parametrize("discord_fake_config", [FakeConfig(global_limit=2, global_period=0.25)])
async def test_global_limit_is_429_global_and_retried(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    async with run_client(Recorder(), fake) as client:
        general, random = fake.channel("general").id, fake.channel("random").id
        # Five different routes at once: no bucket holds them back, but two
        # global windows admit at most four.
        results = await asyncio.gather(
            client.http.send_typing(general),
            client.http.send_typing(random),
            client.fetch_channel(general),
            client.fetch_channel(random),
            client.fetch_user(fake.user("alice").id),
        )
    assert len(results) == 5
    assert fake.stats().rate_limited["global"] >= 1
    assert all(r.status == 429 for r in fake.requests if r.scope == "global")
    assert len([r for r in fake.requests if r.status < 300]) == 2 + 5  # login + the five


async def test_thread_from_a_message(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    async with run_client(Recorder(), fake) as client:
        starter = await text_channel(client, fake).send("let's talk")
        thread = await starter.create_thread(name="a conversation")
        announced = await asyncio.wait_for(client.threads.get(), 5)
        assert announced.id == thread.id == starter.id  # a thread shares its starter's id
        assert thread.parent_id == fake.channel().id

        await thread.send("first reply in the thread")
        [in_thread] = fake.messages(thread.id)
        assert in_thread.content == "first reply in the thread"
        assert fake.message(starter.id).thread_id == thread.id

        await fake.dispatch_message(thread.id, content="a human answers")
        message = await client.next_from(fake.user("alice").id)
        assert isinstance(message.channel, discord.Thread)
        assert message.channel.id == thread.id

        with pytest.raises(discord.HTTPException) as again:
            await starter.create_thread(name="twice")
        assert again.value.code == 160004


def ask_tree(client: discord.Client, seen: asyncio.Future[bytes]) -> app_commands.CommandTree[Any]:
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)

    @tree.command(name="ask", description="Ask the model")
    async def ask(interaction: discord.Interaction, prompt: str, image: discord.Attachment) -> None:
        await interaction.response.defer(thinking=True)
        seen.set_result(await image.read())
        await interaction.followup.send(f"thinking about {prompt!r}")
        await interaction.edit_original_response(content=f"answer to {prompt!r}")
        await interaction.followup.send("and one more thing")

    return tree


async def test_slash_command_defer_followup_and_edit(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    client = Recorder()
    seen: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    tree = ask_tree(client, seen)
    async with run_client(client, fake):
        await tree.sync()
        [command] = fake.commands()
        assert command.name == "ask"
        assert [o["name"] for o in command.raw["options"]] == ["prompt", "image"]
        assert fake.requests_to("PUT /applications/{application_id}/commands", 200)

        image = FakeFile("chart.png", b"png bytes")
        interaction = await fake.dispatch_slash_command("ask", {"prompt": "why?", "image": image})
        assert await asyncio.wait_for(seen, 5) == image.data
        await fake.wait_for(lambda: len(fake.interaction(interaction.id).followup_ids) == 1)

    assert interaction.response_type == 5
    original, extra = fake.messages()
    assert original.id == interaction.original_message_id
    assert original.content == "answer to 'why?'"
    assert not original.flags & LOADING
    assert original.history == ["", "thinking about 'why?'", "answer to 'why?'"]
    assert original.interaction_id == interaction.id
    assert original.author is fake.bot
    assert extra.content == "and one more thing"
    assert extra.id in interaction.followup_ids


async def test_late_interaction_response_is_unknown_interaction(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    client = Recorder()
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    go = asyncio.Event()
    outcome: asyncio.Future[discord.HTTPException] = asyncio.get_running_loop().create_future()

    @tree.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        await go.wait()
        try:
            await interaction.response.send_message("finally")
        except discord.HTTPException as error:
            outcome.set_result(error)

    async with run_client(client, fake):
        await tree.sync()
        interaction = await fake.dispatch_slash_command("slow")
        fake.advance_time(fake.config.interaction_ack_deadline + 0.5)
        go.set()
        error = await asyncio.wait_for(outcome, 5)

    assert isinstance(error, discord.NotFound)
    assert (error.status, error.code) == (404, 10062)
    assert interaction.rejected_callbacks == [404]
    assert not interaction.acknowledged
    assert fake.messages() == []


async def test_followup_after_token_expiry_is_invalid_webhook_token(
    discord_fake: FakeDiscord,
) -> None:
    fake = discord_fake
    client = Recorder()
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    go = asyncio.Event()
    outcome: asyncio.Future[discord.HTTPException] = asyncio.get_running_loop().create_future()

    @tree.command(name="long", description="Answers after 15 minutes")
    async def long(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await go.wait()
        try:
            await interaction.followup.send("too late")
        except discord.HTTPException as error:
            outcome.set_result(error)

    async with run_client(client, fake):
        await tree.sync()
        interaction = await fake.dispatch_slash_command("long")
        await fake.wait_for(lambda: interaction.acknowledged)
        fake.advance_time(fake.config.interaction_token_ttl + 1)
        go.set()
        error = await asyncio.wait_for(outcome, 5)

    assert (error.status, error.code) == (401, 50027)
    [thinking] = fake.messages()
    assert thinking.flags & LOADING  # still "thinking…": the answer never came


class Regenerate(discord.ui.View):
    """A persistent view: no timeout, every item has a custom_id."""

    def __init__(self, clicked: asyncio.Future[int] | None = None) -> None:
        super().__init__(timeout=None)
        self.clicked = clicked

    @discord.ui.button(label="Regenerate", custom_id="threadline:regenerate")
    async def regenerate(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.edit_message(content="regenerating…", view=None)
        assert self.clicked is not None
        assert interaction.message is not None
        self.clicked.set_result(interaction.message.id)


async def test_persistent_view_button_click_reaches_the_callback(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    channel_id = fake.channel().id
    # The message was posted before a restart, by the bot's previous process.
    async with discord.Client(intents=discord.Intents.none()) as before:
        await before.login(fake.token)
        posted = await before.get_partial_messageable(channel_id).send("answer", view=Regenerate())
    assert [b.custom_id for b in fake.message(posted.id).buttons] == ["threadline:regenerate"]

    clicked: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    client = Recorder()
    async with run_client(client, fake):
        client.add_view(Regenerate(clicked))
        interaction = await fake.click_button(posted.id, "threadline:regenerate", user="bob")
        assert await asyncio.wait_for(clicked, 5) == posted.id

    assert interaction.response_type == 7
    assert interaction.user.username == "bob"
    stored = fake.message(posted.id)
    assert (stored.content, stored.edit_count, stored.buttons) == ("regenerating…", 1, [])


async def test_force_reconnect_resumes_and_delivers_missed_events(
    discord_fake: FakeDiscord,
) -> None:
    fake = discord_fake
    async with run_client(Recorder(), fake) as client:
        await fake.force_reconnect()
        missed = await fake.dispatch_message(content="sent while reconnecting")
        message = await client.next_message()
        assert message.id == missed
        await asyncio.wait_for(client.resumed.wait(), 5)

        counts = fake.stats().counts
        assert (counts["identifies"], counts["resumes"], counts["gateway_connections"]) == (1, 1, 2)
        [session] = fake.gateway.sessions.values()
        assert session.resumed_on == ["/gateway/resume"]  # READY's resume_gateway_url


async def test_dropped_socket_resume_can_redeliver(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    async with run_client(Recorder(), fake) as client:
        seen = await fake.dispatch_message(content="already seen")
        assert (await client.next_message()).id == seen
        await fake.drop_connection(code=4000, duplicate=1)
        assert (await client.next_message()).id == seen  # at-least-once: delivered again
        assert fake.stats().counts["resumes"] == 1


async def test_control_api_drives_the_fake_from_outside(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    async with run_client(Recorder(), fake) as client, aiohttp.ClientSession(fake.base_url) as http:
        async with http.get("/_fake/info") as response:
            info = await response.json()
        assert info["token"] == fake.token
        assert info["gateway_url"] == fake.gateway_url

        body = {"kind": "message", "content": "from outside", "mentions_bot": True}
        async with http.post("/_fake/dispatch", json=body) as response:
            message_id = (await response.json())["id"]
        assert (await client.next_message()).id == message_id

        await text_channel(client, fake).send("reply")
        async with http.get("/_fake/events", params={"after": "0", "timeout": "1"}) as response:
            kinds = {e["kind"] for e in await response.json()}
        assert {"identify", "message_create", "request"} <= kinds

        params = {"channel_id": str(fake.channel().id)}
        async with http.get("/_fake/messages", params=params) as response:
            contents = [m["content"] for m in await response.json()]
        assert contents == [f"<@{fake.bot.id}> from outside", "reply"]

        async with http.get("/_fake/stats") as response:
            stats = await response.json()
        assert stats["counts"]["messages_created"] == 2
