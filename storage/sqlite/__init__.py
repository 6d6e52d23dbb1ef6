"""``ConversationStore`` on one SQLite file (aiosqlite, WAL): ``SqliteStore``.

One job per module: ``opening`` (connect, pragmas, migrations, file errors),
``connection`` (the lock, transactions, conversation ids), ``turns`` (turn SQL),
``conversations`` (settings, reset, history, usage), ``recovery`` (what a start
takes over), ``buckets`` (rate buckets), ``installations`` (Slack installs),
``window`` and ``cache`` (the history cache); ``store`` assembles them.
"""

from storage.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
