"""The documents say what the code does: generated parts are up to date, and the
facts a newcomer copies (commands, variables, names) are the code's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import settings_doc

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = "python -m bot.settings_doc > docs/settings.md"


def test_docs_settings_md_is_the_generators_output() -> None:
    written = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert written == settings_doc.render(), f"docs/settings.md is out of date: run `{REGENERATE}`"


def test_every_setting_has_a_description() -> None:
    assert settings_doc.undocumented() == []


def test_a_setting_without_a_description_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    descriptions = dict(settings_doc.DESCRIPTIONS)
    del descriptions["UPSTREAM__TIMEOUT_IDLE"]
    descriptions["UPSTREAM__TIMEOUT_IDEL"] = "a misspelt setting"
    monkeypatch.setattr(settings_doc, "DESCRIPTIONS", descriptions)
    assert settings_doc.undocumented() == [
        "UPSTREAM__TIMEOUT_IDLE",
        "UPSTREAM__TIMEOUT_IDEL (no such setting)",
    ]


def test_every_setting_and_its_documented_name_is_in_the_reference() -> None:
    text = settings_doc.render()
    for _, variable, _ in settings_doc.variables():
        assert f"`{variable}`" in text
    for flat in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DISCORD_TOKEN", "SLACK_BOT_TOKEN"):
        assert f"`{flat}` or `" in text
