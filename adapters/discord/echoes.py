"""The gateway's echoes of the bot's own edits, dropped before discord.py decodes them.

Discord sends MESSAGE_UPDATE for every edit, the bot's own included, so a
streamed answer's edits (about eight for a six-second answer) come back as as
many events. discord.py turns each into a full ``Message``, a raw event and a
task per listener, only for ``MessageEvents`` to discard it (the author is the
bot). That was a tenth of the process's CPU under load (bench/e2e.py). Nothing
threadline does reads the bot's own messages from discord.py's cache, and
its buttons are dynamic items, found by custom id, not by message.

``ConnectionState.parsers`` is the table the gateway looks events up in (one
dict, shared with every websocket the client opens); the hook replaces one entry.
"""

from __future__ import annotations

from typing import Any

from discord.state import ConnectionState


def drop_own_edits(state: ConnectionState) -> None:
    """Make ``state`` ignore MESSAGE_UPDATE events for messages the bot wrote; once per client."""
    parse = state.parsers["MESSAGE_UPDATE"]

    def parse_unless_own(data: Any) -> None:
        author = data.get("author")
        if (
            author is not None
            and state.self_id is not None
            and author.get("id") == str(state.self_id)
        ):
            return
        parse(data)

    state.parsers["MESSAGE_UPDATE"] = parse_unless_own
