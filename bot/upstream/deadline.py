"""The first token's deadline, one budget over every try and every wait between them.

``UPSTREAM__TIMEOUT_FIRST_TOKEN`` bounds what the user waits for the first text,
however many tries the retry policy makes (bot/upstream/client.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Deadline:
    """The time left for the first token, over every try and every wait between them.

    Tries are measured on the event loop's clock (they wait on real sockets); waits
    between tries are counted as the ``Clock`` slept them (``spend``).
    """

    __slots__ = ("_left",)

    def __init__(self, seconds: float) -> None:
        self._left = seconds

    def left(self) -> float:
        return max(self._left, 0.0)

    def spend(self, seconds: float) -> None:
        self._left -= seconds

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            yield
        finally:
            self.spend(loop.time() - started)
