"""The documents say what the code does: generated parts are up to date, and the
facts a newcomer copies (commands, variables, names) are the code's own."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot import settings_doc
from bot.settings import load_settings

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


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def test_the_readme_fits_a_page_and_opens_with_the_two_commands() -> None:
    readme = read("README.md")
    assert len(readme.splitlines()) < 150
    install, test = code_blocks(readme)[:2]
    assert install == (
        "python3 -m venv .venv && . .venv/bin/activate && pip install . && threadline run\n"
    )
    assert test == (
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' && pytest\n"
    )
    assert test in read(".ci/run")  # CI runs the second, word for word
    before = readme[: readme.index("```sh")]
    assert len(before.splitlines()) <= 8  # a title and a few lines, then the commands
    assert ">=3.11" in readme
    assert '>=3.11"' in read("pyproject.toml")


DOCUMENTS = [
    "README.md",
    "bench/README.md",
    *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")),
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_relative_link_points_at_a_file(document: str) -> None:
    text = read(document)
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    relative = [link for link in links if "://" not in link]
    folder = (ROOT / document).parent
    missing = [link for link in relative if not (folder / link).exists()]
    assert missing == []


def slack_manifest_commands() -> list[tuple[str, str]]:
    manifest = json.loads(read("adapters/slack/manifest.json"))
    return [
        (" ".join(filter(None, [c["command"], c.get("usage_hint")])), c["description"])
        for c in manifest["features"]["slash_commands"]
    ]


def test_the_slack_guide_describes_the_commands_as_the_manifest_does() -> None:
    guide = read("docs/slack.md")
    section = guide[guide.index("## Slash commands") :]
    rows = re.findall(r"^\| `(/[^`]*)` \| ([^|]*?) \|", section, re.MULTILINE)
    assert rows == slack_manifest_commands()


def test_the_platform_guides_say_what_newcomers_look_for() -> None:
    discord = read("docs/discord.md")
    assert "Developer Portal → your app → General Information → Application ID" in discord
    assert "/invite @threadline" in read("docs/slack.md")
    manifest = json.loads(read("adapters/slack/manifest.json"))
    assert manifest["features"]["bot_user"]["display_name"] == "threadline"


async def printed_env(module: str, lines: int) -> str:
    """What ``python -m <module> --port 0`` prints before it serves (then it is stopped)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "--port", "0", cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        return "".join(
            [(await asyncio.wait_for(process.stdout.readline(), 30)).decode() for _ in range(lines)]
        )
    finally:
        process.terminate()
        await process.wait()


async def test_the_fakes_print_an_env_file_threadline_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's no-account recipe: the fakes' output, as it is, configures threadline."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    upstream = await printed_env("tests.fakes.upstream", 2)
    slack = await printed_env("tests.fakes.slack", 5)
    env_file = tmp_path / "fake.env"
    env_file.write_text(upstream + slack, encoding="utf-8")
    printed = dict(
        line.split("=", 1) for line in (upstream + slack).splitlines() if not line.startswith("#")
    )
    settings = load_settings(env_file=str(env_file))
    assert settings.upstream.base_url == printed["OPENAI_BASE_URL"]
    assert settings.upstream.api_key == SecretStr(printed["OPENAI_API_KEY"])
    assert settings.slack.api_url == printed["SLACK__API_URL"]
    assert settings.slack.bot_token == SecretStr(printed["SLACK_BOT_TOKEN"])
    assert settings.slack.app_token == SecretStr(printed["SLACK_APP_TOKEN"])
