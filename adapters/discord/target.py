"""Where an answer is written on Discord: a channel (thread, DM) or an interaction.

Both implement ``bot.ports.ReplyTarget`` and add what the adapter needs around
a streamed answer: ``posted`` (the messages written, in order), ``show_view``
(swap the buttons under a message) and ``close`` (stop the typing indicator).

Every message is sent with ``allowed_mentions`` set to none: ``render_discord``
already makes mentions in model output inert, but only the API field is a
guarantee that no ``@everyone``, role or user is ever pinged
(https://discord.com/developers/docs/resources/message#allowed-mentions-object).

discord.py errors are translated here, at the boundary: a 429 becomes
``PlatformRateLimited`` (rare: discord.py reads the rate-limit headers, waits,
and retries 429s itself, discord/http.py ``HTTPClient.request``), anything else
``PlatformError`` with the sentence a user may see.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import discord
from discord.utils import MISSING

from bot import wording
from bot.errors import PlatformError, PlatformRateLimited
from bot.ports import MessageRef, PlatformLimits

log = logging.getLogger(__name__)

# "content: Message contents (up to 2000 characters)"
# (https://discord.com/developers/docs/resources/message#create-message).
MAX_MESSAGE_CHARS = 2_000
# "The default file upload limit is 10 MiB" (https://discord.com/developers/docs/reference#uploading-files).
DEFAULT_UPLOAD_BYTES = 10 * 1024 * 1024
NO_PINGS = discord.AllowedMentions.none()
# A typing indicator lasts "10 seconds, or until the bot sends a message"
# (https://discord.com/developers/docs/resources/channel#trigger-typing-indicator):
# renew it a little sooner while the model has not answered.
TYPING_RENEW_SECONDS = 8.0

Postable = (
    discord.TextChannel
    | discord.Thread
    | discord.DMChannel
    | discord.VoiceChannel
    | discord.StageChannel
    | discord.PartialMessageable
)


@contextlib.contextmanager
def discord_errors(bucket: str) -> Iterator[None]:
    """Translate what discord.py raises into threadline's errors."""
    try:
        yield
    except discord.RateLimited as limited:  # over Client(max_ratelimit_timeout=...)
        raise PlatformRateLimited(limited.retry_after, bucket=bucket) from limited
    except discord.HTTPException as error:
        if error.status == 429:
            headers = error.response.headers
            retry_after = _seconds(
                headers.get("Retry-After") or headers.get("X-RateLimit-Reset-After")
            )
            is_global = headers.get("X-RateLimit-Global") == "true"
            raise PlatformRateLimited(retry_after, bucket=bucket, is_global=is_global) from error
        sentence = wording.platform_request_failed(
            "discord", wording.request_detail(error.status, error.code or None)
        )
        raise PlatformError(sentence, code=str(error.code or error.status)) from error
    except (aiohttp.ClientError, OSError) as error:
        raise PlatformError(
            wording.platform_unreachable("discord"), code="connection_failed"
        ) from error


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0


class _Typing:
    """Keep a channel's typing indicator up until the answer's first words are shown.

    The placeholder message ends the indicator Discord shows, so it is renewed
    right after the placeholder and then every ``TYPING_RENEW_SECONDS``.
    """

    def __init__(self, channel: Postable) -> None:
        self._channel = channel
        self._changed = asyncio.Event()
        self._answered = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Once, not renewed: the placeholder posted at once is the in-progress sign,
        # and every renewal would spend the bot's global 50 requests/s (bench/e2e.py).
        await self._trigger()

    def shown(self, text: str) -> None:
        """A message of the answer now shows ``text``."""
        self._answered = self._answered or text != wording.THINKING_PLACEHOLDER
        self._changed.set()

    async def close(self) -> None:
        self._answered = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _renew(self) -> None:
        while not self._answered:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TYPING_RENEW_SECONDS):
                    await self._changed.wait()
            self._changed.clear()
            if not self._answered and not await self._trigger():
                return

    async def _trigger(self) -> bool:
        try:
            with discord_errors(str(self._channel.id)):
                await self._channel.typing()
        except (PlatformError, PlatformRateLimited) as error:  # cosmetic: never fails an answer
            log.info("typing indicator failed: %s", error)
            return False
        return True


class ChannelTarget:
    """An answer in a text channel, thread or DM: post, then edit.

    ``controls`` (the Stop button) go on the first message only, so stopping
    costs no extra request; ``reply_to`` makes the first message a reply (used
    when answering in place, so the answer shows what it answers).
    """

    def __init__(
        self,
        channel: Postable,
        *,
        controls: discord.ui.View | None = None,
        reply_to: discord.MessageReference | None = None,
    ) -> None:
        self._channel = channel
        self._controls = controls
        self._reply_to = reply_to
        guild = getattr(channel, "guild", None)
        # A guild's boost level raises its cap (discord.py ``Guild.filesize_limit``).
        upload = guild.filesize_limit if isinstance(guild, discord.Guild) else DEFAULT_UPLOAD_BYTES
        self._limits = PlatformLimits(MAX_MESSAGE_CHARS, upload)
        self._typing = _Typing(channel)
        self.posted: list[MessageRef] = []

    def move_to(self, channel: Postable) -> None:
        """Write the answer in ``channel`` (the thread just opened for it) instead;
        before anything is posted, and no longer as a reply (a thread shows what
        it answers)."""
        assert not self.posted
        self._channel, self._reply_to = channel, None
        self._typing = _Typing(channel)

    @property
    def limits(self) -> PlatformLimits:
        return self._limits

    @property
    def bucket(self) -> str:
        """Discord's message bucket is per channel (create, edit and delete share it)."""
        return str(self._channel.id)

    async def post(self, text: str) -> MessageRef:
        extra: dict[str, Any] = {}
        if not self.posted and self._controls is not None:
            extra["view"] = self._controls
        if not self.posted and self._reply_to is not None:
            extra["reference"] = self._reply_to
        with discord_errors(self.bucket):
            message = await self._channel.send(text, allowed_mentions=NO_PINGS, **extra)
        ref = MessageRef(str(self._channel.id), str(message.id))
        self.posted.append(ref)
        self._typing.shown(text)
        return ref

    async def edit(self, ref: MessageRef, text: str) -> None:
        with discord_errors(self.bucket):
            await self._message(ref).edit(content=text, allowed_mentions=NO_PINGS)
        self._typing.shown(text)

    async def delete(self, ref: MessageRef) -> None:
        with discord_errors(self.bucket):
            await self._message(ref).delete()

    async def upload(self, name: str, data: bytes, mime: str) -> MessageRef:
        with discord_errors(self.bucket):
            message = await self._channel.send(
                file=discord.File(io.BytesIO(data), filename=name), allowed_mentions=NO_PINGS
            )
        return MessageRef(str(self._channel.id), str(message.id))

    async def typing(self) -> None:
        await self._typing.start()

    async def show_view(self, ref: MessageRef, view: discord.ui.View | None) -> None:
        """Replace the buttons under ``ref`` (``None`` removes them)."""
        with discord_errors(self.bucket):
            await self._message(ref).edit(view=view)

    async def close(self) -> None:
        await self._typing.close()

    def _message(self, ref: MessageRef) -> discord.PartialMessage:
        return self._channel.get_partial_message(int(ref.id))


class InteractionTarget:
    """An answer to an interaction, written through its webhook (follow-ups).

    After ``defer(thinking=True)`` the first post replaces the deferred "is
    thinking…" original response; later posts are follow-up messages. With
    ``edit_original=False`` (a button that already answered by updating its own
    message) every post is a follow-up. Interaction webhooks are exempt from the
    global rate limit and have their own bucket per interaction token
    (https://discord.com/developers/docs/topics/rate-limits#global-rate-limit),
    hence the bucket name. The token lives 15 minutes
    (https://discord.com/developers/docs/interactions/receiving-and-responding).
    """

    def __init__(
        self,
        interaction: discord.Interaction[Any],
        *,
        controls: discord.ui.View | None = None,
        edit_original: bool = True,
    ) -> None:
        self._interaction = interaction
        self._controls = controls
        self._edit_original = edit_original
        self._original: str | None = None
        # The interaction says how large an upload may be here ("attachment_size_limit").
        self._limits = PlatformLimits(MAX_MESSAGE_CHARS, interaction.filesize_limit)
        self.posted: list[MessageRef] = []

    @property
    def limits(self) -> PlatformLimits:
        return self._limits

    @property
    def bucket(self) -> str:
        return f"interaction:{self._interaction.id}"

    async def post(self, text: str) -> MessageRef:
        first = not self.posted
        view = self._controls if first and self._controls is not None else MISSING
        followup = self._interaction.followup
        with discord_errors(self.bucket):
            if first and self._edit_original:
                message: discord.Message = await self._interaction.edit_original_response(
                    content=text, view=view, allowed_mentions=NO_PINGS
                )
                self._original = str(message.id)
            else:
                message = await followup.send(text, view=view, allowed_mentions=NO_PINGS, wait=True)
        ref = MessageRef(str(self._interaction.channel_id or ""), str(message.id))
        self.posted.append(ref)
        return ref

    async def edit(self, ref: MessageRef, text: str) -> None:
        await self._edit(ref, content=text, allowed_mentions=NO_PINGS)

    async def delete(self, ref: MessageRef) -> None:
        with discord_errors(self.bucket):
            if ref.id == self._original:
                await self._interaction.delete_original_response()
            else:
                await self._interaction.followup.delete_message(int(ref.id))

    async def upload(self, name: str, data: bytes, mime: str) -> MessageRef:
        file = discord.File(io.BytesIO(data), filename=name)
        with discord_errors(self.bucket):
            message = await self._interaction.followup.send(
                file=file, allowed_mentions=NO_PINGS, wait=True
            )
        return MessageRef(str(self._interaction.channel_id or ""), str(message.id))

    async def typing(self) -> None:
        """Nothing to do: a deferred interaction already shows Discord's "is thinking…"."""

    async def show_view(self, ref: MessageRef, view: discord.ui.View | None) -> None:
        await self._edit(ref, view=view)

    async def close(self) -> None:
        """Nothing to release."""

    async def _edit(self, ref: MessageRef, **fields: Any) -> None:
        with discord_errors(self.bucket):
            if ref.id == self._original:
                await self._interaction.edit_original_response(**fields)
            else:
                await self._interaction.followup.edit_message(int(ref.id), **fields)
