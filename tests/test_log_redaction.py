"""Issue 22, 5: the one redactor (bot/redact.py) hides secrets in log tracebacks too."""

from __future__ import annotations

import io
import logging

import pytest

from bot.logs import JsonFormatter, RedactSecrets
from bot.redact import Redactor

SECRET = "sk-planted-for-this-test-only"


@pytest.mark.parametrize("formatter", [logging.Formatter(), JsonFormatter()])
def test_a_traceback_that_quotes_a_secret_is_redacted(formatter: logging.Formatter) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets(Redactor([SECRET])))
    logger = logging.getLogger("tests.log_redaction")
    logger.addHandler(handler)
    logger.propagate = False  # the leak scan would see the planted secret otherwise
    try:
        try:
            raise RuntimeError(f"the server said: bad key {SECRET}")
        except RuntimeError:
            logger.exception("call failed for %s", SECRET)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = out.getvalue()
    assert "RuntimeError" in text
    assert SECRET not in text
    assert text.count("[redacted]") == 2


def test_the_longest_secret_is_hidden_whole() -> None:
    redact = Redactor(["abcdef", "abcdef-longer", None, "short"])
    assert redact("x abcdef-longer y abcdef short") == "x [redacted] y [redacted] short"
