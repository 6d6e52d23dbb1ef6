"""`FakeDiscord`: the server, and the in-process API tests drive it with."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from .cdn import AttachmentSigner, Cdn
from .config import FakeConfig
from .control import ControlApi
from .edge import Edge, StormScope
from .gateway import GUILDS, Gateway
from .interactions import InteractionApi
from .model import (
    DM,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    Channel,
    Command,
    FakeFile,
    Guild,
    Interaction,
    Message,
    User,
)
from .payloads import EVERYONE_PERMISSIONS, Payload, Renderer
from .rest import API, RestApi, delete_payload
from .state import RequestRecord, Stats, World

T = TypeVar("T")

# Application command option types:
# https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-option-type
SUB_COMMAND, SUB_COMMAND_GROUP, USER, CHANNEL, MENTIONABLE, ATTACHMENT = 1, 2, 6, 7, 9, 11
_SCALARS = {3: str, 4: int, 5: bool, 10: float}
# Component types: https://discord.com/developers/docs/components/reference
BUTTON = 2


class FakeDiscord:
    """A loopback Discord: gateway, REST, CDN and a control API on one port.

    Use as `async with FakeDiscord(config) as fake:`; then point discord.py at
    `fake.base_url` with `point_discord_py_at` and log in with `fake.token`.
    """

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self.world = World(self.config)
        self.signer = AttachmentSigner(
            lambda: self.world.base_url, self.world.clock, self.config.attachment_url_ttl
        )
        self.render = Renderer(self.world, self.signer)
        self.gateway = Gateway(self.world, self.render)
        self.edge = Edge(self.world)
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------

    def app(self) -> web.Application:
        # Uploads reach 10 MiB per file, 10 files: let aiohttp read them so the
        # fake, not aiohttp, answers 413 with Discord's error body.
        app = web.Application(
            middlewares=[self.edge.middleware], client_max_size=16 * self.config.upload_limit
        )
        app.add_routes(self.gateway.routes())
        app.add_routes(RestApi(self.world, self.render, self.gateway).routes())
        app.add_routes(InteractionApi(self.world, self.render, self.gateway).routes())
        app.add_routes(Cdn(self.world, self.signer).routes())
        app.add_routes(ControlApi(self).routes())
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.world.base_url = f"http://{bound_host}:{bound_port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.gateway.close_all()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- where things are --------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.world.base_url

    @property
    def api_base(self) -> str:
        return self.world.base_url + API

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    @property
    def token(self) -> str:
        return self.config.token

    @property
    def application_id(self) -> int:
        return self.world.application_id

    @property
    def bot(self) -> User:
        return self.world.bot

    @property
    def guild(self) -> Guild:
        return next(iter(self.world.guilds.values()))

    def channel(self, name: str = "general") -> Channel:
        return self.world.channel_named(name)

    def user(self, name: str) -> User:
        return self.world.user(name)

    def add_user(self, name: str) -> User:
        return self.world.add_user(name)

    # -- what happened -----------------------------------------------------

    def messages(
        self, channel_id: int | None = None, include_deleted: bool = False
    ) -> list[Message]:
        """Current state of each message in a channel (default: #general), oldest first."""
        channel = channel_id if channel_id is not None else self.channel().id
        return self.world.channel_messages(channel, include_deleted)

    def message(self, message_id: int) -> Message:
        return self.world.messages[message_id]

    @property
    def requests(self) -> list[RequestRecord]:
        return self.world.requests

    def requests_to(self, route: str, status: int | None = None) -> list[RequestRecord]:
        """Requests whose route is e.g. "PATCH /channels/{channel_id}/messages/{message_id}"."""
        return [r for r in self.requests if r.route == route and status in (None, r.status)]

    def stats(self) -> Stats:
        return self.world.stats()

    def interaction(self, interaction_id: int) -> Interaction:
        return self.world.interactions[interaction_id]

    def commands(self, guild_id: int | None = None) -> list[Command]:
        return list(self.world.commands.get(guild_id, []))

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait (event-driven) until `predicate()` is truthy; return its value."""
        return await self.world.wait_for(predicate, timeout)

    async def wait_for_message(
        self,
        channel_id: int | None = None,
        predicate: Callable[[Message], bool] = lambda m: True,
        timeout: float = 5.0,
    ) -> Message:
        """The first message in a channel matching `predicate`, once there is one."""

        def found() -> Message | None:
            return next((m for m in self.messages(channel_id) if predicate(m)), None)

        return await self.wait_for(found, timeout)

    # -- injecting events --------------------------------------------------

    async def dispatch_message(
        self,
        channel_id: int | None = None,
        author: User | int | str | None = None,
        content: str = "",
        *,
        attachments: Iterable[FakeFile] = (),
        mentions_bot: bool = False,
        reference: int | None = None,
        embeds: Iterable[Payload] = (),
    ) -> int:
        """A user posts a message (MESSAGE_CREATE); returns its id.

        `mentions_bot` prefixes `<@bot_id>`, as a client does for an @mention;
        `reference` makes it a reply to that message id.
        """
        channel = self.world.channel(channel_id) if channel_id else self.channel()
        if author is None and channel.type == DM and channel.recipient is not None:
            author = channel.recipient
        user = self.world.user(author)
        mention = f"<@{self.bot.id}>"
        if mentions_bot and mention not in content:
            content = f"{mention} {content}".strip()
        if reference is not None and reference not in self.world.messages:
            raise KeyError(f"no message {reference} to reply to")
        files = [
            self.world.add_attachment(channel.id, f.filename, f.data, f.mime()) for f in attachments
        ]
        message = self.world.create_message(
            channel,
            user,
            content,
            attachments=files,
            embeds=list(embeds),
            reference_id=reference,
            type=19 if reference is not None else 0,
        )
        await self.gateway.dispatch_message("MESSAGE_CREATE", message)
        return message.id

    async def dispatch_message_update(self, message_id: int, content: str) -> None:
        """The author edits a message (MESSAGE_UPDATE)."""
        message = self.world.messages[message_id]
        self.world.edit_message(message, message.author, {"content": content})
        await self.gateway.dispatch_message("MESSAGE_UPDATE", message)

    async def dispatch_message_delete(self, message_id: int) -> None:
        """Somebody deletes a message (MESSAGE_DELETE)."""
        message = self.world.messages[message_id]
        self.world.delete_message(message)
        await self.gateway.dispatch("MESSAGE_DELETE", delete_payload(message))

    def open_dm(self, user: User | int | str | None = None) -> int:
        """The DM channel between the bot and a user; returns its id."""
        return self.world.open_dm(self.world.user(user)).id

    async def create_thread(
        self,
        parent_id: int | None = None,
        name: str = "thread",
        owner: User | int | str | None = None,
        *,
        message_id: int | None = None,
        private: bool = False,
    ) -> int:
        """A user starts a thread (from `message_id` if given); THREAD_CREATE; returns its id."""
        parent = self.world.channel(parent_id) if parent_id else self.channel()
        if message_id is not None:
            self.world.message(parent.id, message_id)
        kind = PRIVATE_THREAD if private else PUBLIC_THREAD
        thread = self.world.create_thread(parent, name, self.world.user(owner), kind, message_id)
        if message_id is not None:
            self.world.messages[message_id].thread_id = thread.id
        await self.gateway.dispatch(
            "THREAD_CREATE", self.render.thread(thread, newly_created=True), GUILDS
        )
        return thread.id

    async def dispatch_slash_command(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel_id: int | None = None,
        user: User | int | str | None = None,
    ) -> Interaction:
        """A user runs `/name` (INTERACTION_CREATE type 2) of a synced command.

        `name` may be "cmd sub" or "cmd group sub". Option values: str/int/float/
        bool as declared; a FakeFile for an attachment option; a user name, id or
        User for a user option; a channel id for a channel option.
        """
        channel = self.world.channel(channel_id) if channel_id else self.channel()
        root, *path = name.split()
        command = self.world.command(root, channel.guild_id)
        if command is None:
            raise LookupError(f"/{root} is not registered: sync the command tree first")
        resolved: dict[str, dict[str, Payload]] = {}
        built = [
            self._option(command, path, key, value, channel, resolved)
            for key, value in (options or {}).items()
        ]
        for depth, sub in reversed(list(enumerate(path))):
            kind = SUB_COMMAND if depth == len(path) - 1 else SUB_COMMAND_GROUP
            built = [{"name": sub, "type": kind, "options": built}]
        data: Payload = {"id": str(command.id), "name": command.name, "type": 1, "options": built}
        if resolved:
            data["resolved"] = resolved
        if command.guild_id is not None:
            data["guild_id"] = str(command.guild_id)
        return await self._dispatch_interaction(2, channel, self.world.user(user), data)

    def _option(
        self,
        command: Command,
        path: list[str],
        key: str,
        value: Any,
        channel: Channel,
        resolved: dict[str, dict[str, Payload]],
    ) -> Payload:
        spec = command.option(path, key)
        if spec is None:
            raise KeyError(f"/{command.name} has no option {key!r}")
        kind = int(spec["type"])
        if kind in _SCALARS:
            return {"name": key, "type": kind, "value": _SCALARS[kind](value)}
        if kind == ATTACHMENT:
            file: FakeFile = value
            found = self.world.add_attachment(channel.id, file.filename, file.data, file.mime())
            resolved.setdefault("attachments", {})[str(found.id)] = self.render.attachment(found)
            return {"name": key, "type": kind, "value": str(found.id)}
        if kind in (USER, MENTIONABLE):
            person = self.world.user(value)
            resolved.setdefault("users", {})[str(person.id)] = self.render.user(person)
            guild = self.world.guilds.get(channel.guild_id or 0)
            if guild is not None:
                member = self.render.member(person, guild, with_user=False)
                resolved.setdefault("members", {})[str(person.id)] = member | {
                    "permissions": str(EVERYONE_PERMISSIONS)
                }
            return {"name": key, "type": kind, "value": str(person.id)}
        if kind == CHANNEL:
            target = self.world.channel(value)
            payload = self.render.channel(target) | {"permissions": str(EVERYONE_PERMISSIONS)}
            resolved.setdefault("channels", {})[str(target.id)] = payload
            return {"name": key, "type": kind, "value": str(target.id)}
        raise NotImplementedError(f"option type {kind} is not supported by the fake")

    async def click_button(
        self, message_id: int, custom_id: str, *, user: User | int | str | None = None
    ) -> Interaction:
        """A user clicks a button the message carries (INTERACTION_CREATE type 3)."""
        message = self.world.messages[message_id]
        button = next((b for b in message.buttons if b.custom_id == custom_id), None)
        if button is None:
            raise LookupError(f"message {message_id} has no button {custom_id!r}")
        if button.disabled:
            raise ValueError(f"button {custom_id!r} is disabled")
        channel = self.world.channels[message.channel_id]
        data: Payload = {"custom_id": custom_id, "component_type": BUTTON}
        return await self._dispatch_interaction(3, channel, self.world.user(user), data, message.id)

    async def _dispatch_interaction(
        self, kind: int, channel: Channel, user: User, data: Payload, message_id: int | None = None
    ) -> Interaction:
        interaction = self.world.new_interaction(kind, channel, user, data, message_id)
        self.world.note("interaction_create", interaction.as_dict())
        await self.gateway.dispatch("INTERACTION_CREATE", self.render.interaction(interaction))
        return interaction

    async def dispatch_raw(self, event: str, data: Payload, intent: int = 0) -> int:
        """Send any dispatch as is; returns the number of sessions it reached."""
        return await self.gateway.dispatch(event, data, intent)

    # -- forcing failures and time -----------------------------------------

    async def force_reconnect(self, duplicate: int = 0) -> int:
        """op 7 RECONNECT: the bot must RESUME; dispatches meanwhile are replayed."""
        return await self.gateway.reconnect(duplicate)

    async def drop_connection(self, code: int = 4000, duplicate: int = 0) -> int:
        """Close the gateway socket with `code` (4000 is resumable)."""
        return await self.gateway.drop(code, duplicate)

    async def invalidate_session(self, resumable: bool = False) -> int:
        """op 9 INVALID_SESSION: with resumable=False the bot must IDENTIFY again."""
        return await self.gateway.invalidate(resumable)

    def advance_time(self, seconds: float) -> None:
        """Move the clock used for expiry (CDN URLs, interaction deadlines, tokens)."""
        self.world.clock.advance(seconds)
        self.world.changed()

    def exhaust_channel(self, channel_id: int) -> None:
        """Use up a channel's message bucket (another process sharing the token)."""
        self.edge.exhaust_channel(channel_id)

    def outage(self, count: int, status: int = 503) -> None:
        """A Discord outage: the next `count` message creates, edits and deletes answer
        `status` with no rate-limit headers (0 ends it). discord.py raises a 503 at
        once; a 500 it tries five times over ~25 s first (discord/http.py), so tests
        use 503 to stay quick; the bot's handling is the same."""
        self.edge.outage(count, status)

    def storm_edits(self, count: int, scope: StormScope = "user") -> None:
        """A 429 storm: the next `count` message edits are refused, per route ("user",
        the channel's bucket) or globally ("global"), however well the bot paces."""
        self.edge.storm_edits(count, scope)
