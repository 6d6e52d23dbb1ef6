"""Records → Discord JSON, in the shapes discord.py parses.

Field lists follow the Discord docs' object tables and discord.py's TypedDicts
(discord/types/*.py); keys discord.py reads with `data[...]` are always present.
- User: https://discord.com/developers/docs/resources/user#user-object
- Guild member: https://discord.com/developers/docs/resources/guild#guild-member-object
- Channel / thread: https://discord.com/developers/docs/resources/channel#channel-object
- Message / attachment: https://discord.com/developers/docs/resources/message#message-object
- Interaction: https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object
- READY / GUILD_CREATE: https://discord.com/developers/docs/events/gateway-events
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .cdn import AttachmentSigner
from .model import DM, LOADING, Attachment, Channel, Command, Guild, Interaction, Message, User
from .state import World

Payload = dict[str, Any]

# Permission bits: https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
EVERYONE_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | SEND_MESSAGES_IN_THREADS
)
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | MANAGE_MESSAGES | MANAGE_THREADS

# Application flag GATEWAY_MESSAGE_CONTENT (the intent is enabled in the portal).
# https://discord.com/developers/docs/resources/application#application-object-application-flags
GATEWAY_MESSAGE_CONTENT = 1 << 18

# Message types: https://discord.com/developers/docs/resources/message#message-object-message-types
REPLY = 19


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


class Renderer:
    """Builds payloads from the world's records."""

    def __init__(self, world: World, signer: AttachmentSigner) -> None:
        self.world = world
        self.signer = signer

    # -- people ------------------------------------------------------------

    def user(self, user: User) -> Payload:
        return {
            "id": str(user.id),
            "username": user.username,
            "discriminator": "0",
            "global_name": None if user.bot else user.username.title(),
            "avatar": None,
            "bot": user.bot,
            "public_flags": 0,
        }

    def member(self, user: User, guild: Guild, with_user: bool = True) -> Payload:
        member: Payload = {
            "roles": [str(guild.bot_role_id)] if user.bot else [],
            "joined_at": iso(guild.joined_at),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
        }
        if with_user:
            member["user"] = self.user(user)
        return member

    def roles(self, guild: Guild) -> list[Payload]:
        def role(role_id: int, name: str, permissions: int, position: int) -> Payload:
            return {
                "id": str(role_id),
                "name": name,
                "color": 0,
                "hoist": False,
                "position": position,
                "permissions": str(permissions),
                "managed": role_id != guild.id,
                "mentionable": False,
                "flags": 0,
            }

        return [
            role(guild.everyone_role_id, "@everyone", EVERYONE_PERMISSIONS, 0),
            role(guild.bot_role_id, self.world.bot.username, BOT_PERMISSIONS, 1),
        ]

    # -- places ------------------------------------------------------------

    def channel(self, channel: Channel) -> Payload:
        if channel.type == DM:
            assert channel.recipient is not None
            return {
                "id": str(channel.id),
                "type": DM,
                "last_message_id": None,
                "recipients": [self.user(channel.recipient)],
                "flags": 0,
            }
        if channel.is_thread:
            return self.thread(channel)
        return {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def thread(self, thread: Channel, newly_created: bool = False) -> Payload:
        payload: Payload = {
            "id": str(thread.id),
            "type": thread.type,
            "guild_id": str(thread.guild_id),
            "parent_id": str(thread.parent_id),
            "owner_id": str(thread.owner_id),
            "name": thread.name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": thread.message_count,
            "member_count": len(thread.member_ids),
            "total_message_sent": thread.message_count,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": thread.auto_archive_duration,
                "archive_timestamp": iso(thread.created_at),
                "locked": False,
                "create_timestamp": iso(thread.created_at),
            },
        }
        if self.world.bot.id in thread.member_ids:
            payload["member"] = {
                "id": str(thread.id),
                "user_id": str(self.world.bot.id),
                "join_timestamp": iso(thread.created_at),
                "flags": 0,
            }
        if newly_created:
            payload["newly_created"] = True
        return payload

    def guild_create(self, guild: Guild) -> Payload:
        channels = [self.world.channels[i] for i in guild.channel_ids]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "owner_id": str(guild.owner_id),
            "unavailable": False,
            "joined_at": iso(guild.joined_at),
            "large": False,
            "member_count": 1 + len(self.world.humans),
            "features": [],
            "preferred_locale": "en-US",
            "roles": self.roles(guild),
            "emojis": [],
            "stickers": [],
            "members": [self.member(self.world.bot, guild)],
            "channels": [self.channel(c) for c in channels if not c.is_thread],
            "threads": [self.thread(c) for c in channels if c.is_thread],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "premium_tier": 0,
            "system_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "afk_timeout": 300,
        }

    # -- messages ----------------------------------------------------------

    def attachment(self, attachment: Attachment) -> Payload:
        url = self.signer.url(attachment)
        payload: Payload = {
            "id": str(attachment.id),
            "filename": attachment.filename,
            "size": attachment.size,
            "url": url,
            "proxy_url": url,
            "content_type": attachment.content_type,
        }
        if attachment.description:
            payload["description"] = attachment.description
        return payload

    def message(self, message: Message, gateway: bool = False, depth: int = 0) -> Payload:
        """A message; `gateway` adds guild_id/member as MESSAGE_CREATE carries them."""
        guild = self.world.guilds.get(message.guild_id or 0)
        payload: Payload = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": self.user(message.author),
            "content": message.content,
            "timestamp": iso(message.created_at),
            "edited_timestamp": iso(message.edited_at),
            "tts": False,
            "mention_everyone": message.mention_everyone,
            "mentions": [self._mention(u, guild) for u in message.mentions],
            "mention_roles": [],
            "attachments": [self.attachment(a) for a in message.attachments],
            "embeds": message.embeds,
            "components": message.components,
            "pinned": False,
            "type": message.type,
            "flags": message.flags,
        }
        if message.reactions:
            payload["reactions"] = [
                {"emoji": {"id": None, "name": e}, "count": 1, "me": True}
                for e in message.reactions
            ]
        if message.webhook_id is not None:
            payload["webhook_id"] = str(message.webhook_id)
            payload["application_id"] = str(self.world.application_id)
        if message.interaction_id is not None:
            payload["interaction_metadata"] = self._interaction_metadata(message.interaction_id)
        if message.reference_id is not None:
            self._reference(payload, message, depth)
        if message.thread_id is not None and message.thread_id in self.world.channels:
            payload["thread"] = self.thread(self.world.channels[message.thread_id])
        if gateway and guild is not None:
            payload["guild_id"] = str(guild.id)
            if not message.author.bot or message.webhook_id is None:
                payload["member"] = self.member(message.author, guild, with_user=False)
        return payload

    def _mention(self, user: User, guild: Guild | None) -> Payload:
        payload = self.user(user)
        if guild is not None:
            payload["member"] = self.member(user, guild, with_user=False)
        return payload

    def _reference(self, payload: Payload, message: Message, depth: int) -> None:
        referenced = self.world.messages.get(message.reference_id or 0)
        payload["message_reference"] = {
            "type": 0,
            "message_id": str(message.reference_id),
            "channel_id": str(referenced.channel_id if referenced else message.channel_id),
        }
        if message.guild_id is not None:
            payload["message_reference"]["guild_id"] = str(message.guild_id)
        if depth == 0:
            alive = referenced is not None and not referenced.deleted
            payload["referenced_message"] = (
                self.message(referenced, depth=1) if alive and referenced else None
            )

    def _interaction_metadata(self, interaction_id: int) -> Payload:
        interaction = self.world.interactions[interaction_id]
        owners = (
            {"0": str(interaction.guild_id)}
            if interaction.guild_id
            else {"1": str(interaction.user.id)}
        )
        metadata: Payload = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": self.user(interaction.user),
            "authorizing_integration_owners": owners,
        }
        if interaction.original_message_id is not None:
            metadata["original_response_message_id"] = str(interaction.original_message_id)
        if interaction.type == 3 and interaction.message_id is not None:
            metadata["interacted_message_id"] = str(interaction.message_id)
        return metadata

    # -- interactions and commands ----------------------------------------

    def interaction(self, interaction: Interaction) -> Payload:
        channel = self.world.channels[interaction.channel_id]
        channel_payload = self.channel(channel)
        channel_payload["permissions"] = str(EVERYONE_PERMISSIONS)
        payload: Payload = {
            "id": str(interaction.id),
            "application_id": str(self.world.application_id),
            "type": interaction.type,
            "data": interaction.data,
            "channel_id": str(channel.id),
            "channel": channel_payload,
            "token": interaction.token,
            "version": 1,
            "app_permissions": str(BOT_PERMISSIONS),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": self.world.config.upload_limit,
        }
        guild = self.world.guilds.get(interaction.guild_id or 0)
        if guild is not None:
            member = self.member(interaction.user, guild)
            member["permissions"] = str(EVERYONE_PERMISSIONS)
            payload |= {
                "guild_id": str(guild.id),
                "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
                "guild_locale": "en-US",
                "member": member,
                "authorizing_integration_owners": {"0": str(guild.id)},
                "context": 0,
            }
        else:
            payload |= {
                "user": self.user(interaction.user),
                "authorizing_integration_owners": {"1": str(interaction.user.id)},
                "context": 1,
            }
        if interaction.message_id is not None:
            payload["message"] = self.message(self.world.messages[interaction.message_id])
        return payload

    def command(self, command: Command) -> Payload:
        payload = dict(command.raw)
        payload |= {
            "id": str(command.id),
            "application_id": str(command.application_id),
            "version": str(command.id),
            "type": command.type,
            "default_member_permissions": command.raw.get("default_member_permissions"),
        }
        if command.guild_id is not None:
            payload["guild_id"] = str(command.guild_id)
        return payload

    def callback_response(self, interaction: Interaction, message: Message | None) -> Payload:
        """The body of a callback with ?with_response=true (InteractionCallbackResponse)."""
        summary: Payload = {"id": str(interaction.id), "type": interaction.type}
        if message is not None:
            summary |= {
                "response_message_id": str(message.id),
                "response_message_loading": bool(message.flags & LOADING),
                "response_message_ephemeral": bool(message.flags & 64),
            }
        body: Payload = {"interaction": summary}
        if message is not None:
            body["resource"] = {"type": interaction.response_type, "message": self.message(message)}
        return body

    # -- identity ----------------------------------------------------------

    def bot_user(self) -> Payload:
        return self.user(self.world.bot) | {
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
            "locale": "en-US",
        }

    def application(self) -> Payload:
        owner = self.world.humans[0] if self.world.humans else self.world.bot
        return {
            "id": str(self.world.application_id),
            "name": self.world.bot.username,
            "icon": None,
            "description": "",
            "summary": "",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.user(self.world.bot),
            "owner": self.user(owner),
            "team": None,
            "verify_key": "0" * 64,
            "flags": GATEWAY_MESSAGE_CONTENT,
            "interactions_endpoint_url": None,
        }
