"""The value types every section uses: ranges, and values that lose stray quotes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr

from bot.setting_names import unquote

# Values that cannot mean a quote, a space or a comment (URLs, keys, tokens): Docker's
# --env-file passes `OPENAI_API_KEY="sk-xxx"` with its quotes, so they are taken off here.
Url = Annotated[str, BeforeValidator(unquote)]
Secret = Annotated[SecretStr, BeforeValidator(unquote)]
Seconds = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=1)]
Bytes = Annotated[int, Field(ge=1)]
