"""Import discord.py once, without its import-time DeprecationWarning.

discord/player.py does `import audioop`, which Python 3.11-3.12 flag as
deprecated; under pytest's `filterwarnings = ["error"]` that warning would fail
collection. Only that one warning is ignored, only during this import.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="'audioop' is deprecated", category=DeprecationWarning
    )
    import discord
    import discord.gateway
    import discord.http

__all__ = ["discord"]
