"""The terminal front end: ``threadline chat`` and ``threadline ask``."""

from adapters.console.terminal import ConsoleSink, chat_loop, console_incoming, console_key

__all__ = ["ConsoleSink", "chat_loop", "console_incoming", "console_key"]
