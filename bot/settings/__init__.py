"""Configuration: one typed ``Settings`` built in ``main`` and passed down.

Nested sections are set as ``SECTION__FIELD`` (``UPSTREAM__TIMEOUT_CONNECT=5``).
The platforms' and the API's standard variable names are honoured as they are
documented: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` (the API docs' ``.env``),
``DISCORD_TOKEN``, ``SLACK_BOT_TOKEN``, ``SLACK_APP_TOKEN``, ``SLACK_SIGNING_SECRET``
(Bolt's names), and ``DISCORD_API_BASE_URL``, ``DISCORD_GATEWAY_URL``,
``SLACK_API_BASE_URL`` for the platforms' endpoints. Both forms work from the
environment and from ``.env``. Every field has a range; ``load_settings`` turns
a wrong name or value into one sentence naming the variable (bot/setting_names.py).
"""

from bot.settings.images import ImageSettings
from bot.settings.limits import ConversationLimits, QuotaSettings
from bot.settings.operations import LoggingSettings, OpsSettings, StorageSettings
from bot.settings.platforms import BOT_SCOPES, DiscordSettings, SlackSettings
from bot.settings.root import Settings, load_settings
from bot.settings.upstream import ModelSpec, UpstreamSettings

__all__ = [
    "BOT_SCOPES",
    "ConversationLimits",
    "DiscordSettings",
    "ImageSettings",
    "LoggingSettings",
    "ModelSpec",
    "OpsSettings",
    "QuotaSettings",
    "Settings",
    "SlackSettings",
    "StorageSettings",
    "UpstreamSettings",
    "load_settings",
]
