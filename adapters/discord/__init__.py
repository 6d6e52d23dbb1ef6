"""threadline on Discord (discord.py): mentions, threads, DMs, slash commands and buttons.

``DiscordBot`` is the only entry point; ``bot.cli`` wires it. Modules:
translate (pure decisions and domain types), files (attachments in),
target (where an answer is written), views (Stop, Regenerate), answers
(answers as tracked tasks), listeners (message events), commands (slash
commands), endpoints (pointing discord.py elsewhere), client (the bot).
"""

from adapters.discord.client import DiscordBot

__all__ = ["DiscordBot"]
