"""Conversation storage: ``SqliteStore`` for the service, ``MemoryStore`` for tests.

Both implement ``bot.ports.ConversationStore``; nothing is opened at import.
"""

from storage.images import ImageStore
from storage.memory import MemoryStore
from storage.sqlite import SqliteStore

__all__ = ["ImageStore", "MemoryStore", "SqliteStore"]
