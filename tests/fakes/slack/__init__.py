"""A loopback Slack: Web API, Socket Mode and Events API over HTTP on 127.0.0.1.

The real ``slack_sdk`` and ``slack_bolt`` talk to it; it enforces Slack's limits
(limits.py) and records everything for assertions. Start with :class:`SlackFake`.
"""

from .events import AckRecord, Attempt, Delivery
from .limits import RateLimit, SlackLimits
from .payloads import PayloadFactory
from .server import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, SlackFake
from .state import MessageView, Workspace
from .web_api import RequestRecord

__all__ = [
    "APP_TOKEN",
    "BOT_TOKEN",
    "SIGNING_SECRET",
    "AckRecord",
    "Attempt",
    "Delivery",
    "MessageView",
    "PayloadFactory",
    "RateLimit",
    "RequestRecord",
    "SlackFake",
    "SlackLimits",
    "Workspace",
]
