"""Loopback ports for the servers the tests and benchmarks start."""

from __future__ import annotations

import asyncio
import socket


def free_port() -> int:
    """A TCP port nothing listens on now (another process may take it first: retry)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def listening(port: int, timeout: float = 60.0) -> None:
    """Until a server on ``port`` takes connections (TimeoutError after ``timeout``)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            return
