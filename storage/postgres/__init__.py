"""PostgreSQL storage: ``PostgresStore`` (history, buckets, installs) for several workers."""

from storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
